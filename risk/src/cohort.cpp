#include "careloop/risk/cohort.hpp"

#include <cmath>
#include <numbers>
#include <random>

#include "careloop/core/plausibility.hpp"
#include "careloop/core/units.hpp"
#include "careloop/risk/lipids.hpp"
#include "field_checks.hpp"

namespace careloop::risk {

namespace {

// A spec whose acceptance region is this improbable is a mistake, not a population.
constexpr int max_draws_per_person = 10'000;

class Sampler {
 public:
  explicit Sampler(std::uint64_t seed) : engine_(seed) {}

  // 53 random bits → a double uniform on [0, 1).
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  bool bernoulli(double p) { return uniform() < p; }

  // Box–Muller; 1 − u keeps the logarithm's argument in (0, 1].
  std::pair<double, double> standard_normal_pair() {
    const double radius = std::sqrt(-2 * std::log(1 - uniform()));
    const double angle = 2 * std::numbers::pi * uniform();
    return {radius * std::cos(angle), radius * std::sin(angle)};
  }

  double normal(const NormalDistribution& d) { return d.mean + d.sd * standard_normal_pair().first; }

 private:
  std::mt19937_64 engine_;
};

detail::Errors check_spec(const HypertensionCohortSpec& s) {
  detail::Errors errors;
  auto require_proportion = [&](const char* name, double p) {
    detail::require_between(errors, name, p, 0, 1, "", "a proportion");
  };
  require_proportion("female_proportion", s.female_proportion);
  require_proportion("current_smoker_proportion", s.current_smoker_proportion);
  require_proportion("parent_hypertension_proportion", s.parent_hypertension_proportion);
  detail::require_between(errors, "systolic_diastolic_correlation", s.systolic_diastolic_correlation, -1, 1, "",
                          "a correlation");
  detail::require_between(errors, "min_age_years", s.min_age_years, framingham_hypertension_min_age_years,
                          framingham_hypertension_max_age_years, "years", "the model's derivation range");
  detail::require_between(errors, "max_age_years", s.max_age_years, s.min_age_years,
                          framingham_hypertension_max_age_years, "years", "the model's derivation range");
  detail::require_positive(errors, "bmi_kg_m2/sd", s.bmi_kg_m2.sd, "kg/m²");
  detail::require_positive(errors, "systolic_mmhg/sd", s.systolic_mmhg.sd, "mmHg");
  detail::require_positive(errors, "diastolic_mmhg/sd", s.diastolic_mmhg.sd, "mmHg");
  detail::require_positive(errors, "min_bmi_kg_m2", s.min_bmi_kg_m2, "kg/m²");
  if (!(s.max_bmi_kg_m2 > s.min_bmi_kg_m2))
    errors.push_back({"/max_bmi_kg_m2", "must be above min_bmi_kg_m2; got " + detail::number(s.max_bmi_kg_m2)});
  return errors;
}

// Redraws until the predicate holds; false if it never does within the limit.
template <class Draw, class Accept>
bool draw_until(Draw draw, Accept accept) {
  for (int i = 0; i < max_draws_per_person; ++i)
    if (accept(draw())) return true;
  return false;
}

}  // namespace

core::Result<std::vector<HypertensionCohortMember>> generate_hypertension_cohort(const HypertensionCohortSpec& spec,
                                                                                 std::size_t size,
                                                                                 std::uint64_t seed) {
  if (auto errors = check_spec(spec); !errors.empty())
    return core::Error::invalid("invalid hypertension cohort spec", std::move(errors));

  Sampler sampler(seed);
  const double rho = spec.systolic_diastolic_correlation;
  std::vector<HypertensionCohortMember> cohort;
  cohort.reserve(size);
  for (std::size_t i = 0; i < size; ++i) {
    HypertensionCohortMember m;
    auto& f = m.factors;
    f.female = sampler.bernoulli(spec.female_proportion);
    f.age_years = spec.min_age_years + (spec.max_age_years + 1 - spec.min_age_years) * sampler.uniform();
    const bool bmi_found = draw_until([&] { return sampler.normal(spec.bmi_kg_m2); },
                                      [&](double bmi_kg_m2) {
                                        f.bmi_kg_m2 = bmi_kg_m2;
                                        return bmi_kg_m2 >= spec.min_bmi_kg_m2 && bmi_kg_m2 <= spec.max_bmi_kg_m2;
                                      });
    const bool bp_found = draw_until([&] { return sampler.standard_normal_pair(); },
                                     [&](std::pair<double, double> z) {
                                       f.systolic_mmhg = spec.systolic_mmhg.mean + spec.systolic_mmhg.sd * z.first;
                                       f.diastolic_mmhg = spec.diastolic_mmhg.mean +
                                                          spec.diastolic_mmhg.sd *
                                                              (rho * z.first + std::sqrt(1 - rho * rho) * z.second);
                                       return f.systolic_mmhg >= core::systolic_range.min &&
                                              f.systolic_mmhg < framingham_hypertension_systolic_limit_mmhg &&
                                              f.diastolic_mmhg >= core::diastolic_range.min &&
                                              f.diastolic_mmhg < framingham_hypertension_diastolic_limit_mmhg &&
                                              f.diastolic_mmhg < f.systolic_mmhg;
                                     });
    if (!bmi_found || !bp_found)
      return core::Error::invalid("the cohort spec's distributions almost never fall inside the model's range",
                                  {{bmi_found ? "/systolic_mmhg" : "/bmi_kg_m2", "redrawn " +
                                        std::to_string(max_draws_per_person) + " times without an acceptable value"}});
    f.current_smoker = sampler.bernoulli(spec.current_smoker_proportion);
    f.parents_with_hypertension = (sampler.bernoulli(spec.parent_hypertension_proportion) ? 1 : 0) +
                                  (sampler.bernoulli(spec.parent_hypertension_proportion) ? 1 : 0);
    m.risk_4y = framingham_hypertension_unchecked(f).risk_4y;
    m.hypertension_within_4y = sampler.bernoulli(m.risk_4y);
    cohort.push_back(m);
  }
  return cohort;
}

namespace {

detail::Errors check_spec(const DiabetesCohortSpec& s) {
  detail::Errors errors;
  auto require_proportion = [&](const char* name, double p) {
    detail::require_between(errors, name, p, 0, 1, "", "a proportion");
  };
  require_proportion("female_proportion", s.female_proportion);
  require_proportion("antihypertensive_treatment_proportion", s.antihypertensive_treatment_proportion);
  require_proportion("parental_diabetes_proportion", s.parental_diabetes_proportion);
  detail::require_between(errors, "systolic_diastolic_correlation", s.systolic_diastolic_correlation, -1, 1, "",
                          "a correlation");
  detail::require_between(errors, "min_age_years", s.min_age_years, 18, 100, "years", "adults");
  detail::require_between(errors, "max_age_years", s.max_age_years, s.min_age_years, 100, "years", "adults");
  detail::require_positive(errors, "bmi_kg_m2/sd", s.bmi_kg_m2.sd, "kg/m²");
  detail::require_positive(errors, "min_bmi_kg_m2", s.min_bmi_kg_m2, "kg/m²");
  if (!(s.max_bmi_kg_m2 > s.min_bmi_kg_m2))
    errors.push_back({"/max_bmi_kg_m2", "must be above min_bmi_kg_m2; got " + detail::number(s.max_bmi_kg_m2)});
  detail::require_positive(errors, "waist_residual_sd_cm", s.waist_residual_sd_cm, "cm");
  detail::require_positive(errors, "systolic_mmhg/sd", s.systolic_mmhg.sd, "mmHg");
  detail::require_positive(errors, "diastolic_mmhg/sd", s.diastolic_mmhg.sd, "mmHg");
  detail::require_positive(errors, "fasting_glucose_mmol_l/sd", s.fasting_glucose_mmol_l.sd, "mmol/L");
  detail::require_positive(errors, "min_fasting_glucose_mmol_l", s.min_fasting_glucose_mmol_l, "mmol/L");
  detail::require_positive(errors, "hdl_men_mmol_l/sd", s.hdl_men_mmol_l.sd, "mmol/L");
  detail::require_positive(errors, "hdl_women_mmol_l/sd", s.hdl_women_mmol_l.sd, "mmol/L");
  detail::require_positive(errors, "triglycerides_median_mmol_l", s.triglycerides_median_mmol_l, "mmol/L");
  detail::require_positive(errors, "triglycerides_log_sd", s.triglycerides_log_sd, "");
  return errors;
}

// Plausible adult ranges for the draws that have no model limit of their own.
constexpr double min_waist_cm = 50, max_waist_cm = 160;
constexpr double min_hdl_mmol_l = 0.5, max_hdl_mmol_l = 3.5;
constexpr double min_triglycerides_mmol_l = 0.3, max_triglycerides_mmol_l = 10;

}  // namespace

core::Result<std::vector<DiabetesCohortMember>> generate_diabetes_cohort(const DiabetesCohortSpec& spec,
                                                                         std::size_t size, std::uint64_t seed) {
  if (auto errors = check_spec(spec); !errors.empty())
    return core::Error::invalid("invalid diabetes cohort spec", std::move(errors));

  Sampler sampler(seed);
  const double rho = spec.systolic_diastolic_correlation;
  std::vector<DiabetesCohortMember> cohort;
  cohort.reserve(size);
  auto fail = [](const char* field) {
    return core::Error::invalid("the cohort spec's distributions almost never fall inside their range",
                                {{field, "redrawn " + std::to_string(max_draws_per_person) +
                                             " times without an acceptable value"}});
  };
  for (std::size_t i = 0; i < size; ++i) {
    DiabetesCohortMember m;
    auto& f = m.factors;
    f.female = sampler.bernoulli(spec.female_proportion);
    f.age_years = spec.min_age_years + (spec.max_age_years + 1 - spec.min_age_years) * sampler.uniform();
    if (!draw_until([&] { return sampler.normal(spec.bmi_kg_m2); },
                    [&](double v) {
                      f.bmi_kg_m2 = v;
                      return v >= spec.min_bmi_kg_m2 && v <= spec.max_bmi_kg_m2;
                    }))
      return fail("/bmi_kg_m2");
    const double waist_intercept = f.female ? spec.waist_women_intercept_cm : spec.waist_men_intercept_cm;
    const double waist_slope = f.female ? spec.waist_women_per_bmi_cm : spec.waist_men_per_bmi_cm;
    if (!draw_until([&] { return sampler.normal({waist_intercept + waist_slope * f.bmi_kg_m2, spec.waist_residual_sd_cm}); },
                    [&](double v) {
                      m.waist_cm = v;
                      return v >= min_waist_cm && v <= max_waist_cm;
                    }))
      return fail("/waist_residual_sd_cm");
    if (!draw_until([&] { return sampler.standard_normal_pair(); },
                    [&](std::pair<double, double> z) {
                      f.systolic_mmhg = spec.systolic_mmhg.mean + spec.systolic_mmhg.sd * z.first;
                      f.diastolic_mmhg = spec.diastolic_mmhg.mean +
                                         spec.diastolic_mmhg.sd * (rho * z.first + std::sqrt(1 - rho * rho) * z.second);
                      return f.systolic_mmhg >= core::systolic_range.min && f.systolic_mmhg <= core::systolic_range.max &&
                             f.diastolic_mmhg >= core::diastolic_range.min && f.diastolic_mmhg < f.systolic_mmhg;
                    }))
      return fail("/systolic_mmhg");
    f.on_antihypertensive_treatment = sampler.bernoulli(spec.antihypertensive_treatment_proportion);
    if (!draw_until([&] { return sampler.normal(spec.fasting_glucose_mmol_l); },
                    [&](double v) {
                      m.fasting_glucose_mmol_l = v;
                      f.fasting_glucose_mg_dl = core::mmol_l_to_mg_dl(v);
                      return v >= spec.min_fasting_glucose_mmol_l &&
                             f.fasting_glucose_mg_dl < framingham_diabetes_fasting_glucose_limit_mg_dl;
                    }))
      return fail("/fasting_glucose_mmol_l");
    if (!draw_until([&] { return sampler.normal(f.female ? spec.hdl_women_mmol_l : spec.hdl_men_mmol_l); },
                    [&](double v) {
                      m.hdl_mmol_l = v;
                      return v >= min_hdl_mmol_l && v <= max_hdl_mmol_l;
                    }))
      return fail("/hdl_mmol_l");
    f.hdl_mg_dl = hdl_mmol_l_to_mg_dl(m.hdl_mmol_l);
    if (!draw_until([&] {
          return std::exp(sampler.normal({std::log(spec.triglycerides_median_mmol_l), spec.triglycerides_log_sd}));
        },
                    [&](double v) {
                      m.triglycerides_mmol_l = v;
                      return v >= min_triglycerides_mmol_l && v <= max_triglycerides_mmol_l;
                    }))
      return fail("/triglycerides_median_mmol_l");
    f.triglycerides_mg_dl = triglycerides_mmol_l_to_mg_dl(m.triglycerides_mmol_l);
    f.parental_diabetes = sampler.bernoulli(spec.parental_diabetes_proportion);
    m.risk_8y = 1 / (1 + std::exp(-framingham_diabetes_log_odds(f)));
    m.diabetes_within_8y = sampler.bernoulli(m.risk_8y);
    cohort.push_back(m);
  }
  return cohort;
}

Table to_table(const std::vector<HypertensionCohortMember>& cohort) {
  const std::size_t n = cohort.size();
  std::vector<std::vector<double>> c(8, std::vector<double>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const auto& f = cohort[i].factors;
    c[0][i] = f.female ? 1 : 0;
    c[1][i] = f.age_years;
    c[2][i] = f.bmi_kg_m2;
    c[3][i] = f.systolic_mmhg;
    c[4][i] = f.diastolic_mmhg;
    c[5][i] = f.current_smoker ? 1 : 0;
    c[6][i] = f.parents_with_hypertension;
    c[7][i] = cohort[i].hypertension_within_4y ? 1 : 0;
  }
  Table t;
  const char* names[] = {"female",         "age_years",      "bmi_kg_m2",
                         "systolic_mmhg",  "diastolic_mmhg", "current_smoker",
                         "parents_with_hypertension", "hypertension_4y"};
  for (std::size_t k = 0; k < c.size(); ++k) t.add_column(names[k], std::move(c[k]));
  return t;
}

Table to_table(const std::vector<DiabetesCohortMember>& cohort) {
  const std::size_t n = cohort.size();
  std::vector<std::vector<double>> c(12, std::vector<double>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const auto& m = cohort[i];
    const auto& f = m.factors;
    c[0][i] = f.female ? 1 : 0;
    c[1][i] = f.age_years;
    c[2][i] = f.bmi_kg_m2;
    c[3][i] = m.waist_cm;
    c[4][i] = f.systolic_mmhg;
    c[5][i] = f.diastolic_mmhg;
    c[6][i] = f.on_antihypertensive_treatment ? 1 : 0;
    c[7][i] = m.fasting_glucose_mmol_l;
    c[8][i] = m.hdl_mmol_l;
    c[9][i] = m.triglycerides_mmol_l;
    c[10][i] = f.parental_diabetes ? 1 : 0;
    c[11][i] = m.diabetes_within_8y ? 1 : 0;
  }
  Table t;
  const char* names[] = {"female",         "age_years",
                         "bmi_kg_m2",      "waist_cm",
                         "systolic_mmhg",  "diastolic_mmhg",
                         "on_antihypertensive_treatment", "fasting_glucose_mmol_l",
                         "hdl_mmol_l",     "triglycerides_mmol_l",
                         "parental_diabetes", "diabetes_8y"};
  for (std::size_t k = 0; k < c.size(); ++k) t.add_column(names[k], std::move(c[k]));
  return t;
}

}  // namespace careloop::risk
