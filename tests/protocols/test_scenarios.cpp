// The scenario driver: every tests/protocols/scenarios/*.json is a patient, a
// timeline (readings as a phone sends them, medication changes, the doctor's
// actions) and checkpoints with the expected alerts and plan. It plays the
// store's part: a request's readings are applied together, then the critical
// rules run per reading (the in-transaction path), then all rules run (after
// the commit); each checkpoint is also a scheduled run. The threshold
// coverage test runs them all again, recording which side of every condition
// leaf each evaluated snapshot falls on (threshold_coverage.hpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "careloop/protocols/alert_book.hpp"
#include "helpers.hpp"
#include "threshold_coverage.hpp"

using namespace careloop;
using namespace careloop::protocols;
using namespace careloop::protocols::test;
using nlohmann::json;

namespace {

// Set while the coverage test runs the scenarios.
ThresholdCoverage* coverage = nullptr;

std::int64_t instant(const json& j) {
  auto p = core::parse_iso8601(j.get<std::string>());
  if (!p.instant) throw std::runtime_error("bad time " + j.dump() + ": " + p.error);
  return p.instant->utc_ms;
}
int offset_of(const json& j) { return core::parse_iso8601(j.get<std::string>()).instant->offset_min; }
std::int64_t day_of(const json& j) { return core::parse_date_days(j.get<std::string>()).value(); }

std::optional<core::Reading> reading_of(const json& item) {
  core::Reading r;
  r.taken_at = {instant(item.at("at")), offset_of(item.at("at"))};
  if (item.contains("bp")) {
    const auto& b = item["bp"];
    r.kind = core::ReadingKind::blood_pressure;
    r.systolic_mmhg = b.at("systolic").get<double>();
    r.diastolic_mmhg = b.at("diastolic").get<double>();
    if (b.contains("pulse")) r.pulse_bpm = b["pulse"].get<double>();
  } else if (item.contains("glucose")) {
    const auto& g = item["glucose"];
    r.kind = core::ReadingKind::glucose;
    const auto unit = core::parse_glucose_unit(g.at("unit").get<std::string>()).value();
    r.value_as_sent = g.at("value").get<double>();
    r.unit_as_sent = g["unit"].get<std::string>();
    r.glucose_mmol_l = core::glucose_to_mmol_l(*r.value_as_sent, unit);
    r.glucose_context = core::parse_glucose_context(g.at("context").get<std::string>()).value();
  } else if (item.contains("weight")) {
    r.kind = core::ReadingKind::weight;
    r.weight_kg = core::weight_to_kg(item["weight"].at("value").get<double>(),
                                     core::parse_weight_unit(item["weight"].at("unit").get<std::string>()).value());
  } else if (item.contains("heart_rate")) {
    r.kind = core::ReadingKind::heart_rate;
    r.pulse_bpm = item["heart_rate"].get<double>();
  } else if (item.contains("hba1c")) {
    r.kind = core::ReadingKind::hba1c;
    r.hba1c_percent = core::hba1c_to_percent(item["hba1c"].at("value").get<double>(),
                                             core::parse_hba1c_unit(item["hba1c"].at("unit").get<std::string>()).value());
  } else if (item.contains("dose")) {
    r.kind = core::ReadingKind::medication;
    r.medication_name = "any";
    r.medication_status = core::parse_medication_status(item["dose"].get<std::string>()).value();
  } else {
    return std::nullopt;
  }
  return r;
}

core::Patient patient_of(const json& j, std::int64_t start_day) {
  core::Patient p;
  p.sex = core::parse_sex(j.at("sex").get<std::string>()).value();
  int y = 0;
  unsigned m = 0, d = 0;
  core::civil_from_days(start_day, y, m, d);
  // Born on 1 January, so the age is whole years through the scenario (which starts after it).
  p.birth_date = core::days_from_civil(y - j.at("age_years").get<int>(), 1, 1);
  for (const auto& dx : j.at("diagnoses")) p.diagnoses.push_back({dx.get<std::string>(), 0});
  if (j.contains("comorbidities")) p.comorbidities = j["comorbidities"].get<std::vector<std::string>>();
  p.pregnant = j.value("pregnant", false);
  p.smoking = j.value("smoker", false) ? core::Smoking::current : core::Smoking::never;
  p.height_cm = j.value("height_cm", 165.0);
  if (j.contains("medications"))
    for (const auto& m : j["medications"])
      p.medications.push_back({m.at("name").get<std::string>(), m.at("dose").get<std::string>(), day_of(m.at("since"))});
  return p;
}

struct Run {
  std::string name;
  ProtocolSet set;
  AlertSettings settings;
  core::Patient patient;
  SnapshotContext ctx;
  core::PatientState state;
  AlertBook book;
  std::vector<AlertEvent> events;  // since the previous checkpoint
  std::vector<std::string> held;   // signals held in the latest full run
  std::optional<std::int64_t> follow_up_due_day;  // of the approved plan, as care/ reads it

