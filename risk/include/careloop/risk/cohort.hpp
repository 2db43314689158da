#pragma once
// Seeded synthetic cohorts whose outcomes are drawn from a published risk
// equation, for training and checking models where no real cohort can be
// shared. The covariate distributions are the caller's to give, with their
// source: this module holds no population numbers of its own.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/risk/framingham_hypertension.hpp"

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

}  // namespace careloop::risk
