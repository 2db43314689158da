// care/src/plans.cpp and plan_edit.cpp: a new proposed version only when the
// plan's content changed, the supersede rules, approve / edit / reject with
// their audit entries, the edit's validation, and that the patient sees only
// approved versions.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "careloop/care/plans.hpp"
#include "helpers.hpp"

using namespace careloop;
using namespace careloop::care;
using namespace careloop::care::testing;
using nlohmann::json;

namespace {

constexpr std::int64_t hour_ms = 3'600'000;

// A week of home blood pressures, morning and evening, ending now.
void bp_week(World& w, const std::string& tag, double sys, double dia) {
  std::vector<core::Reading> rs;
  const auto now = core::now_utc_ms();
  for (int i = 0; i < 14; ++i)
    rs.push_back(bp(tag + std::to_string(i), now - (13 - i) * 12 * hour_ms - hour_ms, sys + (i % 3), dia + (i % 2)));
  insert(*w.st, w.patient, std::move(rs));
}

core::Result<store::CarePlanRow> decide(World& w, PlanDecision d) {
  d.patient_id = d.patient_id ? d.patient_id : w.patient;
  return store::wait_for<store::CarePlanRow>([&](auto done) { decide_plan(*w.st, w.library, d, done); });
}

Planner::Proposal propose(World& w, const Planner& planner) { return must(planner.propose(w.patient, core::now_utc_ms())); }

std::vector<std::string> statuses(World& w) {
  std::vector<std::string> out;
  for (const auto& r : w.st->care_plans(w.patient)) out.push_back(std::to_string(r.version) + ":" + r.status);
  return out;
}

bool feed_has_plan(World& w) {
  for (const auto& c : w.st->changes(w.patient, 0, 10'000))
    if (c.care_plan) return true;
  return false;
}

std::string field_of(const core::Error& e) { return e.fields.empty() ? std::string() : e.fields.front().pointer; }

}  // namespace

TEST_CASE("plans: a new version only when the content changes, an older proposal is superseded") {
  World w;
  Planner planner(*w.st, w.library);
  bp_week(w, "calm", 124, 76);
  const auto first = propose(w, planner);
  REQUIRE(first.changed);
  REQUIRE(first.proposed);
  CHECK(first.proposed->version == 1);
  CHECK(first.proposed->status == "proposed");
  const auto plan = json::parse(first.proposed->plan_json);
  CHECK(plan["protocols"].size() == 2);  // hypertension and diabetes
  CHECK_FALSE(plan.contains("rationale"));
  CHECK(json::parse(first.proposed->rationale_json).is_array());
  CHECK(first.proposed->protocol_ids == "cn-hypertension-primary-2020,cn-diabetes-primary-2022");

  // Evaluated again (later, so generated_at differs): the same plan, no new version.
  const auto again = propose(w, planner);
  CHECK_FALSE(again.changed);
  REQUIRE(again.proposed);
  CHECK(again.proposed->version == 1);

  // A week far above target changes the plan: version 2, and version 1 is superseded.
  bp_week(w, "high", 168, 102);
  const auto second = propose(w, planner);
  REQUIRE(second.changed);
  CHECK(second.proposed->version == 2);
  CHECK(plan_content(json::parse(second.proposed->plan_json)) != plan_content(plan));
  CHECK(statuses(w) == std::vector<std::string>{"2:proposed", "1:superseded"});

  // The patient sees none of it.
  CHECK_FALSE(w.st->approved_care_plan(w.patient));
  CHECK_FALSE(feed_has_plan(w));
}

TEST_CASE("plans: the content ignores what moves with the clock alone") {
  const json a = {{"generated_at", "2026-11-01T00:00:00Z"},
                  {"follow_up", {{"within_days", 30}, {"due", "2026-12-01"}}},
                  {"medication", {{{"action", "wait"}, {"reason", "at one_drug for 3 days"}}}},
                  {"targets", json::array()}};
  json b = a;
  b["generated_at"] = "2026-11-02T00:00:00Z";
  b["follow_up"]["due"] = "2026-12-02";
  b["medication"][0]["reason"] = "at one_drug for 4 days";
  CHECK(plan_content(a) == plan_content(b));
  b["follow_up"]["within_days"] = 14;
  CHECK(plan_content(a) != plan_content(b));
  b = a;
  b["medication"][0]["action"] = "step_up";
  CHECK(plan_content(a) != plan_content(b));
}

TEST_CASE("plans: approve makes it the patient's plan, the next approval supersedes it") {
  World w;
  Planner planner(*w.st, w.library);
  const auto doctor = a_doctor(w, "dr.zhang", "Dr Zhang");
  bp_week(w, "calm", 124, 76);
  const auto v1 = propose(w, planner).proposed->version;

  PlanDecision d;
  d.version = v1;
  d.by_user_id = doctor;
  d.note = "reviewed with the patient";
  d.remote_addr = "10.0.0.9";
  const auto approved = must(decide(w, d));
  CHECK(approved.status == "approved");
  CHECK(approved.decided_by == doctor);
  CHECK(approved.decided_by_name == "Dr Zhang");
  CHECK(approved.decision_note == std::optional<std::string>("reviewed with the patient"));
  REQUIRE(w.st->approved_care_plan(w.patient));
  CHECK(w.st->approved_care_plan(w.patient)->version == v1);
  CHECK(feed_has_plan(w));
  const auto audit = w.st->audit_log(w.patient, 5);
  REQUIRE_FALSE(audit.empty());
  CHECK(audit.front().action == "care_plan.approve");
  CHECK(audit.front().actor_user_id == doctor);
  CHECK(audit.front().remote_addr == "10.0.0.9");

  // Only a proposal can be decided.
  auto twice = decide(w, d);
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().code == core::Errc::conflict);
  d.version = 99;
  CHECK(decide(w, d).error().code == core::Errc::not_found);

  // The approved plan is a baseline: the same evaluation proposes nothing.
  CHECK_FALSE(propose(w, planner).changed);

  bp_week(w, "high", 168, 102);
  const auto v2 = propose(w, planner).proposed->version;
  CHECK(statuses(w) == std::vector<std::string>{"2:proposed", "1:approved"});
  d.version = v2;
  must(decide(w, d));
  CHECK(statuses(w) == std::vector<std::string>{"2:approved", "1:superseded"});
  CHECK(w.st->approved_care_plan(w.patient)->version == v2);
}

TEST_CASE("plans: a rejection needs a reason, and the rejected plan is not proposed again") {
  World w;
  Planner planner(*w.st, w.library);
  const auto doctor = a_doctor(w, "dr.zhang", "Dr Zhang");
  bp_week(w, "calm", 124, 76);
  const auto v1 = propose(w, planner).proposed->version;
  PlanDecision d;
  d.kind = PlanDecisionKind::reject;
  d.version = v1;
  d.by_user_id = doctor;
  auto no_reason = decide(w, d);
  REQUIRE_FALSE(no_reason.ok());
  CHECK(no_reason.error().code == core::Errc::invalid);
  CHECK(field_of(no_reason.error()) == "/reason");
  CHECK(statuses(w) == std::vector<std::string>{"1:proposed"});

  d.note = "patient is moving to another clinic";
  const auto rejected = must(decide(w, d));
  CHECK(rejected.status == "rejected");
  CHECK(rejected.decision_note == std::optional<std::string>(d.note));
  CHECK(w.st->audit_log(w.patient, 1).front().action == "care_plan.reject");
  CHECK_FALSE(w.st->approved_care_plan(w.patient));
  CHECK_FALSE(feed_has_plan(w));

  CHECK_FALSE(propose(w, planner).changed);  // same content as the rejected one
  bp_week(w, "high", 168, 102);
  CHECK(propose(w, planner).changed);        // the engine's plan changed
}

TEST_CASE("plans: an edit is a new approved version with its JSON Patch from the proposal") {
  World w;
  Planner planner(*w.st, w.library);
  const auto doctor = a_doctor(w, "dr.zhang", "Dr Zhang");
  bp_week(w, "calm", 124, 76);
  const auto proposal = *propose(w, planner).proposed;
  json edited = json::parse(proposal.plan_json);
  std::size_t at = 0;
  for (; at < edited["targets"].size(); ++at)
    if (edited["targets"][at]["target"] == "bp.home_systolic_lt") break;
  REQUIRE(at < edited["targets"].size());
  edited["targets"][at]["value"] = 125;

  PlanDecision d;
  d.kind = PlanDecisionKind::edit;
  d.version = proposal.version;
  d.by_user_id = doctor;
  d.note = "tighter target: CKD";
  d.edited_plan = edited;
  const auto v = must(decide(w, d));
  CHECK(v.status == "approved");
  CHECK(v.version == proposal.version + 1);
  CHECK(v.edited_from == std::optional<int>(proposal.version));
  REQUIRE(v.diff_json);
  const json patch = json::parse(*v.diff_json);
  CHECK(patch == json::array({{{"op", "replace"}, {"path", "/targets/" + std::to_string(at) + "/value"}, {"value", 125}}}));
  // The patch turns the proposal into the stored edit.
  CHECK(json::parse(proposal.plan_json).patch(patch) == json::parse(v.plan_json));
  CHECK(statuses(w) == std::vector<std::string>{"2:approved", "1:superseded"});
  CHECK(w.st->audit_log(w.patient, 1).front().action == "care_plan.edit");
  CHECK_THAT(patient_plan_json(v)["text"]["en"].get<std::string>(), Catch::Contains("below 125/"));
  CHECK(feed_has_plan(w));

  // The engine still proposes what the doctor edited: not proposed again.
  CHECK_FALSE(propose(w, planner).changed);
}

TEST_CASE("plans: an edit is validated against the protocols, each error naming its field") {
  World w;
  const auto proposal_row = *must(Planner(*w.st, w.library).propose(w.patient, core::now_utc_ms())).proposed;
  const json proposal = json::parse(proposal_row.plan_json);
  auto error_of = [&](const json& edited) {
    auto r = validate_edit(proposal, edited, *w.library);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == core::Errc::invalid);
    return field_of(r.error());
  };
  CHECK(validate_edit(proposal, proposal, *w.library).ok());