  void full_run(std::int64_t now) {
    const auto s = make_snapshot(state, patient, ctx, now);
    auto signals = evaluate_alerts(s, set, TierFilter::all);
    if (coverage) coverage->observe_alerts(s, set, TierFilter::all);
    // The signals care/ raises from stored data join the rules' (care/src/review.cpp).
    ExtraSignals extra;
    for (const auto& r : ctx.risk)
      if (r.high) extra.risk_high(r.model_id, "1", json{{"probability", r.probability}}.dump(), {"high risk", "高风险"});
    if (follow_up_due_day && s.today > *follow_up_due_day)
      extra.follow_up_overdue(*follow_up_due_day, "plan", "1", "follow_up", "{}", {"overdue", "逾期"});
    signals.insert(signals.end(), extra.signals().begin(), extra.signals().end());
    held.clear();
    for (const auto& a : signals)
      if (a.held) held.emplace_back(a.signal);
    auto ev = book.update(signals, Scope::full, now, settings);
    events.insert(events.end(), ev.begin(), ev.end());
  }

  void write_batch(const std::vector<core::Reading>& batch, std::int64_t received) {
    for (const auto& r : batch) state.apply(r);
    for (const auto& r : batch) {
      const auto s = make_snapshot(state, patient, ctx, received, &r);
      if (coverage) coverage->observe_alerts(s, set, TierFilter::critical);
      auto ev = book.update(evaluate_alerts(s, set, TierFilter::critical), Scope::critical_only, received, settings);
      events.insert(events.end(), ev.begin(), ev.end());
    }
    full_run(received);
  }
};

void check_checkpoint(Run& run, const json& cp, std::int64_t now) {
  run.full_run(now);
  const std::string where = cp.at("at").get<std::string>();
  if (cp.contains("alerts"))
    for (const auto& [signal, want] : cp["alerts"].items()) {
      INFO("checkpoint " << where << ", alert " << signal << "; book: " << run.book.to_json());
      const Alert* a = run.book.find(signal);
      if (want.is_null()) {
        CHECK(a == nullptr);
        continue;
      }
      REQUIRE(a != nullptr);
      if (want.contains("tier")) CHECK(std::string(to_string(a->tier)) == want["tier"].get<std::string>());
      if (want.contains("status")) CHECK(std::string(to_string(a->status)) == want["status"].get<std::string>());
      if (want.contains("count")) CHECK(a->count == want["count"].get<int>());
      if (want.contains("escalated")) CHECK(a->escalated_at_ms.has_value() == want["escalated"].get<bool>());
      if (want.contains("rule")) CHECK(a->rule_id == want["rule"].get<std::string>());
    }
  std::vector<std::string> happened;
  for (const auto& e : run.events) happened.push_back(std::string(to_string(e.kind)) + ":" + e.alert.signal);
  for (const auto& h : run.held) happened.push_back("held:" + h);
  std::string happened_text;
  for (const auto& h : happened) happened_text += h + " ";
  if (cp.contains("events"))
    for (const auto& e : cp["events"]) {
      INFO("checkpoint " << where << ": events since the last checkpoint: " << happened_text);
      CHECK(std::find(happened.begin(), happened.end(), e.get<std::string>()) != happened.end());
    }
  if (cp.contains("no_events"))
    for (const auto& e : cp["no_events"]) {
      INFO("checkpoint " << where << ": events since the last checkpoint: " << happened_text);
      CHECK(std::find(happened.begin(), happened.end(), e.get<std::string>()) == happened.end());
    }
  run.events.clear();

  if (!cp.contains("plan")) return;
  const auto& want = cp["plan"];
  const auto s = make_snapshot(run.state, run.patient, run.ctx, now);
  const CarePlan plan = evaluate(s, run.set);
  if (coverage) coverage->observe_plan(s, run.set, plan);
  const json pj = to_json(plan);
  INFO("checkpoint " << where << ", plan: " << pj.dump(1));
  if (want.contains("targets"))
    for (const auto& [key, value] : want["targets"].items()) {
      auto it = std::find_if(plan.targets.begin(), plan.targets.end(), [&](const PlanTarget& t) { return to_string(t.key) == key; });
      INFO("target " << key);
      REQUIRE(it != plan.targets.end());
      CHECK(it->value == Approx(value.get<double>()));
    }
  const json meds = !want.contains("medication") ? json::array() : want["medication"].is_array() ? want["medication"] : json::array({want["medication"]});
  for (const auto& m : meds) {
    const MedicationSuggestion* ms = nullptr;
    for (const auto& x : plan.medication)
      if (!m.contains("ladder") || x.ladder_id == m["ladder"].get<std::string>()) {
        ms = &x;
        break;
      }
    REQUIRE(ms != nullptr);
    if (m.contains("action")) CHECK(std::string(to_string(ms->action)) == m["action"].get<std::string>());
    if (m.contains("current_step")) CHECK((ms->current ? ms->current->id : "none") == m["current_step"].get<std::string>());
    if (m.contains("suggested_step")) CHECK((ms->suggested ? ms->suggested->id : "none") == m["suggested_step"].get<std::string>());
    if (m.contains("options")) CHECK(ms->options.size() == m["options"].get<std::size_t>());
    if (m.contains("cautions")) {
      std::vector<std::string> ids;
      for (const auto* c : ms->cautions) ids.push_back(c->id);
      CHECK(ids == m["cautions"].get<std::vector<std::string>>());
    }
    if (m.contains("add_ons")) {
      std::vector<std::string> ids;
      for (const auto* a : ms->add_ons) ids.push_back(a->id);
      CHECK(ids == m["add_ons"].get<std::vector<std::string>>());
    }
    if (m.contains("option_classes")) {
      // Each allowed option as its classes joined with "+", e.g. "ccb+beta_blocker".
      std::vector<std::string> got;
      for (const auto* o : ms->options) {
        std::string x;
        for (const auto& c : *o) {
          std::string cls;
          for (const auto& k : c.classes) cls += (cls.empty() ? "" : "|") + k;
          x += (x.empty() ? "" : "+") + cls;
        }
        got.push_back(x);
      }
      CHECK(got == m["option_classes"].get<std::vector<std::string>>());
    }
  }
  if (want.contains("referral")) CHECK(std::string(to_string(plan.referral.urgency)) == want["referral"].get<std::string>());
  if (want.contains("referral_rules")) {
    std::vector<std::string> ids;
    for (const auto& [pid, r] : plan.referral.reasons) ids.push_back(r->id);
    for (const auto& r : want["referral_rules"]) CHECK(std::find(ids.begin(), ids.end(), r.get<std::string>()) != ids.end());
  }
  if (want.contains("follow_up_within_days")) {
    REQUIRE(plan.follow_up.has_value());
    CHECK(plan.follow_up->within_days == want["follow_up_within_days"].get<int>());
  }
  if (want.contains("follow_up_rule")) CHECK(plan.follow_up->rule_id == want["follow_up_rule"].get<std::string>());
  if (want.contains("monitoring"))
    for (const auto& [measure, rule] : want["monitoring"].items()) {
      auto it = std::find_if(plan.monitoring.begin(), plan.monitoring.end(), [&](const PlanMonitoring& m) { return m.rule->measure == measure; });
      REQUIRE(it != plan.monitoring.end());
      CHECK(it->rule->id == rule.get<std::string>());
    }
  if (want.contains("lifestyle"))
    for (const auto& g : want["lifestyle"]) {
      const bool has = std::any_of(plan.lifestyle.begin(), plan.lifestyle.end(), [&](const PlanLifestyle& l) { return l.goal->id == g.get<std::string>(); });
      CHECK(has);
    }
  if (want.contains("no_lifestyle"))
    for (const auto& g : want["no_lifestyle"]) {
      const bool has = std::any_of(plan.lifestyle.begin(), plan.lifestyle.end(), [&](const PlanLifestyle& l) { return l.goal->id == g.get<std::string>(); });
      INFO("lifestyle goal " << g.get<std::string>() << " should not be in the plan");
      CHECK_FALSE(has);
    }
  if (want.contains("rationale"))
    for (const auto& r : want["rationale"]) {
      const bool has = std::any_of(plan.rationale.begin(), plan.rationale.end(), [&](const Fired& f) { return f.rule_id == r.get<std::string>(); });
      CHECK(has);
    }
  // Every plan renders in both languages.
  CHECK_FALSE(render_for_patient(plan, Language::en).empty());
  CHECK_FALSE(render_for_patient(plan, Language::zh_cn).empty());
}

void run_scenario(const std::filesystem::path& file) {
  std::ifstream in(file);
  const json sc = json::parse(in);
  REQUIRE(library().ok());
  Run run;
  run.name = file.filename().string();
  std::vector<const Protocol*> ps;
  for (const auto& id : sc.at("protocols")) ps.push_back(&protocol(id.get<std::string>()));
  auto set = ProtocolSet::make(ps);
  REQUIRE(set.ok());
  run.set = *set;
  run.settings = merged_alert_settings(run.set);
  const auto& timeline = sc.at("timeline");
  REQUIRE_FALSE(timeline.empty());
  const std::int64_t first_ms = instant(timeline[0].at("at"));
  run.patient = patient_of(sc.at("patient"), core::local_day(first_ms, offset_of(timeline[0].at("at"))));
  if (sc.contains("context")) run.ctx.consecutive_uncontrolled_visits = sc["context"].value("consecutive_uncontrolled_visits", 0);

  // Items in order of arrival; readings arriving together form one request.
  struct Item {
    std::int64_t received;
    std::size_t order;
    const json* j;
  };
  std::vector<Item> items;
  for (std::size_t i = 0; i < timeline.size(); ++i) {
    const auto& t = timeline[i];
    items.push_back({instant(t.contains("received") ? t["received"] : t.at("at")), i, &t});
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.received < b.received; });
  std::vector<std::pair<std::int64_t, const json*>> checkpoints;
  for (const auto& cp : sc.at("checkpoints")) checkpoints.emplace_back(instant(cp.at("at")), &cp);
  REQUIRE_FALSE(checkpoints.empty());

