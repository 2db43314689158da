#include "careloop/risk/findrisc.hpp"

#include "field_checks.hpp"

namespace careloop::risk {

namespace {

// Lindström & Tuomilehto, Diabetes Care 2003;26:725, and the 0–26 FINDRISC
// form built on it (see findrisc.hpp). Upper bounds are inclusive: the form
// scores "25–30 kg/m²" as 1 and "higher than 30" as 3.
int age_points(int age_years) {
  if (age_years < 45) return 0;
  if (age_years <= 54) return 2;
  if (age_years <= 64) return 3;
  return 4;
}

int bmi_points(double bmi_kg_m2) {
  if (bmi_kg_m2 < 25) return 0;
  if (bmi_kg_m2 <= 30) return 1;
  return 3;
}

int waist_points(bool male, double waist_cm) {
  const double lower_cm = male ? 94 : 80;
  const double upper_cm = male ? 102 : 88;
  if (waist_cm < lower_cm) return 0;
  if (waist_cm <= upper_cm) return 3;
  return 4;
}

int family_history_points(FamilyHistoryOfDiabetes h) {
  switch (h) {
    case FamilyHistoryOfDiabetes::second_degree: return 3;
    case FamilyHistoryOfDiabetes::first_degree: return 5;
    case FamilyHistoryOfDiabetes::none: break;
  }
  return 0;
}

constexpr int physical_inactivity_points = 2;
constexpr int no_daily_vegetables_fruit_points = 1;
constexpr int antihypertensive_medication_points = 2;
constexpr int history_of_high_glucose_points = 5;

}  // namespace

std::string_view to_string(FindriscBand b) noexcept {
  switch (b) {
    case FindriscBand::low: return "low";
    case FindriscBand::slightly_elevated: return "slightly_elevated";
    case FindriscBand::moderate: return "moderate";
    case FindriscBand::high: return "high";
    case FindriscBand::very_high: return "very_high";
  }
  return "low";
}

FindriscBand findrisc_band(int total_points) noexcept {
  if (total_points < 7) return FindriscBand::low;
  if (total_points <= 11) return FindriscBand::slightly_elevated;
  if (total_points <= 14) return FindriscBand::moderate;
  if (total_points <= 20) return FindriscBand::high;
  return FindriscBand::very_high;
}

core::Result<FindriscScore> findrisc(const FindriscAnswers& a) {
  detail::Errors errors;
  if (a.age_years < 0)
    errors.push_back({"/age_years", "must be zero or more years; got " + std::to_string(a.age_years)});
  detail::require_positive(errors, "bmi_kg_m2", a.bmi_kg_m2, "kg/m²");
  detail::require_positive(errors, "waist_cm", a.waist_cm, "cm");
  if (!errors.empty()) return core::Error::invalid("invalid FINDRISC answers", std::move(errors));

  FindriscScore s;
  s.age_points = age_points(a.age_years);
  s.bmi_points = bmi_points(a.bmi_kg_m2);
  s.waist_points = waist_points(a.male, a.waist_cm);
  s.physical_activity_points = a.physically_active_30_min_daily ? 0 : physical_inactivity_points;
  s.vegetables_fruit_points = a.vegetables_or_fruit_daily ? 0 : no_daily_vegetables_fruit_points;
  s.antihypertensive_points = a.takes_antihypertensive_medication ? antihypertensive_medication_points : 0;
  s.high_glucose_points = a.history_of_high_glucose ? history_of_high_glucose_points : 0;
  s.family_history_points = family_history_points(a.family_history);
  s.total_points = s.age_points + s.bmi_points + s.waist_points + s.physical_activity_points +
                   s.vegetables_fruit_points + s.antihypertensive_points + s.high_glucose_points +
                   s.family_history_points;
  s.band = findrisc_band(s.total_points);
  return s;
}

}  // namespace careloop::risk
