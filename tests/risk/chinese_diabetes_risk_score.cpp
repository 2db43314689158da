#include <catch2/catch.hpp>

#include <vector>

#include "careloop/risk/chinese_diabetes_risk_score.hpp"

using namespace careloop::risk;

namespace {

// A woman whose every item scores 0.
ChineseDiabetesRiskFactors zero_points() {
  return {.male = false, .age_years = 20, .bmi_kg_m2 = 20, .waist_cm = 60, .systolic_mmhg = 100,
          .family_history_diabetes = false};
}

ChineseDiabetesRiskScore score(const ChineseDiabetesRiskFactors& f) {
  auto r = chinese_diabetes_risk_score(f);
  REQUIRE(r.ok());
  return *r;
}

struct Case {
  double value;
  int points;
};

}  // namespace

TEST_CASE("CDRS age bands, both sides of every boundary") {
  const std::vector<Case> cases{{20, 0},  {24, 0},  {25, 4},  {34, 4},  {35, 8},  {39, 8},
                                {40, 11}, {44, 11}, {45, 12}, {49, 12}, {50, 13}, {54, 13},
                                {55, 15}, {59, 15}, {60, 16}, {64, 16}, {65, 18}, {74, 18}};
  for (const auto& c : cases) {
    auto f = zero_points();
    f.age_years = static_cast<int>(c.value);
    CAPTURE(c.value);
    const auto s = score(f);
    CHECK(s.age_points == c.points);
    CHECK(s.total_points == c.points);
  }
}

TEST_CASE("CDRS BMI bands") {
  const std::vector<Case> cases{{21.99, 0}, {22, 1}, {23.99, 1}, {24, 3}, {29.99, 3}, {30, 5}};
  for (const auto& c : cases) {
    auto f = zero_points();
    f.bmi_kg_m2 = c.value;
    CAPTURE(c.value);
    CHECK(score(f).bmi_points == c.points);
  }
}

TEST_CASE("CDRS waist bands differ by sex") {
  const std::vector<Case> men{{74.9, 0}, {75, 3}, {79.9, 3}, {80, 5},  {84.9, 5},
                              {85, 7},   {89.9, 7}, {90, 8}, {94.9, 8}, {95, 10}};
  for (const auto& c : men) {
    auto f = zero_points();
    f.male = true;
    f.waist_cm = c.value;
    CAPTURE(c.value);
    CHECK(score(f).waist_points == c.points);
  }
  const std::vector<Case> women{{69.9, 0}, {70, 3}, {74.9, 3}, {75, 5},  {79.9, 5},
                                {80, 7},   {84.9, 7}, {85, 8}, {89.9, 8}, {90, 10}};
  for (const auto& c : women) {
    auto f = zero_points();
    f.waist_cm = c.value;
    CAPTURE(c.value);
    CHECK(score(f).waist_points == c.points);
  }
}

TEST_CASE("CDRS systolic bands") {
  const std::vector<Case> cases{{109.9, 0}, {110, 1}, {119.9, 1}, {120, 3}, {129.9, 3}, {130, 6}, {139.9, 6},
                                {140, 7},   {149.9, 7}, {150, 8}, {159.9, 8}, {160, 10}};
  for (const auto& c : cases) {
    auto f = zero_points();
    f.systolic_mmhg = c.value;
    CAPTURE(c.value);
    CHECK(score(f).systolic_points == c.points);
  }
}

TEST_CASE("CDRS family history and sex") {
  auto f = zero_points();
  f.family_history_diabetes = true;
  CHECK(score(f).family_history_points == 6);
  CHECK(score(f).total_points == 6);
  f = zero_points();
  f.male = true;
  CHECK(score(f).sex_points == 2);
  CHECK(score(f).total_points == 2);
}

TEST_CASE("CDRS maximum is 51 and high risk starts at 25") {
  const auto max = score({.male = true, .age_years = 70, .bmi_kg_m2 = 35, .waist_cm = 100, .systolic_mmhg = 170,
                          .family_history_diabetes = true});
  CHECK(max.total_points == cdrs_max_points);
  CHECK(max.total_points == 51);
  CHECK(max.high_risk);

  // 55-year-old man (15 + 2), BMI 24 (3), waist 80 (5) = 25; systolic 109 adds nothing.
  auto f = ChineseDiabetesRiskFactors{.male = true, .age_years = 55, .bmi_kg_m2 = 24, .waist_cm = 80,
                                      .systolic_mmhg = 109, .family_history_diabetes = false};
  CHECK(score(f).total_points == 25);
  CHECK(score(f).high_risk);
  f.waist_cm = 79.9;  // 3 points: total 23
  CHECK(score(f).total_points == 23);
  CHECK_FALSE(score(f).high_risk);
  f.systolic_mmhg = 110;  // +1: total 24
  CHECK(score(f).total_points == 24);
  CHECK_FALSE(score(f).high_risk);
}

TEST_CASE("CDRS refuses ages outside 20–74 and implausible values") {
  for (int age_years : {19, 75}) {
    auto f = zero_points();
    f.age_years = age_years;
    CAPTURE(age_years);
    const auto r = chinese_diabetes_risk_score(f);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == careloop::core::Errc::invalid);
    REQUIRE(r.error().fields.size() == 1);
    CHECK(r.error().fields[0].pointer == "/age_years");
  }
  auto f = zero_points();
  f.waist_cm = 0;
  f.bmi_kg_m2 = -3;
  f.systolic_mmhg = 400;
  const auto r = chinese_diabetes_risk_score(f);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().fields.size() == 3);
}