  std::size_t next_cp = 0;
  std::size_t i = 0;
  while (i < items.size() || next_cp < checkpoints.size()) {
    if (next_cp < checkpoints.size() && (i >= items.size() || checkpoints[next_cp].first < items[i].received)) {
      check_checkpoint(run, *checkpoints[next_cp].second, checkpoints[next_cp].first);
      ++next_cp;
      continue;
    }
    const std::int64_t received = items[i].received;
    std::vector<core::Reading> batch;
    for (; i < items.size() && items[i].received == received; ++i) {
      const json& t = *items[i].j;
      if (auto r = reading_of(t)) {
        batch.push_back(*r);
        continue;
      }
      if (!batch.empty()) {
        run.write_batch(batch, received);
        batch.clear();
      }
      const std::int64_t at_ms = instant(t.at("at"));
      if (t.contains("medication_change")) {
        const auto& m = t["medication_change"];
        const auto name = m.at("name").get<std::string>();
        auto& meds = run.patient.medications;
        meds.erase(std::remove_if(meds.begin(), meds.end(), [&](const core::Medication& x) { return x.name == name; }), meds.end());
        if (!m.value("stop", false))
          meds.push_back({name, m.at("dose").get<std::string>(), core::local_day(at_ms, offset_of(t.at("at")))});
        run.ctx.last_medication_change_day = core::local_day(at_ms, offset_of(t.at("at")));
      } else if (t.contains("acknowledge")) {
        const auto& a = t["acknowledge"];
        auto ev = run.book.acknowledge(a.at("signal").get<std::string>(), a.value("by", 1), at_ms,
                                       parse_ack_action(a.at("action").get<std::string>()).value(), a.value("note", ""));
        REQUIRE(ev.ok());
        run.events.push_back(*ev);
      } else if (t.contains("snooze")) {
        auto ev = run.book.snooze(t["snooze"].at("signal").get<std::string>(), instant(t["snooze"].at("until")), at_ms);
        REQUIRE(ev.ok());
        run.events.push_back(*ev);
      } else if (t.contains("resolve")) {
        auto ev = run.book.resolve(t["resolve"].at("signal").get<std::string>(), 1, at_ms);
        REQUIRE(ev.ok());
        run.events.push_back(*ev);
      } else if (t.contains("risk_high")) {
        run.ctx.risk = {{"framingham_hypertension_4y", t["risk_high"].get<bool>() ? 0.4 : 0.1, t["risk_high"].get<bool>()}};
      } else if (t.contains("follow_up_due")) {
        run.follow_up_due_day = core::parse_date_days(t["follow_up_due"].get<std::string>()).value();
      } else if (t.contains("visits_uncontrolled")) {
        run.ctx.consecutive_uncontrolled_visits = t["visits_uncontrolled"].get<int>();
      } else {
        FAIL("unknown timeline item " << t.dump());
      }
    }
    if (!batch.empty()) run.write_batch(batch, received);
  }
}

