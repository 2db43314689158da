#include "careloop/risk/cohort.hpp"

#include <cmath>
#include <numbers>
#include <random>

#include "careloop/core/plausibility.hpp"
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

}  // namespace careloop::risk
