#include "threshold_coverage.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

namespace careloop::protocols::test {
namespace {

using nlohmann::json;

// Leaves that cannot take both values where the engine evaluates them, each
// with the reason. Keep it short: everything else needs a scenario.
struct Allowance {
  const char* protocol;
  const char* pointer;
  const char* reason;
};
constexpr Allowance allow_list[] = {
    // The referral rules of a hypertension protocol run only when it applies,
    // i.e. when dx.hypertension is true; the leaf restates the criterion's
    // wording ("hypertension in pregnancy") and is constant there.
    {"cn-hypertension-primary-2020", "/referral/3/when/all/1", "dx.hypertension is the protocol's applicability"},
    {"who-hearts-hypertension-2021", "/referral/3/when/all/1", "dx.hypertension is the protocol's applicability"},
    // A skip is read only when the ladder's step_up_when holds (engine.cpp
    // suggest()), and that requires bp.count_7d >= 3 as this leaf does.
    {"cn-hypertension-primary-2020", "/medication_ladder/skips/0/when/all/0", "step_up_when already requires bp.count_7d >= 3"},
};

bool is_condition_key(const std::string& k) {
  return k == "applicability" || k == "when" || k == "hold_when" || k == "step_up_when";
}

std::size_t count_conditions(const json& j) {
  std::size_t n = 0;
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) n += is_condition_key(k) ? 1 : count_conditions(v);
  } else if (j.is_array()) {
    for (const auto& v : j) n += count_conditions(v);
  }
  return n;
}

