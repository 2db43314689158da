#pragma once
// New Chinese Diabetes Risk Score: Zhou X, Qiao Q, Ji L, et al.
// Nonlaboratory-based risk assessment algorithm for undiagnosed type 2
// diabetes developed on a nation-wide diabetes survey. Diabetes Care 2013
// (CLINICAL.md §6 names Diabetes Metab Res Rev; the paper is in Diabetes
// Care). Derived in 41,809 adults aged 20–74 of the China National Diabetes
// and Metabolic Disorders Study 2007–08; it flags likely *undiagnosed*
// diabetes (≥ 25 → OGTT), it does not predict incidence. Points as in
// CLINICAL.md §6, taken there from a secondary summary [S]: a clinician
// should check them against the paper before a protocol relies on them.
#include "careloop/core/result.hpp"

namespace careloop::risk {

struct ChineseDiabetesRiskFactors {
  bool male = false;
  int age_years = 0;  // completed years
  double bmi_kg_m2 = 0;
  double waist_cm = 0;
  double systolic_mmhg = 0;
  bool family_history_diabetes = false;
};

// Points per item, so a care plan can say which factors drive the total.
struct ChineseDiabetesRiskScore {
  int age_points = 0;
  int bmi_points = 0;
  int waist_points = 0;
  int systolic_points = 0;
  int family_history_points = 0;
  int sex_points = 0;
  int total_points = 0;  // 0–51
  bool high_risk = false;  // total ≥ 25: offer an oral glucose tolerance test
};

inline constexpr int cdrs_min_age_years = 20;
inline constexpr int cdrs_max_age_years = 74;
inline constexpr int cdrs_max_points = 51;
inline constexpr int cdrs_high_risk_points = 25;

// Points (Zhou 2013, CLINICAL.md §6): age 20–24/25–34/35–39/40–44/45–49/
// 50–54/55–59/60–64/65–74 → 0/4/8/11/12/13/15/16/18; BMI < 22/22–23.9/
// 24–29.9/≥ 30 → 0/1/3/5; waist (men < 75/75–79.9/80–84.9/85–89.9/90–94.9/
// ≥ 95 cm, women 5 cm lower) → 0/3/5/7/8/10; systolic < 110/110–119/120–129/
// 130–139/140–149/150–159/≥ 160 → 0/1/3/6/7/8/10; family history of
// diabetes 6; male 2. Errc::invalid outside ages 20–74 or for implausible values.
core::Result<ChineseDiabetesRiskScore> chinese_diabetes_risk_score(const ChineseDiabetesRiskFactors& f);

}  // namespace careloop::risk
