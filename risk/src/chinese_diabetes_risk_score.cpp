#include "careloop/risk/chinese_diabetes_risk_score.hpp"

#include <array>

#include "careloop/core/plausibility.hpp"
#include "field_checks.hpp"

namespace careloop::risk {

namespace {

// One band of a points table: values at or above lower_bound (up to the next
// band's lower bound) score `points`.
struct Band {
  double lower_bound;
  int points;
};

template <std::size_t N>
int points_for(double value, const std::array<Band, N>& bands) {
  int points = 0;
  for (const auto& band : bands)
    if (value >= band.lower_bound) points = band.points;
  return points;
}

// Zhou et al. 2013, as in CLINICAL.md §6. Ages are completed years.
constexpr std::array<Band, 9> age_years_bands{{
    {20, 0}, {25, 4}, {35, 8}, {40, 11}, {45, 12}, {50, 13}, {55, 15}, {60, 16}, {65, 18}}};
constexpr std::array<Band, 4> bmi_kg_m2_bands{{{0, 0}, {22, 1}, {24, 3}, {30, 5}}};
constexpr std::array<Band, 6> waist_men_cm_bands{{{0, 0}, {75, 3}, {80, 5}, {85, 7}, {90, 8}, {95, 10}}};
constexpr std::array<Band, 6> waist_women_cm_bands{{{0, 0}, {70, 3}, {75, 5}, {80, 7}, {85, 8}, {90, 10}}};
constexpr std::array<Band, 7> systolic_mmhg_bands{{
    {0, 0}, {110, 1}, {120, 3}, {130, 6}, {140, 7}, {150, 8}, {160, 10}}};
constexpr int family_history_diabetes_points = 6;
constexpr int male_points = 2;

}  // namespace

core::Result<ChineseDiabetesRiskScore> chinese_diabetes_risk_score(const ChineseDiabetesRiskFactors& f) {
  detail::Errors errors;
  detail::require_between(errors, "age_years", f.age_years, cdrs_min_age_years, cdrs_max_age_years, "years",
                          "the score was derived in adults aged 20–74");
  detail::require_positive(errors, "bmi_kg_m2", f.bmi_kg_m2, "kg/m²");
  detail::require_positive(errors, "waist_cm", f.waist_cm, "cm");
  detail::require_between(errors, "systolic_mmhg", f.systolic_mmhg, core::systolic_range.min,
                          core::systolic_range.max, "mmHg", "plausible reading");
  if (!errors.empty())
    return core::Error::invalid("outside the Chinese Diabetes Risk Score (Zhou 2013)", std::move(errors));

  ChineseDiabetesRiskScore s;
  s.age_points = points_for(f.age_years, age_years_bands);
  s.bmi_points = points_for(f.bmi_kg_m2, bmi_kg_m2_bands);
  s.waist_points = points_for(f.waist_cm, f.male ? waist_men_cm_bands : waist_women_cm_bands);
  s.systolic_points = points_for(f.systolic_mmhg, systolic_mmhg_bands);
  s.family_history_points = f.family_history_diabetes ? family_history_diabetes_points : 0;
  s.sex_points = f.male ? male_points : 0;
  s.total_points = s.age_points + s.bmi_points + s.waist_points + s.systolic_points + s.family_history_points +
                   s.sex_points;
  s.high_risk = s.total_points >= cdrs_high_risk_points;
  return s;
}

}  // namespace careloop::risk