// The resolution of a value as a device or the record gives it: a reading of
// 179 mmHg is "just below" 180, 16.6 mmol/L just below 16.7 (a mg/dL value
// converts to within 0.06 of a tenth), an age of 79 just below 80.
double step(Quantity q) {
  switch (q) {
    case Quantity::glucose: return 0.12;
    case Quantity::mass:
    case Quantity::hba1c:
    case Quantity::bmi: return 0.1;
    case Quantity::pressure_slope: return 0.5;
    case Quantity::percent: return 5;  // adherence over a handful of logged doses
    default: return 1;
  }
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

namespace {
// The compared value and its threshold, e.g. "179 vs 180" or a mean "134.5 vs 135" (a target).
std::string nearest(const auto& n) {
  if (!n.have) return "none";
  return fmt(n.value) + " vs " + fmt(n.threshold);
}
}  // namespace

ThresholdCoverage::ThresholdCoverage(const std::vector<Protocol>& library, const std::string& dir, std::vector<std::string>& errors) {
  for (const Protocol& p : library) {
    std::ifstream in(dir + "/" + p.file);
    const json f = json::parse(in);
    const std::size_t before = rules_.size();
    add_rule(p, f, "applicability", "/applicability", Context::applicability, &p.applicability, errors);
    const auto& groups = f["parameters"]["target_groups"];
    for (std::size_t i = 0; i < groups.size(); ++i)
      if (groups[i].contains("when"))
        add_rule(p, f, p.targets[i].id, "/parameters/target_groups/" + std::to_string(i) + "/when", Context::target,
                 &p.targets[i].when, errors);
    for (std::size_t i = 0; i < p.alerts.size(); ++i) {
      const AlertRule& a = p.alerts[i];
      const std::string ptr = "/alert_rules/" + std::to_string(i);
      add_rule(p, f, a.id, ptr + "/when", a.tier == Tier::critical ? Context::critical : Context::warning, &a.when, errors);
      if (a.has_hold) {
        add_rule(p, f, a.id, ptr + "/hold_when", Context::hold, &a.hold_when, errors);
        rules_.back().gate = &a.when;
      }
    }
    auto plan_rules = [&](const char* key, auto& list) {
      for (std::size_t i = 0; i < list.size(); ++i)
        if (f[key][i].contains("when"))
          add_rule(p, f, list[i].id, "/" + std::string(key) + "/" + std::to_string(i) + "/when", Context::plan, &list[i].when,
                   errors);
    };
    plan_rules("monitoring", p.monitoring);
    plan_rules("follow_up", p.follow_up);
    plan_rules("referral", p.referral);
    plan_rules("lifestyle_goals", p.lifestyle);
    if (p.ladder) {
      const Ladder& l = *p.ladder;
      add_rule(p, f, l.id, "/medication_ladder/step_up_when", Context::step_up, &l.step_up_when, errors);
      for (std::size_t i = 0; i < l.cautions.size(); ++i)
        add_rule(p, f, l.cautions[i].id, "/medication_ladder/cautions/" + std::to_string(i) + "/when", Context::plan,
                 &l.cautions[i].when, errors);
      for (std::size_t i = 0; i < l.skips.size(); ++i) {
        add_rule(p, f, l.skips[i].id, "/medication_ladder/skips/" + std::to_string(i) + "/when", Context::skip, &l.skips[i].when,
                 errors);
        rules_.back().skip_from = l.skips[i].from_step;
      }
      for (std::size_t i = 0; i < l.add_ons.size(); ++i)
        add_rule(p, f, l.add_ons[i].id, "/medication_ladder/add_ons/" + std::to_string(i) + "/when", Context::plan,
                 &l.add_ons[i].when, errors);
    }
    // A condition somewhere this walk does not know would go unaudited.
    const std::size_t in_file = count_conditions(f);
    if (in_file != rules_.size() - before)
      errors.push_back(p.file + ": " + std::to_string(in_file) + " conditions in the file, " +
                       std::to_string(rules_.size() - before) + " audited: teach ThresholdCoverage the new place");
  }
  for (const auto& a : allow_list) {
    bool found = false;
    for (auto& r : rules_)
      for (auto& l : r.leaves)
        if (r.protocol->id == a.protocol && l.pointer == a.pointer) {
          l.allowed = a.reason;
          found = true;
        }
    if (!found) allow_unused_.push_back(std::string(a.protocol) + " " + a.pointer);
  }
}

void ThresholdCoverage::add_rule(const Protocol& p, const json& file, std::string id, std::string pointer, Context ctx,
                                 const Condition* engine, std::vector<std::string>& errors) {
  Rule r;
  r.protocol = &p;
  r.id = std::move(id);
  r.pointer = std::move(pointer);
  r.context = ctx;
  r.engine = engine;
  const json& j = file.at(json::json_pointer(r.pointer));
  std::vector<LoadError> errs;
  r.own = Condition::compile(j, p.file, r.pointer, errs);
  for (const auto& e : errs) errors.push_back(format(e));
  add_leaves(r, j, r.pointer, errors);
  rules_.push_back(std::move(r));
}

void ThresholdCoverage::add_leaves(Rule& r, const json& j, const std::string& pointer, std::vector<std::string>& errors) {
  for (const char* group : {"all", "any"})
    if (j.contains(group))
      for (std::size_t i = 0; i < j[group].size(); ++i) add_leaves(r, j[group][i], pointer + "/" + group + "/" + std::to_string(i), errors);
  if (j.contains("not")) add_leaves(r, j["not"], pointer + "/not", errors);
  if (!j.contains("fact") && !j.contains("count_of")) return;
  std::vector<LoadError> errs;
  Leaf leaf;
  leaf.pointer = pointer;
  leaf.j = j;
  leaf.cond = Condition::compile(j, r.protocol->file, pointer, errs);
  if (j.contains("fact")) {
    const auto id = find_fact(j["fact"].get<std::string>());
    for (const char* op : {"gt", "gte", "lt", "lte"})
      if (id && j.contains(op)) {
        const json& v = j[op];
        const Quantity q = fact_registry()[*id].quantity;
        std::optional<double> t;
        if (v.is_number()) t = v.get<double>();
        else if (v.is_object() && v.contains("value")) t = to_canonical(q, v["value"].get<double>(), v.value("unit", ""));
        const auto tf = v.is_object() && v.contains("fact") ? find_fact(v["fact"].get<std::string>()) : std::nullopt;
        if (t || tf) {
          leaf.numeric = true;
          leaf.fact = *id;
          leaf.quantity = q;
          leaf.threshold = t.value_or(0);
          leaf.threshold_is_fact = tf.has_value();
          leaf.threshold_fact = tf.value_or(0);
        }
      }
  }
  r.leaves.push_back(leaf);
  if (j.contains("count_of")) {
    // The per-value comparison is a threshold too: some value must meet it and some not.
    Leaf w;
    w.pointer = pointer + "/where";
    w.j = j["where"];
    w.is_where = true;
    w.series = find_series(j["count_of"].get<std::string>()).value_or(0);
    for (std::size_t k = 0; k <= series_capacity; ++k) {
      const json c = {{"count_of", j["count_of"]}, {"where", j["where"]}, {"gte", k}};
      w.where_at_least.push_back(Condition::compile(c, r.protocol->file, w.pointer, errs));
    }
    r.leaves.push_back(std::move(w));
  }
  for (const auto& e : errs) errors.push_back(format(e));
}

void ThresholdCoverage::observe(Rule& r, const Snapshot& s, const double* facts) {
  ++evaluations_;
  const bool fired = r.engine->eval(s, facts);
  const std::string where = r.protocol->id + " " + r.pointer;
  if (fired != r.own.eval(s, facts) && std::find(mismatches_.begin(), mismatches_.end(), where) == mismatches_.end())
    mismatches_.push_back(where);
  (fired ? r.fired : r.not_fired) = true;
  for (Leaf& l : r.leaves) {
    if (l.is_where) {
      const std::size_t n = s.series[l.series].size;
      if (n == 0) continue;
      if (l.where_at_least[1].eval(s, facts)) l.seen_true = true;
      if (!l.where_at_least[n].eval(s, facts)) l.seen_false = true;
      continue;
    }
    const bool v = l.cond.eval(s, facts);
    (v ? l.seen_true : l.seen_false) = true;
    if (!l.numeric) continue;
    const double x = facts[l.fact];
    const double t = l.threshold_is_fact ? facts[l.threshold_fact] : l.threshold;
    if (std::isnan(x) || std::isnan(t)) continue;
    Leaf::Nearest& n = v ? l.near_true : l.near_false;
    if (!n.have || std::fabs(x - t) < std::fabs(n.value - n.threshold)) n = {true, x, t};
  }
}

void ThresholdCoverage::observe_alerts(const Snapshot& s, const ProtocolSet& set, TierFilter filter) {
  for (const Protocol* p : set.protocols()) {
    const auto facts = rule_facts(s, set, *p);
    const bool applies = p->applicability.eval(s, s.values.data());
    for (Rule& r : rules_) {
      if (r.protocol != p) continue;
      switch (r.context) {
        case Context::applicability: observe(r, s, s.values.data()); break;
        case Context::target:
          if (applies) observe(r, s, s.values.data());
          break;
        case Context::critical:
          if (filter != TierFilter::warning) observe(r, s, facts.data());
          break;
        case Context::warning:
          if (applies && filter != TierFilter::critical) observe(r, s, facts.data());
          break;
        case Context::hold:
          if (applies && filter != TierFilter::critical && r.gate->eval(s, facts.data())) observe(r, s, facts.data());
          break;
        default: break;
      }
    }
  }
}

void ThresholdCoverage::observe_plan(const Snapshot& s, const ProtocolSet& set, const CarePlan& plan) {
  for (const Protocol* p : set.protocols()) {
    const bool applies = p->applicability.eval(s, s.values.data());
    if (!applies) continue;
    const auto facts = rule_facts(s, set, *p);
    const MedicationSuggestion* ms = nullptr;
    for (const auto& m : plan.medication)
      if (m.protocol_id == p->id) ms = &m;
    // The engine reads the step-up condition only on a step of the ladder with nothing to stop.
    const bool on_ladder = ms && ms->current && ms->action != MedicationAction::step_down;
    const bool above = on_ladder && p->ladder && p->ladder->step_up_when.eval(s, facts.data());
    for (Rule& r : rules_) {
      if (r.protocol != p) continue;
      switch (r.context) {
        case Context::plan: observe(r, s, facts.data()); break;
        case Context::step_up:
          if (on_ladder) observe(r, s, facts.data());
          break;
        case Context::skip:
          if (above && ms->current->id == r.skip_from) observe(r, s, facts.data());
          break;
        default: break;
      }
    }
  }
}

bool ThresholdCoverage::Leaf::tight() const {
  const double tol = step(quantity) + 1e-9;
  return near_true.have && near_false.have && std::fabs(near_true.value - near_true.threshold) <= tol &&
         std::fabs(near_false.value - near_false.threshold) <= tol;
}

std::vector<std::string> ThresholdCoverage::loose_thresholds() const {
  std::vector<std::string> out;
  for (const auto& r : rules_)
    for (const auto& l : r.leaves)
      if (l.numeric && l.allowed.empty() && !l.tight())
        out.push_back(r.protocol->id + " " + r.id + " " + l.pointer + " " + l.j.dump() + ": nearest true " +
                      nearest(l.near_true) + ", false " + nearest(l.near_false));
  return out;
}

std::vector<ThresholdCoverage::Side> ThresholdCoverage::uncovered_leaves() const {
  std::vector<Side> out;
  for (const auto& r : rules_)
    for (const auto& l : r.leaves)
      if (l.allowed.empty() && !(l.seen_true && l.seen_false))
        out.push_back({r.protocol->id, r.id, l.pointer, !l.seen_true, !l.seen_false});
  return out;
}

std::vector<ThresholdCoverage::Side> ThresholdCoverage::uncovered_rules() const {
  std::vector<Side> out;
  for (const auto& r : rules_)
    if (!(r.fired && r.not_fired)) out.push_back({r.protocol->id, r.id, r.pointer, !r.fired, !r.not_fired});
  return out;
}

ThresholdCoverage::Figures ThresholdCoverage::figures() const {
  Figures f;
  f.evaluations = evaluations_;
  for (const auto& r : rules_) {
    ++f.rules;
    if (r.fired && r.not_fired) ++f.rules_both;
    for (const auto& l : r.leaves) {
      ++f.leaves;
      if (l.seen_true && l.seen_false) ++f.leaves_both;
      else if (!l.allowed.empty()) ++f.leaves_allowed;
      if (l.numeric && l.allowed.empty()) {
        ++f.thresholds;
        if (l.tight()) ++f.thresholds_tight;
      }
    }
  }
  return f;
}

std::string ThresholdCoverage::report() const {
  std::string out;
  auto side = [](bool seen, const Leaf::Nearest& n) { return std::string(seen ? "yes" : "NO") + (n.have ? " (" + nearest(n) + ")" : ""); };
  for (const auto& r : rules_) {
    out += r.protocol->id + " " + r.id + " " + r.pointer + ": fired " + (r.fired ? "yes" : "NO") + ", not fired " +
           (r.not_fired ? "yes" : "NO") + "\n";
    for (const auto& l : r.leaves) {
      out += "  " + l.pointer + " " + l.j.dump() + ": true " + side(l.seen_true, l.near_true) + ", false " + side(l.seen_false, l.near_false);
      if (!l.allowed.empty()) out += " [allowed: " + l.allowed + "]";
      else if (l.numeric && !l.tight()) out += " [not within one step on both sides]";
      out += "\n";
    }
  }
  return out;
}

}  // namespace careloop::protocols::test
