#include "careloop/risk/framingham_diabetes.hpp"

#include <cmath>

#include "careloop/core/plausibility.hpp"
#include "careloop/core/units.hpp"
#include "field_checks.hpp"

namespace careloop::risk {

namespace {

// Wilson et al., Arch Intern Med 2007;167:1068, simple clinical model, as in CLINICAL.md §6.
constexpr double intercept = -5.517;
constexpr double coef_age_50_to_64 = -0.018;
constexpr double coef_age_65_and_over = -0.081;
constexpr double coef_male = -0.010;
constexpr double coef_parental_diabetes = 0.565;
constexpr double coef_bmi_25_to_29_9 = 0.301;
constexpr double coef_bmi_30_and_over = 0.92;
constexpr double coef_blood_pressure_or_treated = 0.498;
constexpr double coef_low_hdl = 0.944;
constexpr double coef_high_triglycerides = 0.575;
constexpr double coef_impaired_fasting_glucose = 1.980;

double indicator(bool b) { return b ? 1 : 0; }

}  // namespace

double framingham_diabetes_log_odds(const DiabetesRiskFactors& f) noexcept {
  const double hdl_limit_mg_dl = f.female ? framingham_diabetes_hdl_women_mg_dl : framingham_diabetes_hdl_men_mg_dl;
  const bool high_blood_pressure = f.on_antihypertensive_treatment ||
                                   f.systolic_mmhg >= framingham_diabetes_systolic_mmhg ||
                                   f.diastolic_mmhg >= framingham_diabetes_diastolic_mmhg;
  const bool impaired_fasting_glucose =
      f.fasting_glucose_mg_dl >= framingham_diabetes_impaired_fasting_glucose_mg_dl &&
      f.fasting_glucose_mg_dl < framingham_diabetes_fasting_glucose_limit_mg_dl;
  return intercept +
         coef_age_50_to_64 * indicator(f.age_years >= framingham_diabetes_age_band_50_years &&
                                       f.age_years < framingham_diabetes_age_band_65_years) +
         coef_age_65_and_over * indicator(f.age_years >= framingham_diabetes_age_band_65_years) +
         coef_male * indicator(!f.female) + coef_parental_diabetes * indicator(f.parental_diabetes) +
         coef_bmi_25_to_29_9 * indicator(f.bmi_kg_m2 >= framingham_diabetes_bmi_overweight_kg_m2 &&
                                         f.bmi_kg_m2 < framingham_diabetes_bmi_obese_kg_m2) +
         coef_bmi_30_and_over * indicator(f.bmi_kg_m2 >= framingham_diabetes_bmi_obese_kg_m2) +
         coef_blood_pressure_or_treated * indicator(high_blood_pressure) +
         coef_low_hdl * indicator(f.hdl_mg_dl < hdl_limit_mg_dl) +
         coef_high_triglycerides * indicator(f.triglycerides_mg_dl >= framingham_diabetes_triglycerides_mg_dl) +
         coef_impaired_fasting_glucose * indicator(impaired_fasting_glucose);
}

core::Result<DiabetesRisk> framingham_diabetes(const DiabetesRiskFactors& f) {
  detail::Errors errors;
  detail::require_positive(errors, "age_years", f.age_years, "years");
  detail::require_positive(errors, "bmi_kg_m2", f.bmi_kg_m2, "kg/m²");
  detail::require_between(errors, "systolic_mmhg", f.systolic_mmhg, core::systolic_range.min,
                          core::systolic_range.max, "mmHg", "plausible reading");
  detail::require_between(errors, "diastolic_mmhg", f.diastolic_mmhg, core::diastolic_range.min,
                          core::diastolic_range.max, "mmHg", "plausible reading");
  detail::require_positive(errors, "hdl_mg_dl", f.hdl_mg_dl, "mg/dL");
  detail::require_positive(errors, "triglycerides_mg_dl", f.triglycerides_mg_dl, "mg/dL");
  detail::require_in(errors, "fasting_glucose_mg_dl", f.fasting_glucose_mg_dl,
                     core::mmol_l_to_mg_dl(core::glucose_range.min), framingham_diabetes_fasting_glucose_limit_mg_dl,
                     "mg/dL", "126 mg/dL or more is already diabetes, the outcome this model predicts");
  if (!errors.empty())
    return core::Error::invalid("outside the Framingham Offspring diabetes model (Wilson 2007)", std::move(errors));

  const double z = framingham_diabetes_log_odds(f);
  return DiabetesRisk{z, 1 / (1 + std::exp(-z)),
                      f.age_years >= framingham_diabetes_population_min_age_years &&
                          f.age_years < framingham_diabetes_population_max_age_years + 1};
}

}  // namespace careloop::risk
