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

namespace {

// Test values chosen to give a spread of risks, not a description of any population.
DiabetesCohortSpec diabetes_test_spec() {
  DiabetesCohortSpec s;
  s.female_proportion = 0.5;
  s.min_age_years = 30;
  s.max_age_years = 74;
  s.bmi_kg_m2 = {26, 4};
  s.min_bmi_kg_m2 = 16;
  s.max_bmi_kg_m2 = 50;
  s.waist_men_intercept_cm = 18;
  s.waist_men_per_bmi_cm = 2.6;
  s.waist_women_intercept_cm = 12;
  s.waist_women_per_bmi_cm = 2.55;
  s.waist_residual_sd_cm = 5;
  s.systolic_mmhg = {128, 17};
  s.diastolic_mmhg = {80, 10};
  s.systolic_diastolic_correlation = 0.6;
  s.antihypertensive_treatment_proportion = 0.1;
  s.fasting_glucose_mmol_l = {5.4, 0.6};
  s.min_fasting_glucose_mmol_l = 3.5;
  s.hdl_men_mmol_l = {1.2, 0.3};
  s.hdl_women_mmol_l = {1.45, 0.35};
  s.triglycerides_median_mmol_l = 1.4;
  s.triglycerides_log_sd = 0.5;
  s.parental_diabetes_proportion = 0.2;
  return s;
}

}  // namespace

TEST_CASE("diabetes cohort: outcomes follow the Framingham Offspring risk, no one already diabetic") {
  constexpr std::size_t size = 50'000;
  auto cohort = generate_diabetes_cohort(diabetes_test_spec(), size, 3);
  REQUIRE(cohort.ok());
  REQUIRE(cohort->size() == size);
  double risk = 0, cases = 0;
  for (const auto& m : *cohort) {
    risk += m.risk_8y;
    cases += m.diabetes_within_8y ? 1 : 0;
    CHECK(m.factors.fasting_glucose_mg_dl < framingham_diabetes_fasting_glucose_limit_mg_dl);
    REQUIRE(m.risk_8y == Approx(framingham_diabetes(m.factors)->risk_8y));
  }
  const double expected = risk / size;
  // Binomial SD of the observed rate is below 0.1 percentage point here; allow 4 SD.
  CHECK(cases / size == Approx(expected).margin(4 * std::sqrt(expected * (1 - expected) / size)));
}

TEST_CASE("diabetes cohort: the same seed gives the same people, and the table has the baselines' columns") {
  auto a = generate_diabetes_cohort(diabetes_test_spec(), 100, 9);
  auto b = generate_diabetes_cohort(diabetes_test_spec(), 100, 9);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  for (std::size_t i = 0; i < 100; ++i) {
    CHECK((*a)[i].waist_cm == (*b)[i].waist_cm);
    CHECK((*a)[i].diabetes_within_8y == (*b)[i].diabetes_within_8y);
  }
  const auto t = to_table(*a);
  for (const char* c : {"female", "age_years", "waist_cm", "diastolic_mmhg", "on_antihypertensive_treatment",
                        "fasting_glucose_mmol_l", "hdl_mmol_l", "triglycerides_mmol_l", "parental_diabetes",
                        "diabetes_8y"})
    CHECK(t.column(c) != nullptr);
}

TEST_CASE("cohort files: unknown fields and kinds are refused") {
  CHECK_FALSE(generate_cohort_from_json(R"({"kind": "gout", "size": 1, "seed": 1, "spec": {}})").ok());
  auto r = generate_cohort_from_json(R"({"kind": "hypertension", "size": 1, "seed": 1, "spec": {"femal_proportion": 0.5}})");
  REQUIRE_FALSE(r.ok());
  bool named = false;
  for (const auto& f : r.error().fields) named |= f.pointer == "/spec/femal_proportion";
  CHECK(named);
}
