// A doctor's edit of a proposed care plan, checked against the protocols that
// made it. The result starts from the proposal and takes each section the
// doctor sent; texts the patient reads come from the protocol, never from
// the request, so an edit cannot put words in a protocol's mouth.
#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include "careloop/care/plans.hpp"
#include "careloop/core/time.hpp"
#include "careloop/protocols/facts.hpp"

namespace careloop::care {
namespace {

using nlohmann::json;
using protocols::TargetKey;

struct Range {
  double low, high;
};

// Targets a doctor may set, in canonical units. Wider than any protocol's
// groups (CLINICAL §1) but excluding the implausible: a target outside
// these is a typo, not a clinical choice.
Range sane_range(TargetKey k) {
  switch (k) {
    case TargetKey::bp_office_systolic_lt:
    case TargetKey::bp_home_systolic_lt: return {100, 160};
    case TargetKey::bp_office_diastolic_lt:
    case TargetKey::bp_home_diastolic_lt: return {60, 100};
    case TargetKey::glucose_fasting_gte: return {3.0, 7.0};
    case TargetKey::glucose_fasting_lt: return {4.4, 10.0};
    case TargetKey::glucose_nonfasting_lt: return {6.0, 13.9};
    case TargetKey::hba1c_lt: return {5.5, 10.0};
    case TargetKey::bmi_lt: return {18.5, 35.0};
  }
  return {0, 0};
}

json text_json(const protocols::Text& t) { return {{"en", t.en}, {"zh-CN", t.zh}}; }

json regimen_json(const protocols::Regimen& r) {
  json out = json::array();
  for (const auto& c : r) {
    json j = {{"class", c.classes}};
    if (!c.drug.empty()) j["drug"] = c.drug;
    if (c.dose_mg) j["dose_mg"] = *c.dose_mg;
    out.push_back(std::move(j));
  }
  return out;
}

class Checker {
 public:
  Checker(const json& proposal, const ProtocolLibrary& library) : proposal_(proposal), library_(library) {
    if (proposal.contains("protocols") && proposal["protocols"].is_array())
      for (const auto& p : proposal["protocols"])
        if (const auto* found = library.find(p.value("id", std::string()), p.value("version", std::string())))
          protocols_.push_back(found);
  }

  core::Result<json> run(const json& edited) {
    if (!edited.is_object()) return core::Error::invalid("the plan must be a JSON object", {{"/plan", "must be an object"}});
    static const std::set<std::string> known{"protocols", "generated_at", "targets", "monitoring", "follow_up",
                                             "medication", "lifestyle", "referral", "rationale"};
    for (const auto& [k, v] : edited.items())
      if (!known.contains(k)) fail("/" + k, "unknown field");
    json out = proposal_;
    if (edited.contains("protocols") && edited["protocols"] != proposal_.value("protocols", json::array()))
      fail("/protocols", "a plan keeps the protocols that proposed it; re-evaluate to change them");
    if (edited.contains("targets")) out["targets"] = targets(edited["targets"]);
    if (edited.contains("monitoring")) out["monitoring"] = monitoring(edited["monitoring"]);
    if (edited.contains("follow_up")) out["follow_up"] = follow_up(edited["follow_up"]);
    if (edited.contains("medication")) out["medication"] = medication(edited["medication"]);
    if (edited.contains("lifestyle")) out["lifestyle"] = lifestyle(edited["lifestyle"]);
    if (edited.contains("referral")) out["referral"] = referral(edited["referral"]);
    if (!errors_.empty()) return core::Error::invalid("the edited plan is not valid", std::move(errors_));
    return out;
  }

 private:
  void fail(std::string pointer, std::string what) { errors_.push_back({"/plan" + pointer, std::move(what)}); }

  const protocols::Protocol* protocol_named(const json& entry, const std::string& at) {
    const std::string id = entry.is_object() ? entry.value("protocol", std::string()) : std::string();
    for (const auto* p : protocols_)
      if (p->id == id) return p;
    fail(at + "/protocol", "must be one of the plan's protocols");
    return nullptr;
  }

  bool only_keys(const json& entry, std::initializer_list<std::string_view> keys, const std::string& at) {
    if (!entry.is_object()) {
      fail(at, "must be an object");
      return false;
    }
    bool ok = true;
    for (const auto& [k, v] : entry.items())
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
        fail(at + "/" + k, "unknown field");
        ok = false;
      }
    return ok;
  }

