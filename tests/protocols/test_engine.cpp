#include <algorithm>
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

#include "helpers.hpp"

using namespace careloop;
using namespace careloop::protocols;
using namespace careloop::protocols::test;
using nlohmann::json;

namespace {

// A hypertensive patient with a week of readings at `sys`/`dia`, evaluated at the end of it.
Snapshot week_of(double sys, double dia, core::Patient p, std::int64_t* now_out = nullptr) {
  core::PatientState st;
  const std::int64_t t0 = at("2026-03-02T08:00:00+08:00");
  for (int d = 0; d < 7; ++d) st.apply(bp(t0 + d * day_ms, sys, dia));
  const std::int64_t now = t0 + 6 * day_ms + hour_ms;
  if (now_out) *now_out = now;
  return make_snapshot(st, p, {}, now);
}

}  // namespace

TEST_CASE("engine: a plan names its protocol, targets with units, and each fired rule with its fact values") {
  const auto& cn = protocol("cn-hypertension-primary-2020");
  const auto p = patient(58, core::Sex::male, {"hypertension"}, core::days_from_civil(2026, 3, 8));
  const auto s = week_of(150, 95, p);
  const CarePlan plan = evaluate(s, cn);
  const json j = to_json(plan);
  CHECK(j["protocols"][0]["id"] == "cn-hypertension-primary-2020");
  CHECK(j["protocols"][0]["version"] == "2020.1");
  auto home = std::find_if(j["targets"].begin(), j["targets"].end(), [](const json& t) { return t["target"] == "bp.home_systolic_lt"; });
  REQUIRE(home != j["targets"].end());
  CHECK((*home)["value"] == 135);
  CHECK((*home)["unit"] == "mmHg");
  CHECK(j["follow_up"]["within_days"] == 14);
  CHECK(j["follow_up"]["due"] == "2026-03-22");
  CHECK(j["medication"][0]["action"] == "step_up");
  CHECK(j["medication"][0]["current_step"]["id"] == "lifestyle");
  CHECK(j["referral"]["urgency"] == "none");
  // The follow-up rule fired on the 7-day mean and count, against the target.
  auto fu = std::find_if(j["rationale"].begin(), j["rationale"].end(), [](const json& r) { return r["rule"] == "uncontrolled_2_weeks"; });
  REQUIRE(fu != j["rationale"].end());
  const std::string facts = (*fu)["facts"].dump();
  CHECK_THAT(facts, Catch::Contains(R"({"fact":"bp.mean_7d.systolic","unit":"mmHg","value":150.0})"));
  CHECK_THAT(facts, Catch::Contains(R"({"fact":"bp.count_7d","value":7.0})"));
  CHECK_THAT(facts, Catch::Contains(R"("fact":"target.bp.home_systolic_lt","unit":"mmHg","value":135.0)"));
  // A monitoring rule that read a fact without data says so.
  const std::string all = j["rationale"].dump();
  CHECK_THAT(all, Catch::Contains(R"({"fact":"medication.days_since_change","note":"no data","value":null})"));
}

TEST_CASE("engine: the patient's plan renders in English and Chinese") {
  const auto& cn = protocol("cn-hypertension-primary-2020");
  const auto& dm = protocol("cn-diabetes-primary-2022");
  auto set = ProtocolSet::make({&cn, &dm});
  REQUIRE(set.ok());
  const auto p = patient(60, core::Sex::female, {"hypertension", "diabetes_t2"}, core::days_from_civil(2026, 3, 8));
  const CarePlan plan = evaluate(week_of(128, 78, p), *set);
  const auto en = render_for_patient(plan, Language::en);
  const auto zh = render_for_patient(plan, Language::zh_cn);
  CHECK_THAT(en, Catch::Contains("Home blood pressure target: below 130/80 mmHg"));
  CHECK_THAT(en, Catch::Contains("Fasting glucose target: 4.4–7 mmol/L"));
  CHECK_THAT(en, Catch::Contains("HbA1c target: below 7 %"));
  CHECK_THAT(zh, Catch::Contains("家庭血压目标：低于 130/80 mmHg"));
  CHECK_THAT(zh, Catch::Contains("下次随访"));
  CHECK(plan.protocols.size() == 2);
  CHECK(plan.medication.size() == 2);
}

TEST_CASE("engine: critical rules alone for the in-transaction path") {
  const auto& who = protocol("who-hearts-hypertension-2021");
  const auto p = patient(58, core::Sex::male, {"hypertension"}, core::days_from_civil(2026, 3, 8));
  const auto s = week_of(185, 100, p);
  const auto critical = evaluate_alerts(s, who, TierFilter::critical);
  REQUIRE(critical.size() == 1);
  CHECK(critical[0].signal == "bp_high");
  CHECK(critical[0].tier == Tier::critical);
  CHECK(evaluate_alerts(s, who, TierFilter::warning).at(0).rule_id == "bp_above_target");
  const auto all = evaluate_alerts(s, who, TierFilter::all);
  REQUIRE(all.size() == 1);  // one signal: the critical rule wins over the warning
  CHECK(all[0].rule_id == "bp_critical_high");
  CHECK(to_json(all[0])["message"]["zh-CN"].get<std::string>().find("180/110") != std::string::npos);
  // Not applicable (no diabetes): its warnings stay silent, but a critical reading is an emergency in anyone.
  const auto& dm = protocol("cn-diabetes-primary-2022");
  CHECK(evaluate_alerts(s, dm, TierFilter::warning).empty());
  const auto from_dm = evaluate_alerts(s, dm, TierFilter::all);
  CHECK(std::all_of(from_dm.begin(), from_dm.end(), [](const AlertSignal& a) { return a.tier == Tier::critical; }));
  const auto calm = week_of(128, 80, p);
  CHECK(evaluate_alerts(calm, dm, TierFilter::all).empty());
}