std::vector<std::filesystem::path> scenario_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(CARELOOP_SCENARIO_DIR))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string list(const std::vector<ThresholdCoverage::Side>& sides) {
  std::string out;
  for (const auto& s : sides)
    out += s.protocol + " " + s.rule + " " + s.pointer + ": never " +
           (s.missing_true && s.missing_false ? "evaluated" : s.missing_true ? "true" : "false") + "\n";
  return out;
}

}  // namespace

TEST_CASE("scenarios: every clinical scenario in tests/protocols/scenarios") {
  const auto files = scenario_files();
  CHECK(files.size() >= 40);
  for (const auto& f : files) {
    DYNAMIC_SECTION(f.filename().string()) { run_scenario(f); }
  }
}

namespace {

ThresholdCoverage make_coverage() {
  std::vector<std::string> errors;
  ThresholdCoverage cov(library().protocols, CARELOOP_PROTOCOL_DIR, errors);
  std::string text;
  for (const auto& e : errors) text += e + "\n";
  INFO(text);
  REQUIRE(errors.empty());
  return cov;
}

// Attaches a coverage to the driver for a scope (a failed REQUIRE unwinds through it).
struct Attached {
  explicit Attached(ThresholdCoverage& c) { coverage = &c; }
  ~Attached() { coverage = nullptr; }
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;
};

}  // namespace