  json e = proposal;
  e["dose_note"] = "x";
  CHECK(error_of(e) == "/plan/dose_note");

  e = proposal;
  e["targets"] = json::array({{{"target", "bp.home_systolic_lt"}, {"value", 300}}});
  CHECK(error_of(e) == "/plan/targets/0/value");
  e["targets"] = json::array({{{"target", "bp.sitting_lt"}, {"value", 130}}});
  CHECK(error_of(e) == "/plan/targets/0/target");
  e["targets"] = json::array({{{"target", "bp.home_systolic_lt"}, {"value", 130}, {"unit", "kPa"}}});
  CHECK(error_of(e) == "/plan/targets/0/unit");
  e["targets"] = json::array({{{"target", "bp.home_systolic_lt"}, {"value", 120}}, {{"target", "bp.home_diastolic_lt"}, {"value", 90}}});
  CHECK(validate_edit(proposal, e, *w.library).ok());
  e["targets"][1]["value"] = 100;
  e["targets"][0]["value"] = 100;
  CHECK(error_of(e) == "/plan/targets");

  e = proposal;
  REQUIRE(e["medication"].size() == 2);
  e["medication"][0]["suggested_step"] = {{"id", "four_drugs"}};
  CHECK(error_of(e) == "/plan/medication/0/suggested_step/id");
  e["medication"][0]["suggested_step"] = {{"id", "two_drugs"}};
  const auto stepped = validate_edit(proposal, e, *w.library);
  REQUIRE(stepped.ok());
  CHECK((*stepped)["medication"][0]["suggested_step"]["number"] == 2);
  CHECK_FALSE((*stepped)["medication"][0]["options"].empty());
  e["medication"].erase(1);
  CHECK(error_of(e) == "/plan/medication");

