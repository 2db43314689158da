#include "careloop/risk/framingham_hypertension.hpp"

#include <cmath>

#include "careloop/core/plausibility.hpp"
#include "field_checks.hpp"

namespace careloop::risk {

namespace {

// Parikh et al., Ann Intern Med 2008;148:102, as in CLINICAL.md §6.
constexpr double intercept = 22.949536;
constexpr double coef_female = -0.202933;
constexpr double coef_age_per_year = -0.156412;
constexpr double coef_bmi_per_kg_m2 = -0.033881;
constexpr double coef_systolic_per_mmhg = -0.05933;
constexpr double coef_diastolic_per_mmhg = -0.128468;
constexpr double coef_current_smoker = -0.190731;
constexpr double coef_per_parent_with_hypertension = -0.166121;
constexpr double coef_age_years_x_diastolic_mmhg = 0.001624;
constexpr double weibull_scale = 0.876925;

}  // namespace

double framingham_hypertension_linear_predictor(const HypertensionRiskFactors& f) noexcept {
  return intercept + coef_female * (f.female ? 1 : 0) + coef_age_per_year * f.age_years +
         coef_bmi_per_kg_m2 * f.bmi_kg_m2 + coef_systolic_per_mmhg * f.systolic_mmhg +
         coef_diastolic_per_mmhg * f.diastolic_mmhg + coef_current_smoker * (f.current_smoker ? 1 : 0) +
         coef_per_parent_with_hypertension * f.parents_with_hypertension +
         coef_age_years_x_diastolic_mmhg * f.age_years * f.diastolic_mmhg;
}

double framingham_hypertension_risk_at(double linear_predictor, double years) noexcept {
  return 1 - std::exp(-std::exp((std::log(years) - linear_predictor) / weibull_scale));
}

HypertensionRisk framingham_hypertension_unchecked(const HypertensionRiskFactors& f) noexcept {
  const double xb = framingham_hypertension_linear_predictor(f);
  return {xb, framingham_hypertension_risk_at(xb, 1), framingham_hypertension_risk_at(xb, 2),
          framingham_hypertension_risk_at(xb, 4)};
}

std::vector<core::FieldError> framingham_hypertension_applicability(const HypertensionRiskFactors& f) {
  detail::Errors errors;
  detail::require_in(errors, "age_years", f.age_years, framingham_hypertension_min_age_years,
                     framingham_hypertension_max_age_years + 1, "years", "derivation cohort aged 20–69");
  detail::require_positive(errors, "bmi_kg_m2", f.bmi_kg_m2, "kg/m²");
  // Plausibility first, then the model's own limit: at 140/90 the person already has hypertension.
  detail::require_in(errors, "systolic_mmhg", f.systolic_mmhg, core::systolic_range.min,
                     framingham_hypertension_systolic_limit_mmhg, "mmHg", "non-hypertensive: below 140");
  detail::require_in(errors, "diastolic_mmhg", f.diastolic_mmhg, core::diastolic_range.min,
                     framingham_hypertension_diastolic_limit_mmhg, "mmHg", "non-hypertensive: below 90");
  if (f.parents_with_hypertension < 0 || f.parents_with_hypertension > 2)
    errors.push_back({"/parents_with_hypertension",
                      "must be 0, 1 or 2; got " + std::to_string(f.parents_with_hypertension)});
  return errors;
}

core::Result<HypertensionRisk> framingham_hypertension(const HypertensionRiskFactors& f) {
  auto errors = framingham_hypertension_applicability(f);
  if (!errors.empty())
    return core::Error::invalid("outside the Framingham incident-hypertension model (Parikh 2008)", std::move(errors));
  return framingham_hypertension_unchecked(f);
}

}  // namespace careloop::risk
