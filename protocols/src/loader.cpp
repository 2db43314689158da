#include <algorithm>
#include <cassert>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "careloop/protocols/protocol.hpp"
#include "schema_validator.hpp"

namespace careloop::protocols {
namespace {

using nlohmann::json;

// Signals a rule may raise, and those auto_resolve_after.by_signal may name:
// also the ones raised outside the rules (schedules, risk models; care/).
constexpr std::array<std::string_view, 9> signals{"bp_high",    "bp_low",     "glucose_low",       "glucose_high", "heart_rate",
                                                  "weight_gain", "stale_data", "follow_up_overdue", "risk"};
constexpr std::array<std::string_view, 1> outside_signals{"risk_high"};

// Reads the members of one file into a Protocol, after the schema has passed.
class Builder {
 public:
  Builder(const json& root, std::string file, std::vector<LoadError>& errors) : root_(root), file_(std::move(file)), errors_(errors) {}

  Protocol build() {
    Protocol p;
    p.file = file_;
    p.id = str(root_, "id");
    p.version = str(root_, "version");
    p.title = str(root_, "title");
    p.programme = str(root_, "programme");
    const auto& srcs = at(root_, "sources");
    for (std::size_t i = 0; i < srcs.size(); ++i) {
      const json& s = srcs[i];
      Source src{str(s, "id"), str(s, "title"), str(s, "publisher"), at(s, "year").get<int>(), opt_str(s, "url"),
                 str(s, "evidence") == "primary" ? Evidence::primary : Evidence::secondary};
      if (!source_ids_.insert(src.id).second) error("/sources/" + std::to_string(i) + "/id", "duplicate source id '" + src.id + "'");
      p.sources.push_back(std::move(src));
    }
    p.applicability = cond(at(root_, "applicability"), "/applicability");

    const auto& groups = at(at(root_, "parameters"), "target_groups");
    for (std::size_t i = 0; i < groups.size(); ++i) p.targets.push_back(target_group(groups[i], "/parameters/target_groups/" + std::to_string(i)));

    const auto& alerts = at(root_, "alert_rules");
    for (std::size_t i = 0; i < alerts.size(); ++i) {
      const json& a = alerts[i];
      const std::string ptr = "/alert_rules/" + std::to_string(i);
      AlertRule r;
      r.id = id(a, ptr);
      r.signal = str(a, "signal");
      r.tier = *parse_tier(str(a, "tier"));
      r.when = cond(at(a, "when"), ptr + "/when");
      if (has(a, "hold_when")) {
        r.hold_when = cond(at(a, "hold_when"), ptr + "/hold_when");
        r.has_hold = true;
      }
      r.message = text(at(a, "message"));
      r.prov = prov(a, ptr);
      p.alerts.push_back(std::move(r));
    }
    const auto& mon = at(root_, "monitoring");
    for (std::size_t i = 0; i < mon.size(); ++i) {
      const json& m = mon[i];
      const std::string ptr = "/monitoring/" + std::to_string(i);
      MonitoringRule r;
      r.id = id(m, ptr);
      r.measure = str(m, "measure");
      if (has(m, "when")) r.when = cond(at(m, "when"), ptr + "/when");
      r.days_per_week = at(m, "days_per_week").get<int>();
      r.times_per_day = at(m, "times_per_day").get<int>();
      r.readings_per_time = at(m, "readings_per_time").get<int>();
      if (has(m, "for_days")) r.for_days = at(m, "for_days").get<int>();
      r.text = text(at(m, "text"));
      r.prov = prov(m, ptr);
      p.monitoring.push_back(std::move(r));
    }
    const auto& fu = at(root_, "follow_up");
    for (std::size_t i = 0; i < fu.size(); ++i) {
      const json& f = fu[i];
      const std::string ptr = "/follow_up/" + std::to_string(i);
      FollowUpRule r;
      r.id = id(f, ptr);
      if (has(f, "when")) r.when = cond(at(f, "when"), ptr + "/when");
      r.within_days = at(f, "within_days").get<int>();
      r.reason = text(at(f, "reason"));
      r.prov = prov(f, ptr);
      p.follow_up.push_back(std::move(r));
    }
    const auto& ref = at(root_, "referral");
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const json& f = ref[i];
      const std::string ptr = "/referral/" + std::to_string(i);
      ReferralRule r;
      r.id = id(f, ptr);
      r.urgency = *parse_urgency(str(f, "urgency"));
      r.when = cond(at(f, "when"), ptr + "/when");
      r.follow_up_within_days = at(f, "follow_up_within_days").get<int>();
      r.reason = text(at(f, "reason"));
      r.prov = prov(f, ptr);
      p.referral.push_back(std::move(r));
    }
    const auto& life = at(root_, "lifestyle_goals");
    for (std::size_t i = 0; i < life.size(); ++i) {
      const json& g = life[i];
      const std::string ptr = "/lifestyle_goals/" + std::to_string(i);
      LifestyleGoal r;
      r.id = id(g, ptr);
      if (has(g, "when")) r.when = cond(at(g, "when"), ptr + "/when");
      r.text = text(at(g, "text"));
      r.prov = prov(g, ptr);
      p.lifestyle.push_back(std::move(r));
    }
    p.ladder = ladder(at(root_, "medication_ladder"), "/medication_ladder");
    p.alert_settings = settings(at(root_, "alert_settings"), "/alert_settings");
    return p;
  }

