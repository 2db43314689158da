// care/src/critical_alerts.cpp: the critical tier inside the writer's
// transaction — one alert per patient per signal, repeats counted, the
// patient told what to do, the clinic's stream woken after the commit.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "careloop/core/patient_state.hpp"
#include "helpers.hpp"

using namespace careloop;
using namespace careloop::care;
using namespace careloop::care::testing;

TEST_CASE("a critical blood pressure opens one alert and tells the patient what to do") {
  World w;
  int woken = 0;
  auto sub = w.hub->subscribe(w.place.clinic_id, [&] { ++woken; });
  w.send_bp("a", 185, 122, 3);
  const auto open = w.alerts("open");
  REQUIRE(open.size() == 1);
  const auto& a = open[0];
  CHECK(a.signal == "bp_high");
  CHECK(a.tier == "critical");
  CHECK(a.count == 1);
  CHECK(a.rule_id == "bp_critical_high");
  CHECK(a.protocol_id == "cn-hypertension-primary-2020");
  CHECK(a.reason.find("180/110") != std::string::npos);
  CHECK(a.advice_zh.find("5分钟") != std::string::npos);
  CHECK(a.advice_en.find("notified") != std::string::npos);
  CHECK(woken == 1);

  const auto events = w.st->clinic_events(w.place.clinic_id, 0, 10);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == "alert.opened");
  CHECK(events[0].alert_id == a.id);
  CHECK(nlohmann::json::parse(events[0].payload_json)["alert"]["id"] == a.id);

  const auto feed = w.st->changes(w.patient, 0, 100);
  REQUIRE(feed.size() == 2);  // the reading, then the alert
  CHECK(feed[1].entity == "alert");
  REQUIRE(feed[1].alert);
  CHECK(feed[1].alert->advice_zh == a.advice_zh);
}

TEST_CASE("a repeat updates the open alert: count 2 and the latest values") {
  World w;
  w.send_bp("a", 185, 122, 3);
  w.send_bp("b", 190, 118, 1);
  const auto all = w.alerts();
  REQUIRE(all.size() == 1);
  CHECK(all[0].count == 2);
  CHECK(all[0].latest_value_json.find("190") != std::string::npos);
  const auto events = w.st->clinic_events(w.place.clinic_id, 0, 10);
  REQUIRE(events.size() == 2);
  CHECK(events[1].kind == "alert.updated");
  // A duplicate upload is not a repeat.
  const auto dup = insert(*w.st, w.patient, {store::testing::bp("b", 0, 190, 118)});
  CHECK(dup[0].status == store::InsertStatus::duplicate);
  CHECK(w.alerts()[0].count == 2);
}

TEST_CASE("a normal reading opens nothing and tells the patient nothing") {
  World w;
  w.send_bp("a", 128, 82, 3);
  w.send_bp("b", 150, 95, 2);  // above target, but not critical: the warning tier runs after the commit
  CHECK(w.alerts().empty());
  CHECK(w.st->clinic_events(w.place.clinic_id, 0, 10).empty());
  for (const auto& c : w.st->changes(w.patient, 0, 100)) CHECK(c.entity == "reading");
  CHECK(w.st->patient_state(w.patient));
}

TEST_CASE("a repeat within 15 minutes below both thresholds cancels a critical blood pressure") {
  World w;
  // Both in one upload: the state holds both before either is judged.
  insert(*w.st, w.patient,
         {store::testing::bp("a", core::now_utc_ms() - 10 * 60'000, 182, 100),
          store::testing::bp("b", core::now_utc_ms() - 5 * 60'000, 150, 92)});
  CHECK(w.alerts().empty());
}

TEST_CASE("other signals: very low glucose and very low blood pressure each get their own alert") {
  World w;
  core::Reading g;
  g.client_id = "g";
  g.kind = core::ReadingKind::glucose;
  g.taken_at = {core::now_utc_ms() - 60'000, 480};
  g.glucose_mmol_l = 2.6;
  g.glucose_context = core::GlucoseContext::before_meal;
  insert(*w.st, w.patient, {g});
  w.send_bp("low", 75, 50, 2);
  const auto all = w.alerts();
  REQUIRE(all.size() == 2);
  CHECK(((all[0].signal == "bp_low" && all[1].signal == "glucose_low") ||
         (all[1].signal == "bp_low" && all[0].signal == "glucose_low")));
  for (const auto& a : all) CHECK(!a.advice_zh.empty());
}

TEST_CASE("a critical reading alerts whatever the patient's diagnoses") {
  // CLINICAL §3: a crisis reading is a same-day matter for anyone; the
  // programme a patient is enrolled in decides targets, not emergencies.
  World w;
  core::Patient p = store::testing::sample_patient(w.place.clinic_id, "Li Wei");
  p.diagnoses = {{std::string(core::dx_diabetes_t2), core::days_from_civil(2019, 1, 20)}};
  const auto id = must(store::wait_for<std::int64_t>([&](auto done) { w.st->add_patient(p, done); }));
  insert(*w.st, id, {store::testing::bp("x", core::now_utc_ms() - 60'000, 132, 84)});
  CHECK(w.alerts().empty());
  insert(*w.st, id, {store::testing::bp("y", core::now_utc_ms() - 30'000, 185, 122)});
  const auto alerts = w.alerts();
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].signal == "bp_high");
  CHECK(alerts[0].tier == "critical");
}

TEST_CASE("the kept state follows the readings and the alert book is kept beside it") {
  World w;
  w.send_bp("a", 185, 122, 30);
  w.send_bp("b", 130, 80, 20);
  w.send_bp("c", 132, 81, 10);
  const auto kept = w.st->patient_state(w.patient);
  REQUIRE(kept);
  const auto state = must(core::PatientState::from_json(kept->state_json));
  CHECK(state.readings_applied() == 3);
  const auto book = must(protocols::AlertBook::from_json(kept->alerts_json));
  REQUIRE(book.alerts().size() == 1);
  CHECK(book.alerts()[0].signal == "bp_high");
}
