#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>

#include "careloop/risk/cohort.hpp"

using namespace careloop::risk;

namespace {

// Test values chosen to give a spread of risks, not a description of any population.
HypertensionCohortSpec test_spec() {
  HypertensionCohortSpec s;
  s.female_proportion = 0.5;
  s.bmi_kg_m2 = {26, 4.5};
  s.min_bmi_kg_m2 = 16;
  s.max_bmi_kg_m2 = 50;
  s.systolic_mmhg = {120, 12};
  s.diastolic_mmhg = {76, 8};
  s.systolic_diastolic_correlation = 0.6;
  s.current_smoker_proportion = 0.2;
  s.parent_hypertension_proportion = 0.3;
  return s;
}

}  // namespace

TEST_CASE("hypertension cohort: observed 4-year incidence matches the mean predicted risk") {
  constexpr std::size_t size = 50'000;
  const auto cohort = generate_hypertension_cohort(test_spec(), size, 20240601);
  REQUIRE(cohort.ok());
  REQUIRE(cohort->size() == size);

  double sum_risk = 0;
  double sum_variance = 0;
  std::size_t cases = 0;
  for (const auto& m : *cohort) {
    sum_risk += m.risk_4y;
    sum_variance += m.risk_4y * (1 - m.risk_4y);
    cases += m.hypertension_within_4y ? 1 : 0;
  }
  const double mean_risk = sum_risk / size;
  const double observed = static_cast<double>(cases) / size;
  // The count of cases is a sum of independent Bernoulli draws: its SD is sqrt(Σ p(1 − p)).
  const double standard_error = std::sqrt(sum_variance) / size;
  CAPTURE(mean_risk, observed, standard_error);
  CHECK(std::abs(observed - mean_risk) < 4 * standard_error);
  CHECK(mean_risk > 0.05);
  CHECK(mean_risk < 0.6);
}

TEST_CASE("hypertension cohort: everyone is inside the model's range") {
  const auto cohort = generate_hypertension_cohort(test_spec(), 5'000, 7);
  REQUIRE(cohort.ok());
  std::size_t outside = 0;
  for (const auto& m : *cohort) outside += framingham_hypertension_applicability(m.factors).empty() ? 0 : 1;
  CHECK(outside == 0);
}

TEST_CASE("hypertension cohort: the same seed gives the same cohort, another seed another") {
  const auto a = generate_hypertension_cohort(test_spec(), 1'000, 99);
  const auto b = generate_hypertension_cohort(test_spec(), 1'000, 99);
  const auto c = generate_hypertension_cohort(test_spec(), 1'000, 100);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  std::size_t same_as_b = 0;
  std::size_t same_as_c = 0;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const auto& x = (*a)[i];
    auto same = [&](const HypertensionCohortMember& y) {
      return x.factors.female == y.factors.female && x.factors.age_years == y.factors.age_years &&
             x.factors.bmi_kg_m2 == y.factors.bmi_kg_m2 && x.factors.systolic_mmhg == y.factors.systolic_mmhg &&
             x.factors.diastolic_mmhg == y.factors.diastolic_mmhg &&
             x.factors.current_smoker == y.factors.current_smoker &&
             x.factors.parents_with_hypertension == y.factors.parents_with_hypertension &&
             x.hypertension_within_4y == y.hypertension_within_4y;
    };
    same_as_b += same((*b)[i]) ? 1 : 0;
    same_as_c += same((*c)[i]) ? 1 : 0;
  }
  CHECK(same_as_b == a->size());
  CHECK(same_as_c == 0);
}

TEST_CASE("hypertension cohort: a malformed spec is refused") {
  auto s = test_spec();
  s.female_proportion = 1.5;
  s.bmi_kg_m2.sd = 0;
  s.min_age_years = 18;
  auto r = generate_hypertension_cohort(s, 10, 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().fields.size() == 3);

  // Everyone hypertensive: no acceptable blood pressure can be drawn.
  s = test_spec();
  s.systolic_mmhg = {200, 1};
  r = generate_hypertension_cohort(s, 10, 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().fields.at(0).pointer == "/systolic_mmhg");
}
