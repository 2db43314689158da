#pragma once
// Seeded synthetic cohorts whose outcomes are drawn from a published risk
// equation, for training and checking models where no real cohort can be
// shared. The covariate distributions are the caller's to give, with their
// source: this module holds no population numbers of its own.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/risk/framingham_diabetes.hpp"
#include "careloop/risk/framingham_hypertension.hpp"
#include "careloop/risk/table.hpp"

namespace careloop::risk {

struct NormalDistribution {
  double mean = 0;
  double sd = 0;
};

// Adults without hypertension, drawn independently except for SBP and DBP,
// which are bivariate normal; every draw outside the Framingham model's
// range (age, SBP < 140, DBP < 90, plausible values) is redrawn, so every
// person is one the model applies to.
struct HypertensionCohortSpec {
  double female_proportion = 0;
  double min_age_years = framingham_hypertension_min_age_years;
  double max_age_years = framingham_hypertension_max_age_years;  // ages uniform over [min, max + 1)
  NormalDistribution bmi_kg_m2;
  double min_bmi_kg_m2 = 0;  // BMI truncated to [min, max]
  double max_bmi_kg_m2 = 0;
  NormalDistribution systolic_mmhg;
  NormalDistribution diastolic_mmhg;
  double systolic_diastolic_correlation = 0;
  double current_smoker_proportion = 0;
  double parent_hypertension_proportion = 0;  // each parent independently: 0, 1 or 2 parents
};

struct HypertensionCohortMember {
  HypertensionRiskFactors factors;
  double risk_4y = 0;  // Framingham (Parikh 2008)
  bool hypertension_within_4y = false;  // drawn with probability risk_4y
};

// Deterministic for a spec, size and seed: the engine is mt19937_64 and the
// uniform and normal transforms are written here rather than taken from the
// standard library's implementation-defined distributions, so only libm's
// rounding of log, sin and cos could differ from one platform to another.
// Errc::invalid when the spec is malformed or its distributions leave the
// model's range so rarely that redrawing does not find a person.
core::Result<std::vector<HypertensionCohortMember>> generate_hypertension_cohort(const HypertensionCohortSpec& spec,
                                                                                 std::size_t size,
                                                                                 std::uint64_t seed);

// Adults without diabetes, with the covariates of the Framingham Offspring
// diabetes model (Wilson 2007) and of the Chinese Diabetes Risk Score
// (waist). Independent draws except: SBP/DBP bivariate normal; waist from
// BMI by a per-sex line plus normal noise; HDL normal per sex;
// triglycerides log-normal. Glucose, HDL and triglycerides are drawn in
// mmol/L and converted to mg/dL for the model with the converters of
// core/units.hpp and lipids.hpp, so a baseline recomputed from the mmol/L
// values gets exactly the generating risk. Fasting glucose ≥ 126 mg/dL
// (diabetes already) is redrawn; every other draw is truncated to its range.
struct DiabetesCohortSpec {
  double female_proportion = 0;
  double min_age_years = 20;
  double max_age_years = 74;  // ages uniform over [min, max + 1)
  NormalDistribution bmi_kg_m2;
  double min_bmi_kg_m2 = 0;
  double max_bmi_kg_m2 = 0;
  double waist_men_intercept_cm = 0;  // waist = intercept + per_bmi · BMI + N(0, residual_sd)
  double waist_men_per_bmi_cm = 0;
  double waist_women_intercept_cm = 0;
  double waist_women_per_bmi_cm = 0;
  double waist_residual_sd_cm = 0;
  NormalDistribution systolic_mmhg;
  NormalDistribution diastolic_mmhg;
  double systolic_diastolic_correlation = 0;
  double antihypertensive_treatment_proportion = 0;
  NormalDistribution fasting_glucose_mmol_l;
  double min_fasting_glucose_mmol_l = 0;
  NormalDistribution hdl_men_mmol_l;
  NormalDistribution hdl_women_mmol_l;
  double triglycerides_median_mmol_l = 0;  // log-normal: ln TG ~ N(ln median, log_sd)
  double triglycerides_log_sd = 0;
  double parental_diabetes_proportion = 0;
};

struct DiabetesCohortMember {
  DiabetesRiskFactors factors;  // mg/dL, as the model is published
  double waist_cm = 0;
  double fasting_glucose_mmol_l = 0;
  double hdl_mmol_l = 0;
  double triglycerides_mmol_l = 0;
  double risk_8y = 0;  // Framingham Offspring (Wilson 2007)
  bool diabetes_within_8y = false;  // drawn with probability risk_8y
};

// Deterministic for a spec, size and seed, like generate_hypertension_cohort.
core::Result<std::vector<DiabetesCohortMember>> generate_diabetes_cohort(const DiabetesCohortSpec& spec,
                                                                         std::size_t size, std::uint64_t seed);

// The cohorts as training tables. Columns, named as the baselines of
// model_spec.hpp expect them: hypertension — female, age_years, bmi_kg_m2,
// systolic_mmhg, diastolic_mmhg, current_smoker, parents_with_hypertension,
// hypertension_4y; diabetes — female, age_years, bmi_kg_m2, waist_cm,
// systolic_mmhg, diastolic_mmhg, on_antihypertensive_treatment,
// fasting_glucose_mmol_l, hdl_mmol_l, triglycerides_mmol_l,
// parental_diabetes, diabetes_8y. Indicators are 0/1.
Table to_table(const std::vector<HypertensionCohortMember>& cohort);
Table to_table(const std::vector<DiabetesCohortMember>& cohort);

// A cohort file (data/cohorts/*.json): {"kind": "hypertension" or
// "diabetes", "size", "seed", "spec": {the fields of the spec above}}.
// size and seed, when given, replace the file's. Errc::invalid naming
// unknown or missing fields.
core::Result<Table> generate_cohort_from_json(std::string_view json, std::optional<std::size_t> size = std::nullopt,
                                              std::optional<std::uint64_t> seed = std::nullopt);

}  // namespace careloop::risk