  e = proposal;
  e["follow_up"] = {{"within_days", 0}};
  CHECK(error_of(e) == "/plan/follow_up/within_days");
  e["follow_up"] = {{"within_days", 14}};
  const auto sooner = validate_edit(proposal, e, *w.library);
  REQUIRE(sooner.ok());
  CHECK((*sooner)["follow_up"]["within_days"] == 14);

  e = proposal;
  e["lifestyle"] = json::array({{{"id", "yoga"}, {"protocol", "cn-diabetes-primary-2022"}}});
  CHECK(error_of(e) == "/plan/lifestyle/0/id");
  e["lifestyle"] = json::array({{{"id", "salt"}, {"protocol", "cn-hypertension-primary-2020"}, {"text", "eat salt"}}});
  const auto salty = validate_edit(proposal, e, *w.library);
  REQUIRE(salty.ok());
  CHECK((*salty)["lifestyle"][0]["text"]["en"] != "eat salt");  // the protocol's words, not the request's

  e = proposal;
  e["referral"] = {{"urgency", "soon"}};
  CHECK(error_of(e) == "/plan/referral/urgency");
  e = proposal;
  e["monitoring"] = json::array({{{"rule", "bp_intensive_week"}, {"protocol", "cn-hypertension-primary-2020"}, {"days_per_week", 2}}});
  CHECK(error_of(e) == "/plan/monitoring/0/days_per_week");
  e = proposal;
  e["protocols"] = json::array();
  CHECK(error_of(e) == "/plan/protocols");
}