  const json* proposed_target(std::string_view key) const {
    if (!proposal_.contains("targets")) return nullptr;
    for (const auto& t : proposal_["targets"])
      if (t.value("target", std::string()) == key) return &t;
    return nullptr;
  }

  json targets(const json& in) {
    json out = json::array();
    if (!in.is_array()) {
      fail("/targets", "must be an array");
      return out;
    }
    std::array<std::optional<double>, protocols::target_count> seen{};
    for (std::size_t i = 0; i < in.size(); ++i) {
      const std::string at = "/targets/" + std::to_string(i);
      const json& t = in[i];
      if (!only_keys(t, {"target", "value", "unit", "protocol", "group", "label"}, at)) continue;
      const auto key = t.contains("target") && t["target"].is_string()
                           ? protocols::parse_target_key(t["target"].get<std::string>())
                           : std::nullopt;
      if (!key) {
        fail(at + "/target", "must name a known target (bp.home_systolic_lt, glucose.fasting_lt, hba1c_lt, ...)");
        continue;
      }
      const auto unit = protocols::canonical_unit(protocols::quantity_of(*key));
      if (t.contains("unit") && t["unit"] != unit) fail(at + "/unit", "must be " + std::string(unit));
      if (!t.contains("value") || !t["value"].is_number() || !std::isfinite(t["value"].get<double>())) {
        fail(at + "/value", "must be a number");
        continue;
      }
      const double v = t["value"].get<double>();
      const auto r = sane_range(*key);
      char range[64];
      std::snprintf(range, sizeof range, "%g–%g", r.low, r.high);
      if (v < r.low || v > r.high) {
        fail(at + "/value", std::string(protocols::to_string(*key)) + " must be within " + range + " " + std::string(unit));
        continue;
      }
      auto& slot = seen[static_cast<std::size_t>(*key)];
      if (slot) {
        fail(at + "/target", "appears twice");
        continue;
      }
      slot = v;
      json x{{"target", protocols::to_string(*key)}, {"value", v}, {"unit", unit}};
      if (const json* p = proposed_target(protocols::to_string(*key))) {
        x["protocol"] = p->value("protocol", json());
        x["group"] = p->value("group", json());
        x["label"] = p->value("label", json());
      } else {
        x["protocol"] = "";
        x["group"] = "doctor";
        x["label"] = nullptr;
      }
      out.push_back(std::move(x));
    }
    auto below = [&](TargetKey lo, TargetKey hi, const char* what) {
      const auto& a = seen[static_cast<std::size_t>(lo)];
      const auto& b = seen[static_cast<std::size_t>(hi)];
      if (a && b && *a >= *b) fail("/targets", what);
    };
    below(TargetKey::bp_home_diastolic_lt, TargetKey::bp_home_systolic_lt, "the home diastolic target must be below the systolic");
    below(TargetKey::bp_office_diastolic_lt, TargetKey::bp_office_systolic_lt, "the office diastolic target must be below the systolic");
    below(TargetKey::glucose_fasting_gte, TargetKey::glucose_fasting_lt, "the fasting glucose range must have low < high");
    return out;
  }

  json monitoring(const json& in) {
    json out = json::array();
    if (!in.is_array()) {
      fail("/monitoring", "must be an array");
      return out;
    }
    for (std::size_t i = 0; i < in.size(); ++i) {
      const std::string at = "/monitoring/" + std::to_string(i);
      const json& m = in[i];
      if (!only_keys(m, {"measure", "rule", "protocol", "days_per_week", "times_per_day", "readings_per_time", "for_days", "text"}, at))
        continue;
      const auto* p = protocol_named(m, at);
      if (!p) continue;
      const std::string id = m.value("rule", std::string());
      const auto it = std::find_if(p->monitoring.begin(), p->monitoring.end(), [&](const auto& r) { return r.id == id; });
      if (it == p->monitoring.end()) {
        fail(at + "/rule", "must be a monitoring rule of " + p->id);
        continue;
      }
      json x{{"measure", it->measure}, {"rule", it->id}, {"protocol", p->id}, {"days_per_week", it->days_per_week},
             {"times_per_day", it->times_per_day}, {"readings_per_time", it->readings_per_time}, {"text", text_json(it->text)}};
      if (it->for_days) x["for_days"] = *it->for_days;
      // The numbers belong to the rule (its text says them): another schedule is another rule.
      for (const char* k : {"measure", "days_per_week", "times_per_day", "readings_per_time", "for_days"})
        if (m.contains(k) && (!x.contains(k) || m[k] != x[k])) fail(at + "/" + k, "is set by rule " + it->id + "; choose another rule");
      out.push_back(std::move(x));
    }
    return out;
  }

