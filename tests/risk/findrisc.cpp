#include <catch2/catch.hpp>

#include <vector>

#include "careloop/risk/findrisc.hpp"

using namespace careloop::risk;

namespace {

// A young, lean, active woman who eats vegetables daily: every item scores 0.
FindriscAnswers zero_points() {
  return {.male = false, .age_years = 30, .bmi_kg_m2 = 22, .waist_cm = 70,
          .physically_active_30_min_daily = true, .vegetables_or_fruit_daily = true,
          .takes_antihypertensive_medication = false, .history_of_high_glucose = false,
          .family_history = FamilyHistoryOfDiabetes::none};
}

FindriscScore score(const FindriscAnswers& a) {
  auto r = findrisc(a);
  REQUIRE(r.ok());
  return *r;
}

struct Case {
  double value;
  int points;
};

}  // namespace

TEST_CASE("FINDRISC age bands") {
  const std::vector<Case> cases{{44, 0}, {45, 2}, {54, 2}, {55, 3}, {64, 3}, {65, 4}, {90, 4}};
  for (const auto& c : cases) {
    auto a = zero_points();
    a.age_years = static_cast<int>(c.value);
    CAPTURE(c.value);
    CHECK(score(a).age_points == c.points);
    CHECK(score(a).total_points == c.points);
  }
}

TEST_CASE("FINDRISC BMI bands: 25–30 inclusive scores 1") {
  const std::vector<Case> cases{{24.99, 0}, {25, 1}, {30, 1}, {30.01, 3}};
  for (const auto& c : cases) {
    auto a = zero_points();
    a.bmi_kg_m2 = c.value;
    CAPTURE(c.value);
    CHECK(score(a).bmi_points == c.points);
  }
}

TEST_CASE("FINDRISC waist bands differ by sex") {
  const std::vector<Case> men{{93.9, 0}, {94, 3}, {102, 3}, {102.1, 4}};
  for (const auto& c : men) {
    auto a = zero_points();
    a.male = true;
    a.waist_cm = c.value;
    CAPTURE(c.value);
    CHECK(score(a).waist_points == c.points);
  }
  const std::vector<Case> women{{79.9, 0}, {80, 3}, {88, 3}, {88.1, 4}};
  for (const auto& c : women) {
    auto a = zero_points();
    a.waist_cm = c.value;
    CAPTURE(c.value);
    CHECK(score(a).waist_points == c.points);
  }
}

TEST_CASE("FINDRISC yes/no items and family history") {
  auto a = zero_points();
  a.physically_active_30_min_daily = false;
  CHECK(score(a).physical_activity_points == 2);
  a = zero_points();
  a.vegetables_or_fruit_daily = false;
  CHECK(score(a).vegetables_fruit_points == 1);
  a = zero_points();
  a.takes_antihypertensive_medication = true;
  CHECK(score(a).antihypertensive_points == 2);
  a = zero_points();
  a.history_of_high_glucose = true;
  CHECK(score(a).high_glucose_points == 5);
  a = zero_points();
  a.family_history = FamilyHistoryOfDiabetes::second_degree;
  CHECK(score(a).family_history_points == 3);
  a.family_history = FamilyHistoryOfDiabetes::first_degree;
  CHECK(score(a).family_history_points == 5);
  CHECK(score(a).total_points == 5);
}

TEST_CASE("FINDRISC totals run from 0 to 26") {
  CHECK(score(zero_points()).total_points == 0);
  CHECK(score(zero_points()).band == FindriscBand::low);
  const auto max = score({.male = true, .age_years = 70, .bmi_kg_m2 = 35, .waist_cm = 110,
                          .physically_active_30_min_daily = false, .vegetables_or_fruit_daily = false,
                          .takes_antihypertensive_medication = true, .history_of_high_glucose = true,
                          .family_history = FamilyHistoryOfDiabetes::first_degree});
  CHECK(max.total_points == findrisc_max_points);
  CHECK(max.total_points == 26);
  CHECK(max.band == FindriscBand::very_high);
}

TEST_CASE("FINDRISC bands at their published boundaries") {
  CHECK(findrisc_band(0) == FindriscBand::low);
  CHECK(findrisc_band(6) == FindriscBand::low);
  CHECK(findrisc_band(7) == FindriscBand::slightly_elevated);
  CHECK(findrisc_band(11) == FindriscBand::slightly_elevated);
  CHECK(findrisc_band(12) == FindriscBand::moderate);
  CHECK(findrisc_band(14) == FindriscBand::moderate);
  CHECK(findrisc_band(15) == FindriscBand::high);
  CHECK(findrisc_band(20) == FindriscBand::high);
  CHECK(findrisc_band(21) == FindriscBand::very_high);
  CHECK(findrisc_band(26) == FindriscBand::very_high);
  CHECK(to_string(FindriscBand::slightly_elevated) == "slightly_elevated");

  // 55-year-old woman (3), BMI 27 (1), waist 85 (3), inactive (2), takes antihypertensives (2),
  // second-degree family history (3) = 14, moderate; a history of high glucose (5) makes 19, high.
  auto a = zero_points();
  a.age_years = 55;
  a.bmi_kg_m2 = 27;
  a.waist_cm = 85;
  a.physically_active_30_min_daily = false;
  a.takes_antihypertensive_medication = true;
  a.family_history = FamilyHistoryOfDiabetes::second_degree;
  CHECK(score(a).total_points == 14);
  CHECK(score(a).band == FindriscBand::moderate);
  a.history_of_high_glucose = true;
  CHECK(score(a).total_points == 19);
  CHECK(score(a).band == FindriscBand::high);
}

TEST_CASE("FINDRISC refuses impossible answers") {
  auto a = zero_points();
  a.age_years = -1;
  a.bmi_kg_m2 = 0;
  a.waist_cm = -5;
  const auto r = findrisc(a);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == careloop::core::Errc::invalid);
  CHECK(r.error().fields.size() == 3);
}
