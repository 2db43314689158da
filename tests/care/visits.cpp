// care/src/visits.cpp: a recorded visit with its audit entry, resends,
// refusals that name the field, and what visits mean for the plan (two
// consecutive uncontrolled visits: referral) and the follow-up due date.
#include <catch2/catch.hpp>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "careloop/care/plans.hpp"
#include "careloop/care/visits.hpp"
#include "helpers.hpp"

using namespace careloop;
using namespace careloop::care;
using namespace careloop::care::testing;

namespace {

constexpr std::int64_t day_ms = 86'400'000;

VisitInput input(World& w, std::int64_t by, std::string client_id, std::int64_t at_ms, std::string classification) {
  VisitInput v;
  v.patient_id = w.patient;
  v.client_id = std::move(client_id);
  v.visited_at = {at_ms, 480};
  v.kind = "clinic";
  v.classification = std::move(classification);
  v.by_user_id = by;
  v.note = "血压 150/95，加强限盐";
  v.remote_addr = "10.0.0.7";
  return v;
}

core::Result<RecordedVisit> record(World& w, VisitInput v) {
  return store::wait_for<RecordedVisit>([&](auto done) { record_visit(*w.st, std::move(v), done); });
}

store::VisitRow visit_on(std::int64_t day, const std::string& classification) {
  store::VisitRow v;
  v.visited_at = {day * day_ms + 2 * 3'600'000, 0};
  v.classification = classification;
  return v;
}

}  // namespace

TEST_CASE("visits: recorded once with its audit entry, a resend returns the same visit") {
  World w;
  const auto doctor = a_doctor(w);
  const std::int64_t at = core::now_utc_ms() - 3'600'000;
  auto first = record(w, input(w, doctor, "0b6a4f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", at, "uncontrolled"));
  REQUIRE(first);
  CHECK(first->created);
  CHECK(first->row.id > 0);
  CHECK(first->row.clinic_id == w.place.clinic_id);

  auto again = record(w, input(w, doctor, "0b6a4f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", at, "uncontrolled"));
  REQUIRE(again);
  CHECK_FALSE(again->created);
  CHECK(again->row.id == first->row.id);

  // The same client id for a different visit is a conflict, and nothing changes.
  auto other = record(w, input(w, doctor, "0b6a4f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", at, "controlled"));
  REQUIRE_FALSE(other);
  CHECK(other.error().code == core::Errc::conflict);

  const auto stored = w.st->visits(w.patient, 10);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].classification == "uncontrolled");
  CHECK(stored[0].by_name == "dr.li");
  CHECK(stored[0].note == "血压 150/95，加强限盐");
  const auto j = visit_json(stored[0]);
  CHECK(j["kind"] == "clinic");
  CHECK(j["visited_at"].get<std::string>().ends_with("+08:00"));

  int recorded = 0;
  for (const auto& e : w.st->audit_log(w.patient, 20))
    if (e.action == "visit.record") ++recorded;
  CHECK(recorded == 1);
}

TEST_CASE("visits: bad fields are refused by name and nothing is stored") {
  World w;
  const auto doctor = a_doctor(w);
  auto v = input(w, doctor, "Not A UUID!", core::now_utc_ms() + 2 * day_ms, "fine");
  v.kind = "video";
  auto r = record(w, v);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == core::Errc::invalid);
  std::vector<std::string> fields;
  for (const auto& f : r.error().fields) fields.push_back(f.pointer);
  CHECK(fields == std::vector<std::string>{"/client_id", "/visited_at", "/kind", "/classification"});
  CHECK(w.st->visits(w.patient, 10).empty());

  auto unknown = input(w, doctor, "a1", core::now_utc_ms(), "controlled");
  unknown.patient_id = 987654;
  auto nf = record(w, unknown);
  REQUIRE_FALSE(nf);
  CHECK(nf.error().code == core::Errc::not_found);
}

TEST_CASE("visits: consecutive uncontrolled visits count back from the newest") {
  CHECK(consecutive_uncontrolled({}) == 0);
  CHECK(consecutive_uncontrolled({visit_on(30, "uncontrolled"), visit_on(20, "uncontrolled"), visit_on(10, "controlled")}) == 2);
  CHECK(consecutive_uncontrolled({visit_on(30, "controlled"), visit_on(20, "uncontrolled")}) == 0);
  CHECK(consecutive_uncontrolled({visit_on(30, "uncontrolled"), visit_on(20, "adverse_reaction"), visit_on(10, "uncontrolled")}) == 1);
}

TEST_CASE("visits: the follow-up due date moves to the newest visit since the interval began") {
  // A plan made on day 100 asking for a visit within 14 days: due day 114.
  CHECK(follow_up_due_day(114, 14, {}) == 114);
  CHECK(follow_up_due_day(114, 14, {visit_on(99, "controlled")}) == 114);   // before the plan's interval
  CHECK(follow_up_due_day(114, 14, {visit_on(100, "controlled")}) == 114);  // on its first day
  CHECK(follow_up_due_day(114, 14, {visit_on(108, "controlled"), visit_on(90, "controlled")}) == 122);
  CHECK(follow_up_due_day(114, 14, {visit_on(120, "uncontrolled")}) == 134);  // a late visit still counts
}

TEST_CASE("visits: two consecutive uncontrolled visits put a referral in the proposed plan") {
  World w;
  const auto doctor = a_doctor(w);
  Planner planner(*w.st, w.library);
  const std::int64_t now = core::now_utc_ms();
  insert(*w.st, w.patient, {bp("b1", now - 3'600'000, 138, 84)});
  auto referral_rules = [&] {
    must(planner.propose(w.patient, core::now_utc_ms()));
    std::vector<std::string> rules;
    const auto rows = w.st->care_plans(w.patient);
    REQUIRE_FALSE(rows.empty());
    const auto plan = nlohmann::json::parse(rows.front().plan_json);
    for (const auto& r : plan["referral"]["reasons"]) rules.push_back(r["rule"]);
    return rules;
  };
  REQUIRE(record(w, input(w, doctor, "v1", now - 40 * day_ms, "uncontrolled")));
  auto one = referral_rules();
  CHECK(std::find(one.begin(), one.end(), "two_uncontrolled_visits") == one.end());
  REQUIRE(record(w, input(w, doctor, "v2", now - 10 * day_ms, "uncontrolled")));
  auto two = referral_rules();
  CHECK(std::find(two.begin(), two.end(), "two_uncontrolled_visits") != two.end());
  // Controlled at the next visit: the criterion no longer holds.
  REQUIRE(record(w, input(w, doctor, "v3", now - 3'600'000, "controlled")));
  auto after = referral_rules();
  CHECK(std::find(after.begin(), after.end(), "two_uncontrolled_visits") == after.end());
}