TEST_CASE("plans: an edit may not choose a step the active cautions forbid (pregnancy)") {
  World w;
  core::Patient p = sample_patient(w.place.clinic_id, "Li Na");
  p.birth_date = core::days_from_civil(1994, 5, 2);
  p.pregnant = true;
  p.comorbidities.clear();
  p.diagnoses = {{std::string(core::dx_hypertension), core::days_from_civil(2025, 6, 1)}};
  p.medications = {{"labetalol", "100 mg twice daily", core::days_from_civil(2025, 6, 1)}};
  const auto id = must(store::wait_for<std::int64_t>([&](auto done) { w.st->add_patient(p, done); }));
  const auto row = *must(Planner(*w.st, w.library).propose(id, core::now_utc_ms())).proposed;
  const json proposal = json::parse(row.plan_json);
  REQUIRE(proposal["medication"].size() == 1);
  REQUIRE_FALSE(proposal["medication"][0]["cautions"].empty());
  json e = proposal;
  e["medication"][0]["suggested_step"] = {{"id", "three_drugs"}};
  auto r = validate_edit(proposal, e, *w.library);
  REQUIRE_FALSE(r.ok());
  CHECK(field_of(r.error()) == "/plan/medication/0/suggested_step/id");
  CHECK_THAT(r.error().fields.front().detail, Catch::Contains("pregnancy"));
  e["medication"][0]["suggested_step"] = {{"id", "one_drug"}};
  auto ok = validate_edit(proposal, e, *w.library);
  REQUIRE(ok.ok());
  for (const auto& option : (*ok)["medication"][0]["options"])
    for (const auto& c : option)
      for (const auto& cls : c["class"]) CHECK(cls != "acei");
}

TEST_CASE("plans: a clinic's protocol choice decides what the planner uses") {
  World w;
  Planner planner(*w.st, w.library);
  CHECK(w.st->clinic_protocols(w.place.clinic_id).empty());
  CHECK(set_clinic_protocols(*w.st, *w.library, w.place.clinic_id, {"who-hearts-hypertension-2021"}).ok());
  CHECK(w.st->clinic_protocols(w.place.clinic_id) == std::vector<std::string>{"who-hearts-hypertension-2021"});
  const auto row = *propose(w, planner).proposed;
  // The choice names hypertension only: diabetes keeps the deployment's protocol.
  CHECK(row.protocol_ids == "who-hearts-hypertension-2021,cn-diabetes-primary-2022");
  CHECK(json::parse(row.protocols_json)[0]["version"] == "2021.1");

  auto two = set_clinic_protocols(*w.st, *w.library, w.place.clinic_id,
                                  {"who-hearts-hypertension-2021", "cn-hypertension-primary-2020"});
  CHECK(two.error().code == core::Errc::invalid);
  CHECK(set_clinic_protocols(*w.st, *w.library, w.place.clinic_id, {"nope"}).error().code == core::Errc::invalid);
  CHECK(set_clinic_protocols(*w.st, *w.library, 9999, {}).error().code == core::Errc::not_found);
  CHECK(w.st->clinic_protocols(w.place.clinic_id) == std::vector<std::string>{"who-hearts-hypertension-2021"});

  // Back to the deployment's set: the plan changes protocols, so a new version.
  CHECK(set_clinic_protocols(*w.st, *w.library, w.place.clinic_id, {}).ok());
  const auto back = propose(w, planner);
  CHECK(back.changed);
  CHECK(back.proposed->protocol_ids == "cn-hypertension-primary-2020,cn-diabetes-primary-2022");
  CHECK(statuses(w) == std::vector<std::string>{"2:proposed", "1:superseded"});
}

TEST_CASE("plans: propose_all walks every patient in batches") {
  World w;
  const auto second = add_patient(*w.st, w.place.clinic_id, "Zhao Lei");
  Planner planner(*w.st, w.library);
  std::vector<std::int64_t> seen;
  const auto sum = must(planner.propose_all(core::now_utc_ms(), 1, [&](std::int64_t done, std::int64_t total) {
    CHECK(total == 2);
    seen.push_back(done);
  }));
  CHECK(seen == std::vector<std::int64_t>{1, 2});
  CHECK(sum.patients == 2);
  CHECK(sum.proposed == 2);
  CHECK(w.st->care_plans(second).size() == 1);
  const auto rerun = must(planner.propose_all(core::now_utc_ms(), 10, nullptr));
  CHECK(rerun.proposed == 0);
  CHECK(rerun.unchanged == 2);
}

TEST_CASE("plans: the replanner runs once after a burst of schedules") {
  World w;
  Planner planner(*w.st, w.library);
  boost::asio::thread_pool pool(1);
  Replanner replanner(planner, pool, std::chrono::milliseconds(50));
  for (int i = 0; i < 5; ++i) replanner.schedule(w.patient);
  for (int i = 0; i < 500 && replanner.planned() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(replanner.planned() == 1);
  CHECK(w.st->care_plans(w.patient).size() == 1);
  replanner.stop();
  pool.join();
}