 private:
  void error(const std::string& ptr, std::string msg) { errors_.push_back({file_, ptr, std::move(msg)}); }

  // Every member read goes through here, so loader_keys() is the list of what is read.
  static const json& at(const json& j, const char* key) {
    assert(detail::loader_keys().count(key));
    return j.at(key);
  }
  static bool has(const json& j, const char* key) {
    assert(detail::loader_keys().count(key));
    return j.contains(key);
  }
  static std::string str(const json& j, const char* key) { return at(j, key).get<std::string>(); }
  static std::string opt_str(const json& j, const char* key) { return has(j, key) ? str(j, key) : std::string(); }
  static Text text(const json& j) { return {str(j, "en"), str(j, "zh-CN")}; }

  std::string id(const json& j, const std::string& ptr) {
    std::string v = str(j, "id");
    auto [it, fresh] = rule_ids_.emplace(v, ptr);
    if (!fresh) error(ptr + "/id", "duplicate rule id '" + v + "' (first at " + it->second + ")");
    return v;
  }

  Condition cond(const json& j, const std::string& ptr) { return Condition::compile(j, file_, ptr, errors_); }

  Provenance prov(const json& j, const std::string& ptr) {
    Provenance p;
    const auto& srcs = at(j, "sources");
    for (std::size_t i = 0; i < srcs.size(); ++i) {
      auto s = srcs[i].get<std::string>();
      if (!source_ids_.count(s)) error(ptr + "/sources/" + std::to_string(i), "unknown source '" + s + "': not in /sources");
      p.sources.push_back(std::move(s));
    }
    const auto e = str(j, "evidence");
    p.evidence = e == "primary" ? Evidence::primary : e == "secondary" ? Evidence::secondary : Evidence::decision;
    p.rationale = opt_str(j, "rationale");
    if (p.evidence == Evidence::decision && p.rationale.empty())
      error(ptr, "evidence \"decision\" needs a one-line \"rationale\" saying why");
    return p;
  }

  std::optional<double> quantity(const json& q, Quantity want, const std::string& ptr, const std::string& what) {
    const double v = at(q, "value").get<double>();
    const auto unit = str(q, "unit");
    auto c = to_canonical(want, v, unit);
    if (!c) {
      error(ptr + "/unit", "unit '" + unit + "' cannot express a " + std::string(to_string(want)) + " (" + what + " is in " +
                               std::string(canonical_unit(want)) + ")");
      return std::nullopt;
    }
    std::string why;
    if (!threshold_plausible(want, *c, why)) {
      error(ptr + "/value", what + " " + std::to_string(*c) + " is " + why);
      return std::nullopt;
    }
    return c;
  }

  TargetGroup target_group(const json& g, const std::string& ptr) {
    TargetGroup t;
    t.values.fill(std::nan(""));
    t.id = id(g, ptr);
    if (has(g, "when")) t.when = cond(at(g, "when"), ptr + "/when");
    for (const auto& [k, v] : at(g, "targets").items()) {
      const auto key = parse_target_key(k);
      if (!key) continue;  // the schema names every key
      if (auto c = quantity(v, quantity_of(*key), ptr + "/targets/" + k, "target " + k))
        t.values[static_cast<std::size_t>(*key)] = *c;
    }
    auto val = [&](TargetKey k) { return t.values[static_cast<std::size_t>(k)]; };
    if (val(TargetKey::glucose_fasting_gte) >= val(TargetKey::glucose_fasting_lt))
      error(ptr + "/targets", "impossible range: fasting glucose low bound is not below the high bound");
    if (val(TargetKey::bp_office_diastolic_lt) >= val(TargetKey::bp_office_systolic_lt))
      error(ptr + "/targets", "impossible target: office diastolic is not below office systolic");
    if (val(TargetKey::bp_home_diastolic_lt) >= val(TargetKey::bp_home_systolic_lt))
      error(ptr + "/targets", "impossible target: home diastolic is not below home systolic");
    t.label = text(at(g, "label"));
    t.prov = prov(g, ptr);
    return t;
  }