TEST_CASE("engine: a pregnant patient is never suggested a forbidden class, whatever the readings and regimen") {
  const char* forbidden[] = {"acei", "arb", "thiazide", "statin"};
  std::mt19937 rng(20260302);
  const std::vector<std::vector<core::Medication>> regimens = {
      {},
      {{"amlodipine", "5 mg", 0}},
      {{"amlodipine", "10 mg", 0}},
      {{"amlodipine", "10 mg", 0}, {"telmisartan", "40 mg", 0}},
      {{"amlodipine", "10 mg", 0}, {"telmisartan", "80 mg", 0}, {"chlorthalidone", "25 mg", 0}},
      {{"nifedipine", "30 mg", 0}, {"labetalol", "100 mg", 0}},
      {{"enalapril", "10 mg", 0}},
  };
  int checked = 0;
  for (const char* id : {"who-hearts-hypertension-2021", "cn-hypertension-primary-2020"}) {
    const auto& pr = protocol(id);
    for (int i = 0; i < 200; ++i) {
      auto p = patient(20 + static_cast<int>(rng() % 25), core::Sex::female, {"hypertension"}, core::days_from_civil(2026, 3, 8));
      p.pregnant = true;
      p.medications = regimens[rng() % regimens.size()];
      const CarePlan plan = evaluate(week_of(120 + rng() % 70, 70 + rng() % 40, p), pr);
      REQUIRE(plan.medication.size() == 1);
      const auto& m = plan.medication[0];
      CHECK_FALSE(m.cautions.empty());
      for (const auto* option : m.options)
        for (const auto& comp : *option) {
          const bool all_forbidden = std::all_of(comp.classes.begin(), comp.classes.end(), [&](const std::string& c) {
            return std::find(std::begin(forbidden), std::end(forbidden), c) != std::end(forbidden);
          });
          CHECK_FALSE(all_forbidden);
          ++checked;
        }
    }
  }
  CHECK(checked > 100);
}

TEST_CASE("engine: alert settings of a set, and a missing programme's targets fall back") {
  const auto& cn = protocol("cn-hypertension-primary-2020");
  const auto& dm = protocol("cn-diabetes-primary-2022");
  auto set = ProtocolSet::make({&cn, &dm});
  REQUIRE(set.ok());
  const auto s = merged_alert_settings(*set);
  CHECK(s.escalate_critical_after_ms == 2 * hour_ms);
  CHECK(s.auto_resolve_ms("bp_low") == 72 * hour_ms);
  CHECK(s.auto_resolve_ms("stale_data") == 0);
  CHECK(s.auto_resolve_ms("follow_up_overdue") == 0);
  CHECK(s.auto_resolve_ms("risk_high:framingham_hypertension_4y") == 0);
  // Diabetes without hypertension: the BP target comes from the diabetes protocol.
  const auto p = patient(50, core::Sex::male, {"diabetes_t2"}, core::days_from_civil(2026, 3, 8));
  const CarePlan plan = evaluate(week_of(128, 78, p), *set);
  REQUIRE(plan.protocols.size() == 1);
  auto home = std::find_if(plan.targets.begin(), plan.targets.end(), [](const PlanTarget& t) { return t.key == TargetKey::bp_home_systolic_lt; });
  REQUIRE(home != plan.targets.end());
  CHECK(home->value == 130);
  CHECK(home->protocol_id == "cn-diabetes-primary-2022");
}

TEST_CASE("engine: rule_facts are the facts a protocol's rules read: merged targets, its own ladder facts") {
  const auto& cn = protocol("cn-hypertension-primary-2020");
  const auto& dm = protocol("cn-diabetes-primary-2022");
  auto set = ProtocolSet::make({&cn, &dm});
  REQUIRE(set.ok());
  const std::int64_t today = core::days_from_civil(2026, 3, 8);
  auto p = patient(58, core::Sex::male, {"hypertension", "diabetes_t2"}, today);
  p.medications = {{"amlodipine", "5 mg", today - 40}, {"metformin", "500 mg", today - 100}};
  const auto s = week_of(150, 95, p);
  const auto htn = rule_facts(s, *set, cn);
  const auto diab = rule_facts(s, *set, dm);
  const auto fact = [](const std::array<double, max_facts>& f, const char* name) { return f[*find_fact(name)]; };
  // BP target from the hypertension protocol's diabetes group; HbA1c from the diabetes protocol; both see both.
  CHECK(fact(htn, "target.bp.home_systolic_lt") == 130);
  CHECK(fact(diab, "target.bp.home_systolic_lt") == 130);
  CHECK(fact(htn, "target.hba1c_lt") == 7);
  // Each protocol's own ladder: one drug (CCB) on ABCD for 40 days, metformin on the diabetes ladder for 100.
  CHECK(fact(htn, "ladder.current_step") == 1);
  CHECK(fact(htn, "ladder.days_at_step") == 40);
  CHECK(fact(diab, "ladder.current_step") == 1);
  CHECK(fact(diab, "ladder.days_at_step") == 100);
  // The snapshot's own facts pass through.
  CHECK(fact(htn, "bp.mean_7d.systolic") == 150);
  // A protocol that does not apply gets no ladder facts (its critical rules run without them).
  auto p2 = patient(58, core::Sex::male, {"diabetes_t2"}, today);
  p2.medications = {{"amlodipine", "5 mg", today - 40}};
  const auto s2 = week_of(150, 95, p2);
  CHECK(std::isnan(fact(rule_facts(s2, *set, cn), "ladder.current_step")));
  CHECK(fact(rule_facts(s2, *set, cn), "target.bp.home_systolic_lt") == 130);
}