  json follow_up(const json& in) {
    if (in.is_null()) return nullptr;
    if (!only_keys(in, {"within_days", "due", "rule", "protocol", "reason"}, "/follow_up")) return nullptr;
    if (!in.contains("within_days") || !in["within_days"].is_number_integer() || in["within_days"].get<std::int64_t>() < 1 ||
        in["within_days"].get<std::int64_t>() > 365) {
      fail("/follow_up/within_days", "must be a whole number of days from 1 to 365");
      return nullptr;
    }
    const int within = static_cast<int>(in["within_days"].get<std::int64_t>());
    const json& old = proposal_.contains("follow_up") ? proposal_["follow_up"] : json();
    // The day the proposal counted from: its due day minus its interval, else the day it was made.
    std::int64_t base = 0;
    if (old.is_object()) {
      base = core::parse_date_days(old.value("due", std::string())).value_or(0) - old.value("within_days", 0);
    } else {
      auto t = core::parse_iso8601(proposal_.value("generated_at", std::string()));
      base = t.instant ? t.instant->utc_ms / 86'400'000 : 0;
    }
    json out = old.is_object() ? old : json{{"rule", "doctor"}, {"protocol", ""},
                                            {"reason", {{"en", "Set by your doctor"}, {"zh-CN", "医生安排"}}}};
    if (old.is_object() && within != old.value("within_days", 0)) {
      out["rule"] = "doctor";
      out["reason"] = {{"en", "Set by your doctor"}, {"zh-CN", "医生安排"}};
    }
    out["within_days"] = within;
    out["due"] = core::format_date(base + within);
    return out;
  }

  json medication(const json& in) {
    const json proposed = proposal_.value("medication", json::array());
    if (!in.is_array() || in.size() != proposed.size()) {
      fail("/medication", "must be an array with one entry per ladder of the proposal (" + std::to_string(proposed.size()) + ")");
      return proposed;
    }
    json out = json::array();
    for (std::size_t i = 0; i < in.size(); ++i) {
      const std::string at = "/medication/" + std::to_string(i);
      const json& m = in[i];
      const json& was = proposed[i];
      if (!only_keys(m, {"protocol", "ladder", "current_step", "suggested_step", "action", "options", "cautions", "add_ons", "reason"}, at))
        continue;
      if (m.value("protocol", json()) != was.value("protocol", json()) || m.value("ladder", json()) != was.value("ladder", json())) {
        fail(at + "/ladder", "must stay the proposal's protocol and ladder");
        continue;
      }
      if (!m.contains("suggested_step")) {
        out.push_back(was);
        continue;
      }
      const json& step = m["suggested_step"];
      const std::string step_id = step.is_object() ? step.value("id", std::string()) : std::string();
      const json& was_step = was.value("suggested_step", json());
      if (was_step.is_object() && was_step.value("id", std::string()) == step_id) {
        out.push_back(was);
        continue;
      }
      const auto* p = protocol_named(m, at);
      if (!p || !p->ladder) continue;
      const auto* st = p->ladder->find(step_id);
      if (!st) {
        std::string ids;
        for (const auto& s : p->ladder->steps) ids += (ids.empty() ? "" : ", ") + s.id;
        fail(at + "/suggested_step/id", "must be a step of ladder " + p->ladder->id + " (" + ids + ")");
        continue;
      }
      // The cautions the proposal found active forbid drug classes.
      std::vector<std::string> forbidden;
      std::string caution_ids;
      for (const auto& c : was.value("cautions", json::array()))
        for (const auto& pc : p->ladder->cautions)
          if (pc.id == c.value("id", std::string())) {
            forbidden.insert(forbidden.end(), pc.forbid_classes.begin(), pc.forbid_classes.end());
            caution_ids += (caution_ids.empty() ? "" : ", ") + pc.id;
          }
      auto allowed = [&](const protocols::Regimen& r) {
        return std::all_of(r.begin(), r.end(), [&](const protocols::RegimenComponent& c) {
          return std::any_of(c.classes.begin(), c.classes.end(), [&](const std::string& cls) {
            return std::find(forbidden.begin(), forbidden.end(), cls) == forbidden.end();
          });
        });
      };
      json options = json::array();
      for (const auto& o : st->options)
        if (allowed(o)) options.push_back(regimen_json(o));
      if (st->action == protocols::StepAction::regimen && !st->options.empty() && options.empty()) {
        fail(at + "/suggested_step/id", "step " + st->id + " is forbidden by caution " + caution_ids);
        continue;
      }
      json x = was;
      x["suggested_step"] = {{"id", st->id}, {"number", st->number}, {"text", text_json(st->text)}};
      x["options"] = std::move(options);
      const json& cur = was.value("current_step", json());
      const int current = cur.is_object() ? cur.value("number", 0) : 0;
      std::string action = st->number > current ? "step_up" : st->number < current ? "step_down" : "no_change";
      if (st->action == protocols::StepAction::refer) action = "refer";
      if (st->action == protocols::StepAction::check_adherence_then_refer) action = "check_adherence";
      x["action"] = action;
      x["reason"] = "Set by the doctor: " + st->id + ".";
      out.push_back(std::move(x));
    }
    return out;
  }

