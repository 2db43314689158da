// care/src/measurements.cpp: clinic measurements recorded with their audit
// entry in one job, a resend answered with the stored rows, a changed record
// under the same client id refused, and refusals that name each field.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "careloop/care/measurements.hpp"
#include "careloop/care/visits.hpp"
#include "helpers.hpp"

using namespace careloop;
using namespace careloop::care;
using namespace careloop::care::testing;

namespace {

MeasurementInput input(World& w, std::int64_t by, std::string client_id, std::int64_t at_ms,
                       std::vector<std::pair<std::string, double>> values) {
  MeasurementInput m;
  m.patient_id = w.patient;
  m.client_id = std::move(client_id);
  m.measured_at = {at_ms, 480};
  for (auto& [k, v] : values) m.values.push_back({k, v, "/values/" + k});
  m.by_user_id = by;
  m.remote_addr = "10.0.0.7";
  return m;
}

core::Result<RecordedMeasurements> record(World& w, MeasurementInput m) {
  return store::wait_for<RecordedMeasurements>([&](auto done) { record_measurements(*w.st, std::move(m), done); });
}

bool names(const core::Error& e, const std::string& pointer) {
  return std::any_of(e.fields.begin(), e.fields.end(), [&](const auto& f) { return f.pointer == pointer; });
}

int audits(World& w, const std::string& action) {
  int n = 0;
  for (const auto& e : w.st->audit_log(w.patient, 50))
    if (e.action == action) ++n;
  return n;
}

}  // namespace

TEST_CASE("measurements: recorded once with an audit entry, a resend returns the stored rows, a change conflicts") {
  World w;
  const auto doctor = a_doctor(w);
  const std::int64_t at = core::now_utc_ms() - 3'600'000;
  const std::string id = "5d0c9f8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f";
  auto first = record(w, input(w, doctor, id, at, {{"waist_cm", 92}, {"hdl_mmol_l", 1.04}, {"triglycerides_mmol_l", 2.1}}));
  REQUIRE(first);
  CHECK(first->created);
  REQUIRE(first->rows.size() == 3);
  CHECK(first->rows[0].kind == "hdl_mmol_l");  // by kind
  CHECK(first->rows[0].clinic_id == w.place.clinic_id);
  CHECK(first->rows[0].id > 0);

  // The same values in another order: the same record.
  auto again = record(w, input(w, doctor, id, at, {{"triglycerides_mmol_l", 2.1}, {"waist_cm", 92}, {"hdl_mmol_l", 1.04}}));
  REQUIRE(again);
  CHECK_FALSE(again->created);
  REQUIRE(again->rows.size() == 3);
  CHECK(again->rows[0].id == first->rows[0].id);

  // Another value, one value fewer, another time: conflicts; nothing changes.
  for (auto changed : {input(w, doctor, id, at, {{"waist_cm", 93}, {"hdl_mmol_l", 1.04}, {"triglycerides_mmol_l", 2.1}}),
                       input(w, doctor, id, at, {{"waist_cm", 92}, {"hdl_mmol_l", 1.04}}),
                       input(w, doctor, id, at - 60'000, {{"waist_cm", 92}, {"hdl_mmol_l", 1.04}, {"triglycerides_mmol_l", 2.1}})}) {
    auto other = record(w, changed);
    REQUIRE_FALSE(other);
    CHECK(other.error().code == core::Errc::conflict);
  }
  const auto stored = w.st->clinic_measurements(w.patient, 10);
  REQUIRE(stored.size() == 3);
  CHECK(audits(w, "measurements.record") == 1);
  const auto waist = std::find_if(stored.begin(), stored.end(), [](const auto& r) { return r.kind == "waist_cm"; });
  REQUIRE(waist != stored.end());
  const auto j = measurement_json(*waist);
  CHECK(j["value"] == 92.0);
  CHECK(j["unit"] == "cm");
  CHECK(j["loinc"]["code"] == "8280-0");
  CHECK(j["by"]["name"] == "dr.li");
  CHECK(j["measured_at"].get<std::string>().ends_with("+08:00"));
}

TEST_CASE("measurements: bad input names each field and stores nothing") {
  World w;
  const auto doctor = a_doctor(w);
  const std::int64_t now = core::now_utc_ms();
  auto bad = record(w, input(w, doctor, "Not A UUID!", now + 3'600'000,
                             {{"waist_cm", 20}, {"bmi", 24}, {"hdl_mmol_l", std::nan("")}, {"triglycerides_mmol_l", 1.5}}));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == core::Errc::invalid);
  CHECK(names(bad.error(), "/client_id"));
  CHECK(names(bad.error(), "/measured_at"));
  CHECK(names(bad.error(), "/values/waist_cm"));  // 20 cm: outside 40–200
  CHECK(names(bad.error(), "/values/bmi"));       // not a kind
  CHECK(names(bad.error(), "/values/hdl_mmol_l"));
  CHECK_FALSE(names(bad.error(), "/values/triglycerides_mmol_l"));
  auto empty = record(w, input(w, doctor, "c1", now, {}));
  REQUIRE_FALSE(empty);
  CHECK(names(empty.error(), "/values"));
  // A visit of another patient (or none) is refused inside the job.
  auto m = input(w, doctor, "c2", now, {{"waist_cm", 90}});
  m.visit_id = 999;
  auto no_visit = record(w, m);
  REQUIRE_FALSE(no_visit);
  CHECK(names(no_visit.error(), "/visit_id"));
  CHECK(w.st->clinic_measurements(w.patient, 10).empty());
  CHECK(audits(w, "measurements.record") == 0);
}

TEST_CASE("measurements: recorded with a visit of the patient") {
  World w;
  const auto doctor = a_doctor(w);
  const std::int64_t at = core::now_utc_ms() - 3'600'000;
  VisitInput v;
  v.patient_id = w.patient;
  v.client_id = "v1";
  v.visited_at = {at, 480};
  v.kind = "clinic";
  v.classification = "controlled";
  v.by_user_id = doctor;
  auto visit = store::wait_for<RecordedVisit>([&](auto done) { record_visit(*w.st, v, done); });
  REQUIRE(visit);
  auto m = input(w, doctor, "m1", at, {{"fasting_glucose_mmol_l", 6.1}});
  m.visit_id = visit->row.id;
  auto got = record(w, m);
  REQUIRE(got);
  CHECK(got->rows[0].visit_id == visit->row.id);
  CHECK(w.st->clinic_measurements(w.patient, 1)[0].visit_id == visit->row.id);
}