// Issue 4 item 9: every rule with values on both sides of each threshold.
// Fails naming each (protocol, rule, JSON pointer of the leaf, side never seen).
TEST_CASE("threshold_coverage: every rule and condition leaf of the library is seen true and false by the scenarios") {
  REQUIRE(library().ok());
  ThresholdCoverage cov = make_coverage();
  {
    Attached attached(cov);
    for (const auto& f : scenario_files()) {
      INFO("scenario " << f.filename().string());
      run_scenario(f);
    }
  }
  const auto fig = cov.figures();
  std::cout << "threshold coverage: leaves " << fig.leaves_both << "/" << fig.leaves << " both sides (" << fig.leaves_allowed
            << " allow-listed), rules " << fig.rules_both << "/" << fig.rules << " fired and not fired, thresholds "
            << fig.thresholds_tight << "/" << fig.thresholds << " seen within one step on both sides, over " << fig.evaluations
            << " condition evaluations\n";
  if (const char* path = std::getenv("CARELOOP_COVERAGE_REPORT")) std::ofstream(path) << cov.report();
  std::string odd;
  for (const auto& m : cov.mismatches()) odd += "loaded and re-compiled condition disagree: " + m + "\n";
  for (const auto& a : cov.stale_allowances()) odd += "allow-list entry names no leaf: " + a + "\n";
  INFO(odd);
  CHECK(cov.mismatches().empty());
  CHECK(cov.stale_allowances().empty());
  const auto leaves = cov.uncovered_leaves();
  const auto rules = cov.uncovered_rules();
  INFO("uncovered leaves (" << leaves.size() << "):\n" << list(leaves) << "uncovered rules (" << rules.size() << "):\n" << list(rules));
  CHECK(leaves.empty());
  CHECK(rules.empty());
  // Just below and at each threshold: 179 and 180 mmHg, 16.6 and 16.7 mmol/L,
  // 13 and 14 days, a mean of 134 and 135 against a target of 135.
  std::string loose;
  for (const auto& l : cov.loose_thresholds()) loose += l + "\n";
  INFO("thresholds not seen within one step on both sides:\n" << loose);
  CHECK(loose.empty());
}