  json lifestyle(const json& in) {
    json out = json::array();
    if (!in.is_array()) {
      fail("/lifestyle", "must be an array");
      return out;
    }
    for (std::size_t i = 0; i < in.size(); ++i) {
      const std::string at = "/lifestyle/" + std::to_string(i);
      if (!only_keys(in[i], {"id", "protocol", "text"}, at)) continue;
      const auto* p = protocol_named(in[i], at);
      if (!p) continue;
      const std::string id = in[i].value("id", std::string());
      const auto it = std::find_if(p->lifestyle.begin(), p->lifestyle.end(), [&](const auto& g) { return g.id == id; });
      if (it == p->lifestyle.end()) {
        fail(at + "/id", "must be a lifestyle goal of " + p->id);
        continue;
      }
      out.push_back({{"id", it->id}, {"protocol", p->id}, {"text", text_json(it->text)}});
    }
    return out;
  }

  json referral(const json& in) {
    const json was = proposal_.value("referral", json{{"urgency", "none"}, {"reasons", json::array()}});
    if (!only_keys(in, {"urgency", "reasons"}, "/referral")) return was;
    const auto urgency = in.contains("urgency") && in["urgency"].is_string()
                             ? protocols::parse_urgency(in["urgency"].get<std::string>())
                             : std::nullopt;
    if (!urgency) {
      fail("/referral/urgency", "must be none, routine or urgent");
      return was;
    }
    json out{{"urgency", protocols::to_string(*urgency)}, {"reasons", json::array()}};
    if (!in.contains("reasons")) {
      if (out["urgency"] == was.value("urgency", json())) out["reasons"] = was.value("reasons", json::array());
      return out;
    }
    if (!in["reasons"].is_array()) {
      fail("/referral/reasons", "must be an array");
      return out;
    }
    for (std::size_t i = 0; i < in["reasons"].size(); ++i) {
      const std::string at = "/referral/reasons/" + std::to_string(i);
      const json& r = in["reasons"][i];
      if (!only_keys(r, {"protocol", "rule", "urgency", "reason"}, at)) continue;
      const auto* p = protocol_named(r, at);
      if (!p) continue;
      const std::string id = r.value("rule", std::string());
      const auto it = std::find_if(p->referral.begin(), p->referral.end(), [&](const auto& x) { return x.id == id; });
      if (it == p->referral.end()) {
        fail(at + "/rule", "must be a referral rule of " + p->id);
        continue;
      }
      out["reasons"].push_back({{"protocol", p->id}, {"rule", it->id}, {"urgency", protocols::to_string(it->urgency)},
                                {"reason", text_json(it->reason)}});
    }
    return out;
  }

  const json& proposal_;
  const ProtocolLibrary& library_;
  std::vector<const protocols::Protocol*> protocols_;
  std::vector<core::FieldError> errors_;
};

}  // namespace

core::Result<nlohmann::json> validate_edit(const nlohmann::json& proposal, const nlohmann::json& edited,
                                           const ProtocolLibrary& library) {
  return Checker(proposal, library).run(edited);
}

}  // namespace careloop::care
