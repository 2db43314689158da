#pragma once
// Framingham Offspring 8-year diabetes risk, simple clinical model: Wilson PWF,
// Meigs JB, Sullivan L, Fox CS, Nathan DM, D'Agostino RB Sr. Prediction of
// incident diabetes mellitus in middle-aged adults: the Framingham Offspring
// Study. Arch Intern Med 2007;167:1068–1074. CLINICAL.md §6.
//
// Every threshold of this model is published in mg/dL, so the inputs are in
// mg/dL: convert canonical glucose with core::mmol_l_to_mg_dl and lipids with
// the converters in lipids.hpp.
#include "careloop/core/result.hpp"

namespace careloop::risk {

struct DiabetesRiskFactors {
  bool female = false;
  double age_years = 0;
  bool parental_diabetes = false;  // either parent
  double bmi_kg_m2 = 0;
  double systolic_mmhg = 0;
  double diastolic_mmhg = 0;
  bool on_antihypertensive_treatment = false;
  double hdl_mg_dl = 0;
  double triglycerides_mg_dl = 0;
  double fasting_glucose_mg_dl = 0;
};

struct DiabetesRisk {
  double log_odds = 0;
  double risk_8y = 0;  // probability in [0, 1]
  // The Framingham Heart Study gives 45–64 years as this model's population
  // of interest; the model still has a ≥ 65 category, so older ages are scored
  // and flagged rather than refused.
  bool age_in_population_of_interest = false;
};

// Wilson 2007 categories, with the bounds as published.
inline constexpr double framingham_diabetes_age_band_50_years = 50;
inline constexpr double framingham_diabetes_age_band_65_years = 65;
inline constexpr double framingham_diabetes_bmi_overweight_kg_m2 = 25;
inline constexpr double framingham_diabetes_bmi_obese_kg_m2 = 30;
inline constexpr double framingham_diabetes_systolic_mmhg = 130;   // at or above
inline constexpr double framingham_diabetes_diastolic_mmhg = 85;   // at or above
inline constexpr double framingham_diabetes_hdl_men_mg_dl = 40;    // below
inline constexpr double framingham_diabetes_hdl_women_mg_dl = 50;  // below
inline constexpr double framingham_diabetes_triglycerides_mg_dl = 150;  // at or above
inline constexpr double framingham_diabetes_impaired_fasting_glucose_mg_dl = 100;  // at or above
// Fasting glucose ≥ 126 mg/dL is diabetes (the model's outcome), so it is out of range.
inline constexpr double framingham_diabetes_fasting_glucose_limit_mg_dl = 126;
inline constexpr double framingham_diabetes_population_min_age_years = 45;
inline constexpr double framingham_diabetes_population_max_age_years = 64;

// z = −5.517 − 0.018·[age 50–64] − 0.081·[age ≥ 65] − 0.010·male
//     + 0.565·parental diabetes + 0.301·[BMI 25–29.9] + 0.92·[BMI ≥ 30]
//     + 0.498·[BP ≥ 130/85 or treated] + 0.944·[HDL < 40 men / < 50 women]
//     + 0.575·[TG ≥ 150] + 1.980·[fasting glucose 100–125.9 mg/dL]
// (Wilson 2007, CLINICAL.md §6). Raw: no range check.
double framingham_diabetes_log_odds(const DiabetesRiskFactors& f) noexcept;

// risk = 1 / (1 + e^−z), with the inputs checked: Errc::invalid when the
// person already has diabetic fasting glucose (≥ 126 mg/dL) or a value is
// not physically plausible.
core::Result<DiabetesRisk> framingham_diabetes(const DiabetesRiskFactors& f);

}  // namespace careloop::risk
