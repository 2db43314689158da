#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "careloop/risk/framingham_hypertension.hpp"

using namespace careloop::risk;

namespace {

HypertensionRiskFactors typical_adult() {
  return {.female = false, .age_years = 45, .bmi_kg_m2 = 28, .systolic_mmhg = 130, .diastolic_mmhg = 85,
          .current_smoker = false, .parents_with_hypertension = 1};
}

bool names_field(const careloop::core::Error& e, const std::string& pointer) {
  for (const auto& f : e.fields)
    if (f.pointer == pointer) return true;
  return false;
}

}  // namespace

TEST_CASE("Framingham hypertension reproduces the CLINICAL.md 4-year test vectors") {
  // CLINICAL.md §6: the three vectors, to 0.01 percentage points.
  const auto a = framingham_hypertension(typical_adult());
  REQUIRE(a.ok());
  CHECK(a->risk_4y * 100 == Approx(27.66).margin(0.01));

  const auto b = framingham_hypertension({.female = true, .age_years = 30, .bmi_kg_m2 = 22, .systolic_mmhg = 115,
                                          .diastolic_mmhg = 72, .current_smoker = false,
                                          .parents_with_hypertension = 0});
  REQUIRE(b.ok());
  CHECK(b->risk_4y * 100 == Approx(2.15).margin(0.01));

  const auto c = framingham_hypertension({.female = false, .age_years = 60, .bmi_kg_m2 = 31, .systolic_mmhg = 138,
                                          .diastolic_mmhg = 88, .current_smoker = true,
                                          .parents_with_hypertension = 2});
  REQUIRE(c.ok());
  CHECK(c->risk_4y * 100 == Approx(76.03).margin(0.01));
}

TEST_CASE("Framingham hypertension linear predictor follows the published equation") {
  // 22.949536 − 0.156412·45 − 0.033881·28 − 0.05933·130 − 0.128468·85 − 0.166121 + 0.001624·45·85
  CHECK(framingham_hypertension_linear_predictor(typical_adult()) == Approx(2.375327).margin(1e-9));
  // At t = exp(xb) the Weibull risk is 1 − e^−1 whatever the scale.
  CHECK(framingham_hypertension_risk_at(2.375327, std::exp(2.375327)) == Approx(1 - std::exp(-1.0)));
}

TEST_CASE("Framingham hypertension risk grows with the horizon") {
  const auto r = framingham_hypertension(typical_adult());
  REQUIRE(r.ok());
  CHECK(0 < r->risk_1y);
  CHECK(r->risk_1y < r->risk_2y);
  CHECK(r->risk_2y < r->risk_4y);
  CHECK(r->risk_4y < 1);
}

TEST_CASE("Framingham hypertension accepts the edges of its derivation range") {
  auto f = typical_adult();
  for (double age_years : {20.0, 69.0, 69.99}) {
    f.age_years = age_years;
    CAPTURE(age_years);
    CHECK(framingham_hypertension(f).ok());
  }
  f = typical_adult();
  f.systolic_mmhg = 139.9;
  f.diastolic_mmhg = 89.9;
  CHECK(framingham_hypertension(f).ok());
}

TEST_CASE("Framingham hypertension refuses people outside the model") {
  SECTION("too young or too old") {
    for (double age_years : {19.99, 70.0, 85.0}) {
      auto f = typical_adult();
      f.age_years = age_years;
      CAPTURE(age_years);
      const auto r = framingham_hypertension(f);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == careloop::core::Errc::invalid);
      CHECK(names_field(r.error(), "/age_years"));
    }
  }
  SECTION("already hypertensive") {
    auto f = typical_adult();
    f.systolic_mmhg = 140;
    f.diastolic_mmhg = 90;
    const auto r = framingham_hypertension(f);
    REQUIRE_FALSE(r.ok());
    CHECK(names_field(r.error(), "/systolic_mmhg"));
    CHECK(names_field(r.error(), "/diastolic_mmhg"));
    CHECK(r.error().fields.size() == 2);
  }
  SECTION("parents outside 0–2") {
    auto f = typical_adult();
    f.parents_with_hypertension = 3;
    CHECK(names_field(framingham_hypertension(f).error(), "/parents_with_hypertension"));
    f.parents_with_hypertension = -1;
    CHECK(names_field(framingham_hypertension(f).error(), "/parents_with_hypertension"));
  }
  SECTION("values that are not numbers or not plausible") {
    auto f = typical_adult();
    f.bmi_kg_m2 = std::numeric_limits<double>::quiet_NaN();
    f.systolic_mmhg = 20;
    const auto r = framingham_hypertension(f);
    REQUIRE_FALSE(r.ok());
    CHECK(names_field(r.error(), "/bmi_kg_m2"));
    CHECK(names_field(r.error(), "/systolic_mmhg"));
  }
}

TEST_CASE("Framingham hypertension unchecked computes outside the range for the cohort generator") {
  auto f = typical_adult();
  f.systolic_mmhg = 150;
  REQUIRE_FALSE(framingham_hypertension_applicability(f).empty());
  const auto r = framingham_hypertension_unchecked(f);
  CHECK(r.risk_4y > framingham_hypertension_unchecked(typical_adult()).risk_4y);
  CHECK(r.risk_4y < 1);
}