  std::vector<Regimen> regimens(const json& arr, const std::string& ptr, std::vector<std::string>& classes) {
    std::vector<Regimen> out;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      Regimen r;
      for (std::size_t k = 0; k < arr[i].size(); ++k) {
        const json& c = arr[i][k];
        const std::string p = ptr + "/" + std::to_string(i) + "/" + std::to_string(k);
        RegimenComponent rc;
        const json& cls = at(c, "class");
        if (cls.is_string())
          rc.classes.push_back(cls.get<std::string>());
        else
          for (const auto& x : cls) rc.classes.push_back(x.get<std::string>());
        for (const auto& x : rc.classes) {
          const auto known = known_drug_classes();
          if (std::find(known.begin(), known.end(), x) == known.end())
            error(p + "/class", "unknown drug class '" + x + "'");
          else if (std::find(classes.begin(), classes.end(), x) == classes.end())
            classes.push_back(x);
        }
        rc.drug = opt_str(c, "drug");
        if (!rc.drug.empty()) {
          auto dc = drug_class(rc.drug);
          if (!dc)
            error(p + "/drug", "unknown drug '" + rc.drug + "'");
          else if (std::find(rc.classes.begin(), rc.classes.end(), *dc) == rc.classes.end())
            error(p + "/drug", "'" + rc.drug + "' is a " + std::string(*dc) + ", not of the class given");
        }
        if (has(c, "dose_mg")) rc.dose_mg = at(c, "dose_mg").get<double>();
        r.push_back(std::move(rc));
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  Ladder ladder(const json& l, const std::string& ptr) {
    Ladder lad;
    lad.id = id(l, ptr);
    lad.min_days_at_step = at(l, "min_days_at_step").get<int>();
    lad.step_up_when = cond(at(l, "step_up_when"), ptr + "/step_up_when");
    lad.step_up_reason = text(at(l, "step_up_reason"));
    lad.prov = prov(l, ptr);
    const auto& steps = at(l, "steps");
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const json& s = steps[i];
      const std::string p = ptr + "/steps/" + std::to_string(i);
      LadderStep st;
      st.id = id(s, p);
      st.number = at(s, "number").get<int>();
      if (!lad.steps.empty() && st.number <= lad.steps.back().number)
        error(p + "/number", "step numbers must ascend: " + std::to_string(st.number) + " follows " + std::to_string(lad.steps.back().number));
      const auto action = str(s, "action");
      st.action = action == "regimen" ? StepAction::regimen
                  : action == "refer" ? StepAction::refer
                                      : StepAction::check_adherence_then_refer;
      if (has(s, "options")) st.options = regimens(at(s, "options"), p + "/options", lad.classes);
      if (st.action == StepAction::regimen && st.options.empty())
        error(p, "a regimen step needs \"options\" (use [[]] for no drug)");
      if (st.action != StepAction::regimen && !st.options.empty())
        error(p + "/options", "only a regimen step lists options");
      st.next = opt_str(s, "next");
      if (has(s, "adherence_at_least"))
        if (auto q = quantity(at(s, "adherence_at_least"), Quantity::percent, p + "/adherence_at_least", "adherence"))
          st.adherence_at_least_percent = *q;
      st.text = text(at(s, "text"));
      st.prov = prov(s, p);
      index[st.id] = lad.steps.size();
      lad.steps.push_back(std::move(st));
    }
    // Links: next and skips must name later steps; every step must be reachable from the first.
    std::vector<bool> reached(lad.steps.size(), false);
    if (!reached.empty()) reached[0] = true;
    for (std::size_t i = 0; i < lad.steps.size(); ++i) {
      const auto& st = lad.steps[i];
      if (st.next.empty()) continue;
      const std::string p = ptr + "/steps/" + std::to_string(i) + "/next";
      auto it = index.find(st.next);
      if (it == index.end())
        error(p, "dangling next: no step '" + st.next + "'");
      else if (lad.steps[it->second].number <= st.number)
        error(p, "next '" + st.next + "' does not climb the ladder (step " + std::to_string(lad.steps[it->second].number) + ")");
      else
        reached[it->second] = true;
    }
    if (has(l, "skips")) {
      const auto& skips = at(l, "skips");
      for (std::size_t i = 0; i < skips.size(); ++i) {
        const json& s = skips[i];
        const std::string p = ptr + "/skips/" + std::to_string(i);
        SkipRule sk;
        sk.id = id(s, p);
        sk.from_step = str(s, "from");
        sk.to_step = str(s, "to");
        sk.when = cond(at(s, "when"), p + "/when");
        sk.reason = text(at(s, "reason"));
        sk.prov = prov(s, p);
        auto f = index.find(sk.from_step), t = index.find(sk.to_step);
        if (f == index.end()) error(p + "/from", "no step '" + sk.from_step + "'");
        if (t == index.end()) error(p + "/to", "no step '" + sk.to_step + "'");
        if (f != index.end() && t != index.end()) {
          if (lad.steps[t->second].number <= lad.steps[f->second].number)
            error(p + "/to", "a skip must go up the ladder");
          else
            reached[t->second] = true;
        }
        lad.skips.push_back(std::move(sk));
      }
    }
    for (std::size_t i = 1; i < lad.steps.size(); ++i)
      if (!reached[i])
        error(ptr + "/steps/" + std::to_string(i), "unreachable step '" + lad.steps[i].id +
                                                       "': no step's next and no skip leads to it, so no rule can suggest it");
    const auto& cautions = at(l, "cautions");
    for (std::size_t i = 0; i < cautions.size(); ++i) {
      const json& c = cautions[i];
      const std::string p = ptr + "/cautions/" + std::to_string(i);
      Caution ca;
      ca.id = id(c, p);
      ca.when = cond(at(c, "when"), p + "/when");
      const auto& fc = at(c, "forbid_classes");
      for (std::size_t k = 0; k < fc.size(); ++k) {
        auto x = fc[k].get<std::string>();
        const auto known = known_drug_classes();
        if (std::find(known.begin(), known.end(), x) == known.end())
          error(p + "/forbid_classes/" + std::to_string(k), "unknown drug class '" + x + "'");
        ca.forbid_classes.push_back(std::move(x));
      }
      ca.message = text(at(c, "message"));
      ca.prov = prov(c, p);
      lad.cautions.push_back(std::move(ca));
    }
    if (has(l, "add_ons")) {
      const auto& adds = at(l, "add_ons");
      for (std::size_t i = 0; i < adds.size(); ++i) {
        const json& a = adds[i];
        const std::string p = ptr + "/add_ons/" + std::to_string(i);
        AddOn ad;
        ad.id = id(a, p);
        ad.when = cond(at(a, "when"), p + "/when");
        std::vector<std::string> ignored;
        ad.options = regimens(at(a, "options"), p + "/options", ignored);
        ad.text = text(at(a, "text"));
        ad.prov = prov(a, p);
        lad.add_ons.push_back(std::move(ad));
      }
    }
    return lad;
  }

  std::int64_t duration_ms(const json& d) {
    const double v = at(d, "value").get<double>();
    const auto u = str(d, "unit");
    const double ms = u == "minutes" ? 60'000.0 : u == "hours" ? 3'600'000.0 : 86'400'000.0;
    return static_cast<std::int64_t>(std::llround(v * ms));
  }

  AlertSettings settings(const json& s, const std::string& ptr) {
    AlertSettings a;
    a.escalate_critical_after_ms = duration_ms(at(s, "escalate_critical_after"));
    const auto& ar = at(s, "auto_resolve_after");
    a.auto_resolve_default_ms = duration_ms(at(ar, "default"));
    if (has(ar, "by_signal"))
      for (const auto& [k, v] : at(ar, "by_signal").items()) {
        if (std::find(signals.begin(), signals.end(), k) == signals.end() &&
            std::find(outside_signals.begin(), outside_signals.end(), k) == outside_signals.end())
          error(ptr + "/auto_resolve_after/by_signal/" + k, "unknown signal '" + k + "'");
        a.auto_resolve_by_signal_ms[k] = duration_ms(v);
      }
    prov(s, ptr);
    return a;
  }

  const json& root_;
  std::string file_;
  std::vector<LoadError>& errors_;
  std::set<std::string> source_ids_;
  std::map<std::string, std::string> rule_ids_;
};

}  // namespace

namespace detail {
const std::set<std::string>& loader_keys() {
  static const std::set<std::string> keys{
      "$schema", "id", "version", "title", "programme", "sources", "publisher", "year", "url", "evidence", "rationale",
      "applicability", "parameters", "target_groups", "when", "targets", "label", "alert_rules", "signal", "tier", "hold_when",
      "message", "monitoring", "measure", "days_per_week", "times_per_day", "readings_per_time", "for_days", "text", "follow_up",
      "within_days", "reason", "referral", "urgency", "follow_up_within_days", "lifestyle_goals", "medication_ladder",
      "min_days_at_step", "step_up_when", "step_up_reason", "steps", "number", "options", "class", "drug", "dose_mg", "next",
      "action", "adherence_at_least", "cautions", "forbid_classes", "skips", "from", "to", "add_ons", "alert_settings",
      "escalate_critical_after", "auto_resolve_after", "default", "by_signal", "value", "unit", "en", "zh-CN",
      // condition members, read by Condition::compile
      "all", "any", "not", "fact", "missing", "count_of", "where", "gt", "gte", "lt", "lte", "eq", "between",
      // target keys, read through parse_target_key
      "bp.office_systolic_lt", "bp.office_diastolic_lt", "bp.home_systolic_lt", "bp.home_diastolic_lt", "glucose.fasting_gte",
      "glucose.fasting_lt", "glucose.nonfasting_lt", "hba1c_lt", "bmi_lt"};
  return keys;
}
}  // namespace detail

std::string_view to_string(Evidence e) noexcept {
  switch (e) {
    case Evidence::primary: return "primary";
    case Evidence::secondary: return "secondary";
    case Evidence::decision: return "decision";
  }
  return "?";
}
std::string_view to_string(Tier t) noexcept { return t == Tier::critical ? "critical" : "warning"; }
std::string_view to_string(Urgency u) noexcept {
  switch (u) {
    case Urgency::none: return "none";
    case Urgency::routine: return "routine";
    case Urgency::urgent: return "urgent";
  }
  return "?";
}
std::optional<Tier> parse_tier(std::string_view s) noexcept {
  if (s == "critical") return Tier::critical;
  if (s == "warning") return Tier::warning;
  return std::nullopt;
}
std::optional<Urgency> parse_urgency(std::string_view s) noexcept {
  if (s == "none") return Urgency::none;
  if (s == "routine") return Urgency::routine;
  if (s == "urgent") return Urgency::urgent;
  return std::nullopt;
}

const LadderStep* Ladder::find(std::string_view step_id) const noexcept {
  for (const auto& s : steps)
    if (s.id == step_id) return &s;
  return nullptr;
}

std::int64_t AlertSettings::auto_resolve_ms(std::string_view signal) const {
  // "risk_high:<model id>" takes the period of "risk_high".
  if (auto colon = signal.find(':'); colon != std::string_view::npos) signal = signal.substr(0, colon);
  auto it = auto_resolve_by_signal_ms.find(signal);
  return it == auto_resolve_by_signal_ms.end() ? auto_resolve_default_ms : it->second;
}

LoadResult load_protocol_text(std::string_view text, const std::string& file) {
  LoadResult r;
  json root = json::parse(text, nullptr, false);
  if (root.is_discarded()) {
    // Re-parse with exceptions only to get the position of the fault.
    try {
      const json ignored = json::parse(text);
    } catch (const json::parse_error& e) {
      r.errors.push_back({file, "", std::string("not valid JSON: ") + e.what()});
    }
    return r;
  }
  const auto& schema = detail::protocol_schema();
  for (const auto& p : schema.schema_problems()) r.errors.push_back({"schema.json", "", p});
  schema.validate(root, file, r.errors);
  if (!r.errors.empty()) return r;
  Builder b(root, file, r.errors);
  Protocol p;
  try {
    p = b.build();
  } catch (const json::exception& e) {
    r.errors.push_back({file, "", std::string("cannot read the protocol: ") + e.what()});
  }
  if (r.errors.empty()) r.protocols.push_back(std::move(p));
  return r;
}

LoadResult load_protocol_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return LoadResult{{}, {{path.string(), "", "cannot read the file"}}};
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_protocol_text(ss.str(), path.filename().string());
}

LoadResult load_directory(const std::filesystem::path& dir) {
  LoadResult all;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  if (ec) {
    all.errors.push_back({dir.string(), "", "cannot list the directory: " + ec.message()});
    return all;
  }
  if (files.empty()) all.errors.push_back({dir.string(), "", "no protocol files (*.json)"});
  std::sort(files.begin(), files.end());
  std::map<std::string, std::string> seen;
  for (const auto& f : files) {
    auto r = load_protocol_file(f);
    all.errors.insert(all.errors.end(), r.errors.begin(), r.errors.end());
    for (auto& p : r.protocols) {
      auto [it, fresh] = seen.emplace(p.id + "@" + p.version, p.file);
      if (!fresh) {
        all.errors.push_back({p.file, "/id", "protocol " + p.id + " version " + p.version + " is also in " + it->second});
        continue;
      }
      all.protocols.push_back(std::move(p));
    }
  }
  return all;
}

std::vector<LoadError> check_directory(const std::filesystem::path& dir) { return load_directory(dir).errors; }

}  // namespace careloop::protocols
