#pragma once
// Framingham incident-hypertension risk score: Parikh NI, Pencina MJ, Wang TJ,
// et al. A risk score for predicting near-term incidence of hypertension: the
// Framingham Heart Study. Ann Intern Med 2008;148:102–110. CLINICAL.md §6.
#include <vector>

#include "careloop/core/result.hpp"

namespace careloop::risk {

struct HypertensionRiskFactors {
  bool female = false;
  double age_years = 0;
  double bmi_kg_m2 = 0;
  double systolic_mmhg = 0;
  double diastolic_mmhg = 0;
  bool current_smoker = false;
  int parents_with_hypertension = 0;  // 0, 1 or 2
};

// Risks are probabilities in [0, 1] at the horizons the model was published for.
struct HypertensionRisk {
  double linear_predictor = 0;  // xb of the Weibull model
  double risk_1y = 0;
  double risk_2y = 0;
  double risk_4y = 0;
};

// The derivation cohort (Parikh 2008): 1,717 non-hypertensive adults aged
// 20–69; hypertension is SBP ≥ 140 or DBP ≥ 90 mmHg (or treatment).
inline constexpr double framingham_hypertension_min_age_years = 20;
inline constexpr double framingham_hypertension_max_age_years = 69;  // completed years: age < 70
inline constexpr double framingham_hypertension_systolic_limit_mmhg = 140;   // must be below
inline constexpr double framingham_hypertension_diastolic_limit_mmhg = 90;   // must be below

// xb = 22.949536 − 0.202933·female − 0.156412·age − 0.033881·BMI − 0.05933·SBP
//      − 0.128468·DBP − 0.190731·smoker − 0.166121·parents + 0.001624·age·DBP
// (Parikh 2008, CLINICAL.md §6). Raw: no range check.
double framingham_hypertension_linear_predictor(const HypertensionRiskFactors& f) noexcept;

// risk(t) = 1 − exp(−exp((ln t − xb) / 0.876925)), the Weibull form of
// Parikh 2008 (CLINICAL.md §6); published for t = 1, 2 and 4 years.
double framingham_hypertension_risk_at(double linear_predictor, double years) noexcept;

// The 1-, 2- and 4-year risks without checking that the model applies: for the
// synthetic cohort generator and for research, never for a patient-facing score.
HypertensionRisk framingham_hypertension_unchecked(const HypertensionRiskFactors& f) noexcept;

// Why the model does not apply to these inputs (empty when it does): age
// outside 20–69, already hypertensive, values that are not physically plausible.
std::vector<core::FieldError> framingham_hypertension_applicability(const HypertensionRiskFactors& f);

// The 1-, 2- and 4-year risks, or Errc::invalid naming each field that puts
// the person outside the model; never an extrapolation.
core::Result<HypertensionRisk> framingham_hypertension(const HypertensionRiskFactors& f);

}  // namespace careloop::risk
