#include "careloop/protocols/engine.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "careloop/core/time.hpp"

namespace careloop::protocols {
namespace {

using nlohmann::json;
using Facts = std::array<double, max_facts>;

bool is_nan(double v) { return std::isnan(v); }

std::vector<FactValue> values_of(const Condition& c, const Facts& f) {
  std::vector<FactValue> out;
  out.reserve(c.facts_used().size());
  for (FactId id : c.facts_used()) out.push_back({id, f[id]});
  return out;
}

std::int64_t evidence_key(const Condition& c, const Snapshot& s) {
  std::int64_t k = 0;
  for (std::size_t d = 1; d < domain_count; ++d)
    if (c.domains() & (1u << d)) k += s.evidence[d];
  return k;
}

bool owns(const Protocol& p, TargetKey k) {
  switch (k) {
    case TargetKey::bp_office_systolic_lt:
    case TargetKey::bp_office_diastolic_lt:
    case TargetKey::bp_home_systolic_lt:
    case TargetKey::bp_home_diastolic_lt: return p.programme == "hypertension";
    default: return p.programme == "diabetes";
  }
}

bool owns_measure(const Protocol& p, std::string_view measure) {
  return measure == "blood_pressure" ? p.programme == "hypertension" : p.programme == "diabetes";
}

// Greedy match of a regimen against the patient's drugs of the ladder's classes.
bool matches(const Regimen& option, const std::vector<const CurrentDrug*>& drugs) {
  if (option.size() != drugs.size()) return false;
  std::vector<bool> used(drugs.size(), false);
  for (const auto& comp : option) {
    bool found = false;
    for (std::size_t i = 0; i < drugs.size() && !found; ++i) {
      if (used[i]) continue;
      const CurrentDrug& d = *drugs[i];
      if (std::find(comp.classes.begin(), comp.classes.end(), d.drug_class) == comp.classes.end()) continue;
      if (!comp.drug.empty() && comp.drug != d.name) continue;
      if (comp.dose_mg && (!d.dose_mg || std::fabs(*comp.dose_mg - *d.dose_mg) > 1e-6)) continue;
      used[i] = found = true;
    }
    if (!found) return false;
  }
  return true;
}

struct LadderState {
  const LadderStep* current = nullptr;
  std::vector<const CurrentDrug*> drugs;  // the patient's drugs of the ladder's classes
};

LadderState ladder_state(const Ladder& l, const Snapshot& s) {
  LadderState st;
  for (const auto& d : s.drugs)
    if (std::find(l.classes.begin(), l.classes.end(), d.drug_class) != l.classes.end()) st.drugs.push_back(&d);
  for (auto it = l.steps.rbegin(); it != l.steps.rend(); ++it) {
    if (it->action != StepAction::regimen) continue;
    for (const auto& o : it->options)
      if (matches(o, st.drugs)) {
        st.current = &*it;
        return st;
      }
  }
  return st;
}

struct Prepared {
  Facts facts;
  std::vector<const Protocol*> applicable;
  std::vector<PlanTarget> targets;
  std::vector<Fired> target_rationale;
  std::vector<LadderState> ladders;  // parallel to applicable
};

// Days at the current step: since the newest start or change among the
// patient's drugs of this ladder (another programme's change does not count).
void set_ladder_facts(Facts& f, const LadderState& ls, const Snapshot& s) {
  const auto& ef = engine_facts();
  f[ef.ladder_current_step] = ls.current ? ls.current->number : std::nan("");
  std::optional<std::int64_t> since;
  for (const auto* d : ls.drugs) since = since ? std::max(*since, d->since_day) : d->since_day;
  f[ef.ladder_days_at_step] = since ? static_cast<double>(s.today - *since) : std::nan("");
}

Prepared prepare(const Snapshot& s, const ProtocolSet& set, bool with_rationale) {
  Prepared p;
  p.facts = s.values;
  for (const Protocol* pr : set.protocols())
    if (pr->applicability.eval(s, p.facts.data())) p.applicable.push_back(pr);
  const auto& ef = engine_facts();
  for (std::size_t k = 0; k < target_count; ++k) {
    const auto key = static_cast<TargetKey>(k);
    bool done = false;
    for (int pass = 0; pass < 2 && !done; ++pass)
      for (const Protocol* pr : p.applicable) {
        if (done) break;
        if ((pass == 0) != owns(*pr, key)) continue;
        for (const auto& g : pr->targets) {
          if (is_nan(g.values[k]) || !g.when.eval(s, p.facts.data())) continue;
          p.facts[ef.target_first + k] = g.values[k];
          p.targets.push_back({key, g.values[k], pr->id, g.id, &g.label});
          if (with_rationale) {
            const bool seen = std::any_of(p.target_rationale.begin(), p.target_rationale.end(),
                                          [&](const Fired& f) { return f.rule_id == g.id && f.protocol_id == pr->id; });
            if (!seen) p.target_rationale.push_back({pr->id, g.id, "target", values_of(g.when, p.facts)});
          }
          done = true;
          break;
        }
      }
  }
  for (const Protocol* pr : p.applicable)
    p.ladders.push_back(pr->ladder ? ladder_state(*pr->ladder, s) : LadderState{});
  return p;
}

std::string fmt_days(double d) { return std::to_string(static_cast<long long>(std::floor(d))); }

MedicationSuggestion suggest(const Protocol& pr, const Ladder& l, const LadderState& ls, const Snapshot& s, const Facts& f,
                             std::vector<Fired>& rationale) {
  MedicationSuggestion m;
  m.protocol_id = pr.id;
  m.ladder_id = l.id;
  m.current = ls.current;
  m.suggested = ls.current;
  std::vector<std::string_view> forbidden;
  for (const auto& c : l.cautions)
    if (c.when.eval(s, f.data())) {
      m.cautions.push_back(&c);
      forbidden.insert(forbidden.end(), c.forbid_classes.begin(), c.forbid_classes.end());
      rationale.push_back({pr.id, c.id, "caution", values_of(c.when, f)});
    }
  auto is_forbidden = [&](std::string_view cls) { return std::find(forbidden.begin(), forbidden.end(), cls) != forbidden.end(); };
  auto component_ok = [&](const RegimenComponent& c) {
    return std::any_of(c.classes.begin(), c.classes.end(), [&](const std::string& x) { return !is_forbidden(x); });
  };
  auto option_ok = [&](const Regimen& o) { return std::all_of(o.begin(), o.end(), component_ok); };
  auto allowed_options = [&](const LadderStep& st) {
    std::vector<const Regimen*> out;
    for (const auto& o : st.options)
      if (option_ok(o)) out.push_back(&o);
    return out;
  };
  // Drugs the patient takes that a caution forbids, inside or outside this ladder.
  std::string stop_list;
  bool stop_in_ladder = false;
  for (const auto& d : s.drugs)
    if (!d.drug_class.empty() && is_forbidden(d.drug_class)) {
      stop_list += (stop_list.empty() ? "" : ", ") + d.name + " (" + d.drug_class + ")";
      stop_in_ladder = stop_in_ladder || std::find(l.classes.begin(), l.classes.end(), d.drug_class) != l.classes.end();
    }
  std::string caution_names;
  for (const auto* c : m.cautions) caution_names += (caution_names.empty() ? "" : ", ") + c->id;
  const std::string stop_note = stop_list.empty() ? "" : "Stop " + stop_list + ": forbidden by caution " + caution_names + ". ";

  for (const auto& a : l.add_ons)
    if (a.when.eval(s, f.data())) {
      const bool any_ok = std::any_of(a.options.begin(), a.options.end(), option_ok);
      if (any_ok) m.add_ons.push_back(&a);
      rationale.push_back({pr.id, a.id, "add_on", values_of(a.when, f)});
    }

  if (!ls.current) {
    m.action = MedicationAction::off_ladder;
    m.reason = stop_note + "The current medicines are not a regimen of ladder '" + l.id + "': the doctor reviews them.";
    return m;
  }
  if (stop_in_ladder) {
    const LadderStep* down = nullptr;
    for (const auto& st : l.steps)
      if (st.action == StepAction::regimen && st.number <= ls.current->number && !allowed_options(st).empty()) down = &st;
    m.action = MedicationAction::step_down;
    m.suggested = down;
    if (down) m.options = allowed_options(*down);
    m.reason = stop_note + (down ? "Highest allowed step: " + down->id + "." : "No step of this ladder is allowed: refer.");
    return m;
  }
  const bool above = l.step_up_when.eval(s, f.data());
  if (above) rationale.push_back({pr.id, l.id, "ladder", values_of(l.step_up_when, f)});
  if (!above) {
    m.action = MedicationAction::no_change;
    m.options = allowed_options(*ls.current);
    m.reason = stop_note + "Not above the step-up threshold: stay at " + ls.current->id + ".";
    return m;
  }
  const LadderStep* target = ls.current->next.empty() ? nullptr : l.find(ls.current->next);
  for (const auto& sk : l.skips)
    if (sk.from_step == ls.current->id && sk.when.eval(s, f.data())) {
      target = l.find(sk.to_step);
      rationale.push_back({pr.id, sk.id, "skip", values_of(sk.when, f)});
      break;
    }
  if (!target) {
    m.action = MedicationAction::no_change;
    m.reason = stop_note + "Above target at the top of ladder '" + l.id + "'.";
    return m;
  }
  const double days = f[engine_facts().ladder_days_at_step];
  const bool on_drugs = !ls.drugs.empty();
  if (on_drugs && !is_nan(days) && days < l.min_days_at_step) {
    m.action = MedicationAction::wait;
    m.reason = stop_note + "Above target, but at " + ls.current->id + " for " + fmt_days(days) + " days; re-check after " +
               std::to_string(l.min_days_at_step) + " days at a step.";
    return m;
  }
  if (target->action == StepAction::check_adherence_then_refer) {
    static const FactId adherence_id = *find_fact("medication.adherence_30d.percent");
    const double adherence = f[adherence_id];
    m.suggested = target;
    if (is_nan(adherence)) {
      m.action = MedicationAction::check_adherence;
      m.reason = stop_note + "Above target at " + ls.current->id + ": check adherence (no doses logged in 30 days), then refer if adherent.";
    } else if (adherence >= target->adherence_at_least_percent) {
      m.action = MedicationAction::refer;
      m.reason = stop_note + "Above target at " + ls.current->id + " with " + fmt_days(adherence) + " % of logged doses taken: refer.";
    } else {
      m.action = MedicationAction::check_adherence;
      m.reason = stop_note + "Above target at " + ls.current->id + " but only " + fmt_days(adherence) +
                 " % of logged doses taken: work on adherence before referring.";
    }
    return m;
  }
  if (target->action == StepAction::refer) {
    m.action = MedicationAction::refer;
    m.suggested = target;
    m.reason = stop_note + "Above target at " + ls.current->id + ": the next step is referral.";
    return m;
  }
  auto options = allowed_options(*target);
  if (options.empty()) {
    m.action = MedicationAction::blocked;
    m.reason = stop_note + "Above target, but step " + target->id + " is forbidden by caution " + caution_names +
               ": no change; the doctor decides (referral).";
    return m;
  }
  m.action = MedicationAction::step_up;
  m.suggested = target;
  m.options = std::move(options);
  m.reason = stop_note + "Above the step-up threshold at " + ls.current->id + ": suggest " + target->id + ".";
  return m;
}

json text_json(const Text* t) {
  if (!t) return nullptr;
  return {{"en", t->en}, {"zh-CN", t->zh}};
}

json fact_json(const FactValue& v) {
  const auto& def = fact_registry()[v.fact];
  json j = {{"fact", def.name}};
  if (is_nan(v.value)) {
    j["value"] = nullptr;
    j["note"] = "no data";
  } else if (def.quantity == Quantity::boolean) {
    j["value"] = v.value != 0;
  } else {
    j["value"] = std::round(v.value * 1000) / 1000;
    if (!canonical_unit(def.quantity).empty()) j["unit"] = canonical_unit(def.quantity);
  }
  return j;
}

json regimen_json(const Regimen& r) {
  json out = json::array();
  for (const auto& c : r) {
    json j = {{"class", c.classes}};
    if (!c.drug.empty()) j["drug"] = c.drug;
    if (c.dose_mg) j["dose_mg"] = *c.dose_mg;
    out.push_back(std::move(j));
  }
  return out;
}

json step_json(const LadderStep* s) {
  if (!s) return nullptr;
  return {{"id", s->id}, {"number", s->number}, {"text", text_json(&s->text)}};
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s(buf);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

}  // namespace

core::Result<ProtocolSet> ProtocolSet::make(std::vector<const Protocol*> protocols) {
  for (std::size_t i = 0; i < protocols.size(); ++i)
    for (std::size_t k = 0; k < i; ++k)
      if (protocols[i]->programme == protocols[k]->programme)
        return core::Error::invalid("protocols " + protocols[k]->id + " and " + protocols[i]->id + " are both for " +
                                    protocols[i]->programme + ": a clinic uses one protocol per programme");
  ProtocolSet s;
  s.protocols_ = std::move(protocols);
  return s;
}

std::string_view to_string(MedicationAction a) noexcept {
  switch (a) {
    case MedicationAction::no_change: return "no_change";
    case MedicationAction::step_up: return "step_up";
    case MedicationAction::step_down: return "step_down";
    case MedicationAction::check_adherence: return "check_adherence";
    case MedicationAction::refer: return "refer";
    case MedicationAction::wait: return "wait";
    case MedicationAction::blocked: return "blocked";
    case MedicationAction::off_ladder: return "off_ladder";
  }
  return "?";
}

std::vector<AlertSignal> evaluate_alerts(const Snapshot& s, const ProtocolSet& set, TierFilter filter) {
  Prepared p = prepare(s, set, false);
  std::vector<AlertSignal> out;
  auto consider = [&](const Protocol& pr, const AlertRule& r) {
    if (!r.when.eval(s, p.facts.data())) return;
    AlertSignal a;
    a.signal = r.signal;
    a.tier = r.tier;
    a.rule_id = r.id;
    a.protocol_id = pr.id;
    a.protocol_version = pr.version;
    a.held = r.has_hold && r.hold_when.eval(s, p.facts.data());
    a.evidence_key = evidence_key(r.when, s);
    a.message = &r.message;
    a.facts = values_of(r.when, p.facts);
    if (a.held)
      for (FactId id : r.hold_when.facts_used()) a.facts.push_back({id, p.facts[id]});
    auto same = std::find_if(out.begin(), out.end(), [&](const AlertSignal& x) { return x.signal == a.signal; });
    if (same == out.end()) {
      out.push_back(std::move(a));
    } else {
      // Higher tier first; at the same tier an unheld signal beats a held one.
      const bool better = (a.tier == Tier::critical && same->tier != Tier::critical) ||
                          (a.tier == same->tier && same->held && !a.held);
      if (better) *same = std::move(a);
    }
  };
  for (std::size_t i = 0; i < p.applicable.size(); ++i) {
    const Protocol& pr = *p.applicable[i];
    set_ladder_facts(p.facts, p.ladders[i], s);
    for (const auto& r : pr.alerts) {
      if (filter == TierFilter::critical && r.tier != Tier::critical) continue;
      if (filter == TierFilter::warning && r.tier != Tier::warning) continue;
      consider(pr, r);
    }
  }
  // A critical reading is an emergency whatever programme the patient is
  // enrolled in (CLINICAL §3: "same day"): a diabetic patient without a
  // hypertension diagnosis who sends 185/122 must reach the doctor too. So
  // the critical rules of the protocols that do not apply run as well, with
  // no medication-ladder facts (they are not the patient's ladder).
  if (filter != TierFilter::warning) {
    const auto& ef = engine_facts();
    p.facts[ef.ladder_current_step] = std::nan("");
    p.facts[ef.ladder_days_at_step] = std::nan("");
    for (const Protocol* pr : set.protocols()) {
      if (std::find(p.applicable.begin(), p.applicable.end(), pr) != p.applicable.end()) continue;
      for (const auto& r : pr->alerts)
        if (r.tier == Tier::critical) consider(*pr, r);
    }
  }
  return out;
}

std::array<double, max_facts> rule_facts(const Snapshot& s, const ProtocolSet& set, const Protocol& pr) {
  Prepared p = prepare(s, set, false);
  const auto it = std::find(p.applicable.begin(), p.applicable.end(), &pr);
  if (it != p.applicable.end()) {
    set_ladder_facts(p.facts, p.ladders[static_cast<std::size_t>(it - p.applicable.begin())], s);
  } else {
    p.facts[engine_facts().ladder_current_step] = std::nan("");
    p.facts[engine_facts().ladder_days_at_step] = std::nan("");
  }
  return p.facts;
}

AlertSettings merged_alert_settings(const ProtocolSet& set) {
  AlertSettings out;
  bool first = true;
  for (const Protocol* p : set.protocols()) {
    if (first) {
      out = p->alert_settings;
      first = false;
      continue;
    }
    for (const auto& [k, v] : p->alert_settings.auto_resolve_by_signal_ms) out.auto_resolve_by_signal_ms.emplace(k, v);
  }
  return out;
}

CarePlan evaluate(const Snapshot& s, const ProtocolSet& set) {
  Prepared p = prepare(s, set, true);
  CarePlan plan;
  plan.generated_at_ms = s.now_ms;
  plan.targets = std::move(p.targets);
  plan.rationale = std::move(p.target_rationale);
  for (const Protocol* pr : p.applicable) plan.protocols.emplace_back(pr->id, pr->version);

  // Monitoring: per measure, the owner's first matching rule, else another's.
  for (std::string_view measure : {"blood_pressure", "glucose", "weight"}) {
    bool done = false;
    for (int pass = 0; pass < 2 && !done; ++pass)
      for (std::size_t i = 0; i < p.applicable.size() && !done; ++i) {
        const Protocol& pr = *p.applicable[i];
        if ((pass == 0) != owns_measure(pr, measure)) continue;
        set_ladder_facts(p.facts, p.ladders[i], s);
        for (const auto& m : pr.monitoring) {
          if (m.measure != measure || !m.when.eval(s, p.facts.data())) continue;
          plan.monitoring.push_back({pr.id, &m});
          plan.rationale.push_back({pr.id, m.id, "monitoring", values_of(m.when, p.facts)});
          done = true;
          break;
        }
      }
  }

  auto consider_follow_up = [&](int within, std::string_view pid, std::string_view rid, const Text* reason) {
    if (!plan.follow_up || within < plan.follow_up->within_days)
      plan.follow_up = PlanFollowUp{within, s.today + within, pid, rid, reason};
  };
  for (std::size_t i = 0; i < p.applicable.size(); ++i) {
    const Protocol& pr = *p.applicable[i];
    set_ladder_facts(p.facts, p.ladders[i], s);
    for (const auto& r : pr.referral)
      if (r.when.eval(s, p.facts.data())) {
        plan.referral.urgency = std::max(plan.referral.urgency, r.urgency);
        plan.referral.reasons.emplace_back(pr.id, &r);
        plan.rationale.push_back({pr.id, r.id, "referral", values_of(r.when, p.facts)});
        consider_follow_up(r.follow_up_within_days, pr.id, r.id, &r.reason);
      }
    for (const auto& r : pr.follow_up)
      if (r.when.eval(s, p.facts.data())) {
        plan.rationale.push_back({pr.id, r.id, "follow_up", values_of(r.when, p.facts)});
        consider_follow_up(r.within_days, pr.id, r.id, &r.reason);
      }
    for (const auto& g : pr.lifestyle) {
      if (!g.when.eval(s, p.facts.data())) continue;
      const bool dup = std::any_of(plan.lifestyle.begin(), plan.lifestyle.end(), [&](const PlanLifestyle& x) { return x.goal->id == g.id; });
      if (dup) continue;
      plan.lifestyle.push_back({pr.id, &g});
      if (!g.when.empty()) plan.rationale.push_back({pr.id, g.id, "lifestyle", values_of(g.when, p.facts)});
    }
    if (pr.ladder) plan.medication.push_back(suggest(pr, *pr.ladder, p.ladders[i], s, p.facts, plan.rationale));
  }
  return plan;
}

json to_json(const std::vector<Fired>& rationale) {
  json out = json::array();
  for (const auto& f : rationale) {
    json facts = json::array();
    for (const auto& v : f.facts) facts.push_back(fact_json(v));
    out.push_back({{"protocol", f.protocol_id}, {"rule", f.rule_id}, {"kind", f.kind}, {"facts", std::move(facts)}});
  }
  return out;
}

json to_json(const CarePlan& plan) {
  json j;
  j["protocols"] = json::array();
  for (const auto& [id, v] : plan.protocols) j["protocols"].push_back({{"id", id}, {"version", v}});
  j["generated_at"] = core::format_iso8601_utc(plan.generated_at_ms);
  j["targets"] = json::array();
  for (const auto& t : plan.targets) {
    json x = {{"target", to_string(t.key)}, {"value", t.value}, {"unit", canonical_unit(quantity_of(t.key))},
              {"protocol", t.protocol_id}, {"group", t.group_id}, {"label", text_json(t.label)}};
    j["targets"].push_back(std::move(x));
  }
  j["monitoring"] = json::array();
  for (const auto& m : plan.monitoring) {
    json x = {{"measure", m.rule->measure}, {"rule", m.rule->id}, {"protocol", m.protocol_id},
              {"days_per_week", m.rule->days_per_week}, {"times_per_day", m.rule->times_per_day},
              {"readings_per_time", m.rule->readings_per_time}, {"text", text_json(&m.rule->text)}};
    if (m.rule->for_days) x["for_days"] = *m.rule->for_days;
    j["monitoring"].push_back(std::move(x));
  }
  if (plan.follow_up)
    j["follow_up"] = {{"within_days", plan.follow_up->within_days}, {"due", core::format_date(plan.follow_up->due_day)},
                      {"rule", plan.follow_up->rule_id}, {"protocol", plan.follow_up->protocol_id},
                      {"reason", text_json(plan.follow_up->reason)}};
  else
    j["follow_up"] = nullptr;
  j["medication"] = json::array();
  for (const auto& m : plan.medication) {
    json options = json::array();
    for (const auto* o : m.options) options.push_back(regimen_json(*o));
    json cautions = json::array();
    for (const auto* c : m.cautions) cautions.push_back({{"id", c->id}, {"message", text_json(&c->message)}});
    json add_ons = json::array();
    for (const auto* a : m.add_ons) {
      json opts = json::array();
      for (const auto& o : a->options) opts.push_back(regimen_json(o));
      add_ons.push_back({{"id", a->id}, {"options", std::move(opts)}, {"text", text_json(&a->text)}});
    }
    j["medication"].push_back({{"protocol", m.protocol_id}, {"ladder", m.ladder_id}, {"current_step", step_json(m.current)},
                               {"suggested_step", step_json(m.suggested)}, {"action", to_string(m.action)},
                               {"options", std::move(options)}, {"cautions", std::move(cautions)},
                               {"add_ons", std::move(add_ons)}, {"reason", m.reason}});
  }
  j["lifestyle"] = json::array();
  for (const auto& l : plan.lifestyle)
    j["lifestyle"].push_back({{"id", l.goal->id}, {"protocol", l.protocol_id}, {"text", text_json(&l.goal->text)}});
  json reasons = json::array();
  for (const auto& [pid, r] : plan.referral.reasons)
    reasons.push_back({{"protocol", pid}, {"rule", r->id}, {"urgency", to_string(r->urgency)}, {"reason", text_json(&r->reason)}});
  j["referral"] = {{"urgency", to_string(plan.referral.urgency)}, {"reasons", std::move(reasons)}};
  j["rationale"] = to_json(plan.rationale);
  return j;
}

json to_json(const AlertSignal& a) {
  json facts = json::array();
  for (const auto& v : a.facts) facts.push_back(fact_json(v));
  return {{"signal", a.signal},     {"tier", to_string(a.tier)}, {"rule", a.rule_id},
          {"protocol", a.protocol_id}, {"protocol_version", a.protocol_version}, {"held", a.held},
          {"message", text_json(a.message)}, {"facts", std::move(facts)}};
}

std::string render_for_patient(const CarePlan& plan, Language lang) { return render_for_patient(to_json(plan), lang); }

// From the stored JSON, so a plan the doctor edited reads the same way.
std::string render_for_patient(const json& plan, Language lang) {
  const bool zh = lang == Language::zh_cn;
  const char* key = zh ? "zh-CN" : "en";
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  auto text_of = [&](const json& t) -> std::string {
    return t.is_object() && t.contains(key) && t[key].is_string() ? t[key].get<std::string>() : std::string();
  };
  auto value_of = [&](TargetKey k) -> std::optional<double> {
    if (!plan.contains("targets") || !plan["targets"].is_array()) return std::nullopt;
    for (const auto& t : plan["targets"])
      if (t.is_object() && t.value("target", std::string()) == to_string(k) && t.contains("value") && t["value"].is_number())
        return t["value"].get<double>();
    return std::nullopt;
  };
  auto items = [&](const char* name) {
    return plan.contains(name) && plan[name].is_array() ? plan[name] : json::array();
  };
  line(zh ? "您的健康管理计划" : "Your care plan");
  const auto hs = value_of(TargetKey::bp_home_systolic_lt), hd = value_of(TargetKey::bp_home_diastolic_lt);
  if (hs && hd)
    line(zh ? "家庭血压目标：低于 " + number(*hs) + "/" + number(*hd) + " mmHg"
            : "Home blood pressure target: below " + number(*hs) + "/" + number(*hd) + " mmHg");
  const auto flo = value_of(TargetKey::glucose_fasting_gte), fhi = value_of(TargetKey::glucose_fasting_lt);
  if (flo && fhi)
    line(zh ? "空腹血糖目标：" + number(*flo) + "–" + number(*fhi) + " mmol/L"
            : "Fasting glucose target: " + number(*flo) + "–" + number(*fhi) + " mmol/L");
  if (auto nf = value_of(TargetKey::glucose_nonfasting_lt))
    line(zh ? "非空腹血糖目标：低于 " + number(*nf) + " mmol/L" : "Non-fasting glucose target: below " + number(*nf) + " mmol/L");
  if (auto a1c = value_of(TargetKey::hba1c_lt))
    line(zh ? "糖化血红蛋白目标：低于 " + number(*a1c) + "%" : "HbA1c target: below " + number(*a1c) + " %");
  if (auto bmi = value_of(TargetKey::bmi_lt))
    line(zh ? "体重指数目标：低于 " + number(*bmi) + " kg/m²" : "Body-mass index target: below " + number(*bmi) + " kg/m²");
  for (const auto& m : items("monitoring"))
    if (m.is_object()) line((zh ? "自测：" : "Measure: ") + text_of(m.value("text", json())));
  if (plan.contains("follow_up") && plan["follow_up"].is_object()) {
    const auto& f = plan["follow_up"];
    const std::string due = f.value("due", std::string());
    const std::string why = text_of(f.value("reason", json()));
    line(zh ? "下次随访：" + due + " 之前（" + why + "）" : "Next visit: by " + due + " (" + why + ")");
  }
  for (const auto& m : items("medication")) {
    if (!m.is_object() || m.value("action", std::string()) == to_string(MedicationAction::off_ladder)) continue;
    const json step = m.value("suggested_step", json());
    if (step.is_object()) line((zh ? "用药：" : "Medicines: ") + text_of(step.value("text", json())));
  }
  const std::string urgency =
      plan.contains("referral") && plan["referral"].is_object() ? plan["referral"].value("urgency", std::string()) : "";
  if (urgency == to_string(Urgency::urgent))
    line(zh ? "请尽快到上级医院就诊。" : "Please go to the hospital your doctor names as soon as possible.");
  else if (urgency == to_string(Urgency::routine))
    line(zh ? "医生将为您安排转诊至专科。" : "Your doctor will refer you to a specialist.");
  for (const auto& l : items("lifestyle"))
    if (l.is_object()) line((zh ? "生活方式：" : "Lifestyle: ") + text_of(l.value("text", json())));
  return out;
}

}  // namespace careloop::protocols
