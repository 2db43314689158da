#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "careloop/core/units.hpp"
#include "careloop/risk/framingham_diabetes.hpp"
#include "careloop/risk/lipids.hpp"

using namespace careloop::risk;

namespace {

// A woman under 50 with every factor below its threshold: only the intercept counts.
DiabetesRiskFactors no_risk_factors() {
  return {.female = true, .age_years = 40, .parental_diabetes = false, .bmi_kg_m2 = 22, .systolic_mmhg = 120,
          .diastolic_mmhg = 80, .on_antihypertensive_treatment = false, .hdl_mg_dl = 60,
          .triglycerides_mg_dl = 100, .fasting_glucose_mg_dl = 90};
}

double logistic(double z) { return 1 / (1 + std::exp(-z)); }

bool names_field(const careloop::core::Error& e, const std::string& pointer) {
  for (const auto& f : e.fields)
    if (f.pointer == pointer) return true;
  return false;
}

}  // namespace

TEST_CASE("Framingham diabetes baseline is the intercept alone") {
  const auto r = framingham_diabetes(no_risk_factors());
  REQUIRE(r.ok());
  CHECK(r->log_odds == Approx(-5.517).margin(1e-12));
  CHECK(r->risk_8y == Approx(1 / (1 + std::exp(5.517))).margin(1e-12));
  CHECK(r->risk_8y == Approx(0.0040018).margin(1e-7));
}

TEST_CASE("Framingham diabetes adds every coefficient for a man with all factors") {
  // Male 55, parental diabetes, BMI 31, 135/80 mmHg, HDL 38, TG 180, FPG 110 mg/dL:
  // z = −5.517 − 0.018 − 0.010 + 0.565 + 0.92 + 0.498 + 0.944 + 0.575 + 1.980 = −0.063.
  const DiabetesRiskFactors f{.female = false, .age_years = 55, .parental_diabetes = true, .bmi_kg_m2 = 31,
                              .systolic_mmhg = 135, .diastolic_mmhg = 80,
                              .on_antihypertensive_treatment = false, .hdl_mg_dl = 38,
                              .triglycerides_mg_dl = 180, .fasting_glucose_mg_dl = 110};
  const auto r = framingham_diabetes(f);
  REQUIRE(r.ok());
  CHECK(r->log_odds == Approx(-0.063).margin(1e-12));
  CHECK(r->risk_8y == Approx(0.484255).margin(1e-6));
  CHECK(r->age_in_population_of_interest);
}

TEST_CASE("Framingham diabetes: a woman of 45, overweight, with impaired fasting glucose") {
  auto f = no_risk_factors();
  f.age_years = 45;
  f.bmi_kg_m2 = 27;
  f.fasting_glucose_mg_dl = 105;
  const auto r = framingham_diabetes(f);
  REQUIRE(r.ok());
  CHECK(r->log_odds == Approx(-5.517 + 0.301 + 1.980).margin(1e-12));
  CHECK(r->risk_8y == Approx(0.037833).margin(1e-6));
}

