#include <catch2/catch.hpp>

#include <cmath>

#include "careloop/core/reading.hpp"
#include "careloop/risk/features.hpp"
#include "fixtures.hpp"

using namespace careloop;
using namespace careloop::risk;

namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t now_ms = 20'000 * day_ms + 12 * 3'600'000;  // 2024-10-04 12:00 UTC

core::Patient patient() {
  core::Patient p;
  p.sex = core::Sex::male;
  p.birth_date = 20'000 - 45 * 365;
  p.height_cm = 170;
  p.smoking = core::Smoking::current;
  p.parents_with_hypertension = 1;
  p.family_history_diabetes = true;
  return p;
}

core::Reading bp(int days_ago, double sys, double dia) {
  core::Reading r;
  r.kind = core::ReadingKind::blood_pressure;
  r.taken_at = {now_ms - days_ago * day_ms, 480};
  r.systolic_mmhg = sys;
  r.diastolic_mmhg = dia;
  return r;
}

ModelSpec spec_of(const char* id) {
  return read_model_spec((testing::data_dir() / "specs" / (std::string(id) + ".json")).string()).value();
}

}  // namespace

TEST_CASE("features: home means where there are enough readings, else the clinic's") {
  const auto state = core::PatientState::from_readings({bp(1, 130, 84), bp(2, 134, 86), bp(3, 126, 82), bp(40, 170, 100)});
  ClinicMeasurements clinic;
  clinic.systolic_mmhg = 150;
  clinic.diastolic_mmhg = 95;
  clinic.weight_kg = 86.7;
  const auto f = extract_patient_features(patient(), &state, clinic, now_ms);
  REQUIRE(f.systolic_mmhg);
  CHECK(*f.systolic_mmhg == Approx(130));  // the reading 40 days ago is outside the 30-day window
  CHECK(*f.diastolic_mmhg == Approx(84));
  CHECK(*f.bmi_kg_m2 == Approx(86.7 / (1.7 * 1.7)));
  CHECK(*f.age_years == Approx(45 * 365 / 365.2425));
  CHECK(*f.female == 0);
  CHECK(*f.current_smoker == 1);
  CHECK(*f.parents_with_hypertension == 1);
  CHECK(*f.parental_diabetes == 1);

  // Two home readings are too few: the clinic's pair is used, never a mix.
  const auto sparse = core::PatientState::from_readings({bp(1, 130, 84), bp(2, 134, 86)});
  const auto g = extract_patient_features(patient(), &sparse, clinic, now_ms);
  CHECK(*g.systolic_mmhg == 150);
  CHECK(*g.diastolic_mmhg == 95);
}

TEST_CASE("features: missing stays missing (NaN), never 0") {
  core::Patient p = patient();
  p.height_cm.reset();
  const auto f = extract_patient_features(p, nullptr, {}, now_ms);
  CHECK_FALSE(f.bmi_kg_m2);
  CHECK_FALSE(f.systolic_mmhg);
  CHECK_FALSE(f.waist_cm);
  auto row = model_input(spec_of("diabetes-8y"), f);
  REQUIRE(row.ok());
  REQUIRE(row->size() == 9);
  CHECK((*row)[0] == Approx(45 * 365 / 365.2425));
  for (std::size_t i : {2u, 3u, 4u, 5u, 6u, 7u}) CHECK(std::isnan((*row)[i]));
  CHECK((*row)[8] == 1);  // parental diabetes: a real 1, not a default
}

TEST_CASE("features: a value outside the model's range is refused with its field") {
  PatientFeatures f;
  f.age_years = 45;
  f.systolic_mmhg = 152;  // already hypertensive: the incidence model does not apply
  auto row = model_input(spec_of("hypertension-4y"), f);
  REQUIRE_FALSE(row.ok());
  REQUIRE(row.error().fields.size() == 1);
  CHECK(row.error().fields[0].pointer == "/systolic_mmhg");
}

TEST_CASE("features: a research model's features are not in a patient record") {
  auto row = model_input(spec_of("pima-diabetes"), PatientFeatures{});
  REQUIRE_FALSE(row.ok());
  CHECK(row.error().fields.size() == 8);  // none of its eight features
}
