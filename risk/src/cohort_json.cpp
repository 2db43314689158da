// Cohort files (data/cohorts/*.json) → generated training tables.
#include <nlohmann/json.hpp>
#include <set>

#include "careloop/risk/cohort.hpp"

namespace careloop::risk {

namespace {

using nlohmann::json;
using Errors = std::vector<core::FieldError>;

class Reader {
 public:
  Reader(const json& j, std::string at) : j_(j), at_(std::move(at)) {}

  void number(const char* key, double& out) {
    seen_.insert(key);
    if (!j_.contains(key) || !j_[key].is_number()) {
      errors_.push_back({at_ + "/" + key, "is required and must be a number"});
      return;
    }
    out = j_[key].get<double>();
  }
  void normal(const char* key, NormalDistribution& out) {
    seen_.insert(key);
    const auto it = j_.find(key);
    if (it == j_.end() || !it->is_object() || !(*it)["mean"].is_number() || !(*it)["sd"].is_number()) {
      errors_.push_back({at_ + "/" + key, "is required: {\"mean\": number, \"sd\": number}"});
      return;
    }
    out = {(*it)["mean"].get<double>(), (*it)["sd"].get<double>()};
  }
  // "source" and "note" fields document the numbers; anything else is a typo.
  Errors finish() {
    for (const auto& [k, v] : j_.items())
      if (!seen_.count(k) && k != "source" && k != "note") errors_.push_back({at_ + "/" + k, "is not a field of this spec"});
    return std::move(errors_);
  }

 private:
  const json& j_;
  std::string at_;
  std::set<std::string> seen_;
  Errors errors_;
};

}  // namespace

core::Result<Table> generate_cohort_from_json(std::string_view text, std::optional<std::size_t> size_override,
                                              std::optional<std::uint64_t> seed_override) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return core::Error::invalid(std::string("cohort file is not JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string() || !j.contains("size") ||
      !j["size"].is_number_unsigned() || !j.contains("seed") || !j["seed"].is_number_unsigned() || !j.contains("spec") ||
      !j["spec"].is_object())
    return core::Error::invalid("a cohort file is {\"kind\", \"size\", \"seed\", \"spec\"}",
                                {{"", "kind (string), size and seed (non-negative integers), spec (object) are required"}});
  const auto kind = j["kind"].get<std::string>();
  const auto size = size_override.value_or(j["size"].get<std::size_t>());
  const auto seed = seed_override.value_or(j["seed"].get<std::uint64_t>());
  Reader r(j["spec"], "/spec");
  if (kind == "hypertension") {
    HypertensionCohortSpec s;
    r.number("female_proportion", s.female_proportion);
    r.number("min_age_years", s.min_age_years);
    r.number("max_age_years", s.max_age_years);
    r.normal("bmi_kg_m2", s.bmi_kg_m2);
    r.number("min_bmi_kg_m2", s.min_bmi_kg_m2);
    r.number("max_bmi_kg_m2", s.max_bmi_kg_m2);
    r.normal("systolic_mmhg", s.systolic_mmhg);
    r.normal("diastolic_mmhg", s.diastolic_mmhg);
    r.number("systolic_diastolic_correlation", s.systolic_diastolic_correlation);
    r.number("current_smoker_proportion", s.current_smoker_proportion);
    r.number("parent_hypertension_proportion", s.parent_hypertension_proportion);
    if (auto errors = r.finish(); !errors.empty()) return core::Error::invalid("invalid cohort file", std::move(errors));
    auto cohort = generate_hypertension_cohort(s, size, seed);
    if (!cohort) return cohort.error();
    return to_table(*cohort);
  }
  if (kind == "diabetes") {
    DiabetesCohortSpec s;
    r.number("female_proportion", s.female_proportion);
    r.number("min_age_years", s.min_age_years);
    r.number("max_age_years", s.max_age_years);
    r.normal("bmi_kg_m2", s.bmi_kg_m2);
    r.number("min_bmi_kg_m2", s.min_bmi_kg_m2);
    r.number("max_bmi_kg_m2", s.max_bmi_kg_m2);
    r.number("waist_men_intercept_cm", s.waist_men_intercept_cm);
    r.number("waist_men_per_bmi_cm", s.waist_men_per_bmi_cm);
    r.number("waist_women_intercept_cm", s.waist_women_intercept_cm);
    r.number("waist_women_per_bmi_cm", s.waist_women_per_bmi_cm);
    r.number("waist_residual_sd_cm", s.waist_residual_sd_cm);
    r.normal("systolic_mmhg", s.systolic_mmhg);
    r.normal("diastolic_mmhg", s.diastolic_mmhg);
    r.number("systolic_diastolic_correlation", s.systolic_diastolic_correlation);
    r.number("antihypertensive_treatment_proportion", s.antihypertensive_treatment_proportion);
    r.normal("fasting_glucose_mmol_l", s.fasting_glucose_mmol_l);
    r.number("min_fasting_glucose_mmol_l", s.min_fasting_glucose_mmol_l);
    r.normal("hdl_men_mmol_l", s.hdl_men_mmol_l);
    r.normal("hdl_women_mmol_l", s.hdl_women_mmol_l);
    r.number("triglycerides_median_mmol_l", s.triglycerides_median_mmol_l);
    r.number("triglycerides_log_sd", s.triglycerides_log_sd);
    r.number("parental_diabetes_proportion", s.parental_diabetes_proportion);
    if (auto errors = r.finish(); !errors.empty()) return core::Error::invalid("invalid cohort file", std::move(errors));
    auto cohort = generate_diabetes_cohort(s, size, seed);
    if (!cohort) return cohort.error();
    return to_table(*cohort);
  }
  return core::Error::invalid("unknown cohort kind '" + kind + "'", {{"/kind", "must be \"hypertension\" or \"diabetes\""}});
}

}  // namespace careloop::risk