// The audit itself: one scenario leaves the other side of its leaves, and
// every rule of a protocol outside its set, uncovered.
TEST_CASE("threshold_coverage: one scenario alone leaves sides uncovered, named by pointer") {
  ThresholdCoverage cov = make_coverage();
  {
    Attached attached(cov);
    run_scenario(std::filesystem::path(CARELOOP_SCENARIO_DIR) / "01_bp_critical_180_opens.json");
  }
  const auto leaves = cov.uncovered_leaves();
  auto find = [&](const std::string& protocol, const std::string& pointer) -> const ThresholdCoverage::Side* {
    for (const auto& s : leaves)
      if (s.protocol == protocol && s.pointer == pointer) return &s;
    return nullptr;
  };
  // 180 systolic was seen at the threshold, never below it.
  const auto* sys180 = find("cn-hypertension-primary-2020", "/alert_rules/0/when/all/0/any/0");
  REQUIRE(sys180 != nullptr);
  CHECK(sys180->rule == "bp_critical_high");
  CHECK_FALSE(sys180->missing_true);
  CHECK(sys180->missing_false);
  // 100 diastolic is below 110: the false side only.
  const auto* dia110 = find("cn-hypertension-primary-2020", "/alert_rules/0/when/all/0/any/1");
  REQUIRE(dia110 != nullptr);
  CHECK(dia110->missing_true);
  CHECK_FALSE(dia110->missing_false);
  // The diabetes protocol was not in the set: never evaluated.
  const auto* glucose = find("cn-diabetes-primary-2022", "/alert_rules/0/when");
  REQUIRE(glucose != nullptr);
  CHECK((glucose->missing_true && glucose->missing_false));
  const auto fig = cov.figures();
  CHECK(fig.leaves_both < fig.leaves);
  CHECK(fig.evaluations > 0);
}