TEST_CASE("Framingham diabetes category boundaries") {
  const double base = -5.517;
  auto z_with = [](auto change) {
    auto f = no_risk_factors();
    change(f);
    return framingham_diabetes_log_odds(f);
  };
  SECTION("age") {
    CHECK(z_with([](auto& f) { f.age_years = 49.9; }) == Approx(base));
    CHECK(z_with([](auto& f) { f.age_years = 50; }) == Approx(base - 0.018));
    CHECK(z_with([](auto& f) { f.age_years = 64.9; }) == Approx(base - 0.018));
    CHECK(z_with([](auto& f) { f.age_years = 65; }) == Approx(base - 0.081));
  }
  SECTION("BMI") {
    CHECK(z_with([](auto& f) { f.bmi_kg_m2 = 24.9; }) == Approx(base));
    CHECK(z_with([](auto& f) { f.bmi_kg_m2 = 25; }) == Approx(base + 0.301));
    CHECK(z_with([](auto& f) { f.bmi_kg_m2 = 29.9; }) == Approx(base + 0.301));
    CHECK(z_with([](auto& f) { f.bmi_kg_m2 = 30; }) == Approx(base + 0.92));
  }
  SECTION("blood pressure ≥ 130/85 or treated") {
    CHECK(z_with([](auto& f) { f.systolic_mmhg = 129; f.diastolic_mmhg = 84; }) == Approx(base));
    CHECK(z_with([](auto& f) { f.systolic_mmhg = 130; f.diastolic_mmhg = 84; }) == Approx(base + 0.498));
    CHECK(z_with([](auto& f) { f.systolic_mmhg = 129; f.diastolic_mmhg = 85; }) == Approx(base + 0.498));
    CHECK(z_with([](auto& f) { f.on_antihypertensive_treatment = true; }) == Approx(base + 0.498));
  }
  SECTION("HDL depends on sex") {
    CHECK(z_with([](auto& f) { f.hdl_mg_dl = 49.9; }) == Approx(base + 0.944));
    CHECK(z_with([](auto& f) { f.hdl_mg_dl = 50; }) == Approx(base));
    CHECK(z_with([](auto& f) { f.female = false; f.hdl_mg_dl = 45; }) == Approx(base - 0.010));
    CHECK(z_with([](auto& f) { f.female = false; f.hdl_mg_dl = 39.9; }) == Approx(base - 0.010 + 0.944));
  }
  SECTION("triglycerides") {
    CHECK(z_with([](auto& f) { f.triglycerides_mg_dl = 149.9; }) == Approx(base));
    CHECK(z_with([](auto& f) { f.triglycerides_mg_dl = 150; }) == Approx(base + 0.575));
  }
  SECTION("fasting glucose") {
    CHECK(z_with([](auto& f) { f.fasting_glucose_mg_dl = 99.9; }) == Approx(base));
    CHECK(z_with([](auto& f) { f.fasting_glucose_mg_dl = 100; }) == Approx(base + 1.980));
    CHECK(z_with([](auto& f) { f.fasting_glucose_mg_dl = 125.9; }) == Approx(base + 1.980));
  }
}

TEST_CASE("Framingham diabetes takes canonical mmol/L values through the converters") {
  auto f = no_risk_factors();
  f.female = false;
  f.hdl_mg_dl = hdl_mmol_l_to_mg_dl(1.0);                       // 38.67 mg/dL: low for a man
  f.triglycerides_mg_dl = triglycerides_mmol_l_to_mg_dl(1.7);   // 150.57 mg/dL: high
  f.fasting_glucose_mg_dl = careloop::core::mmol_l_to_mg_dl(5.6);  // 100.9 mg/dL: impaired
  const auto r = framingham_diabetes(f);
  REQUIRE(r.ok());
  CHECK(r->log_odds == Approx(-5.517 - 0.010 + 0.944 + 0.575 + 1.980));
  CHECK(r->risk_8y == Approx(logistic(r->log_odds)));
}

TEST_CASE("Framingham diabetes refuses diabetic glucose and implausible values") {
  auto f = no_risk_factors();
  f.fasting_glucose_mg_dl = 126;
  auto r = framingham_diabetes(f);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == careloop::core::Errc::invalid);
  CHECK(names_field(r.error(), "/fasting_glucose_mg_dl"));

  f = no_risk_factors();
  f.hdl_mg_dl = 0;
  f.triglycerides_mg_dl = -1;
  f.bmi_kg_m2 = 0;
  r = framingham_diabetes(f);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().fields.size() == 3);
}

TEST_CASE("Framingham diabetes flags ages outside its population of interest") {
  auto f = no_risk_factors();
  CHECK_FALSE(framingham_diabetes(f)->age_in_population_of_interest);  // 40
  f.age_years = 45;
  CHECK(framingham_diabetes(f)->age_in_population_of_interest);
  f.age_years = 64.9;
  CHECK(framingham_diabetes(f)->age_in_population_of_interest);
  f.age_years = 65;
  CHECK_FALSE(framingham_diabetes(f)->age_in_population_of_interest);
}
