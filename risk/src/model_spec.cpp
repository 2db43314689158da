#include "careloop/risk/model_spec.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace careloop::risk {

using nlohmann::json;

std::vector<std::string> ModelSpec::feature_names() const {
  std::vector<std::string> names;
  for (const auto& f : features) names.push_back(f.name);
  return names;
}

const std::vector<BaselineInfo>& known_baselines() {
  static const std::vector<BaselineInfo> baselines = {
      {"framingham_hypertension_4y", "Framingham incident hypertension, 4-year risk (Parikh 2008)",
       {"female", "age_years", "bmi_kg_m2", "systolic_mmhg", "diastolic_mmhg", "current_smoker",
        "parents_with_hypertension"},
       true},
      {"framingham_diabetes_8y", "Framingham Offspring diabetes, 8-year risk (Wilson 2007)",
       {"female", "age_years", "parental_diabetes", "bmi_kg_m2", "systolic_mmhg", "diastolic_mmhg",
        "on_antihypertensive_treatment", "hdl_mmol_l", "triglycerides_mmol_l", "fasting_glucose_mmol_l"},
       true},
      {"chinese_diabetes_risk_score", "Chinese Diabetes Risk Score, points 0–51 (Zhou 2013)",
       {"female", "age_years", "bmi_kg_m2", "waist_cm", "systolic_mmhg", "parental_diabetes"},
       false},
      {"logistic_regression",
       "Logistic regression on the model's features (mean imputation and standardisation fitted on the training folds)",
       {},
       true},
  };
  return baselines;
}

namespace {

using Errors = std::vector<core::FieldError>;

template <class T>
void read(const json& j, const char* key, T& out, Errors& errors, const std::string& at, bool required = false) {
  if (!j.contains(key)) {
    if (required) errors.push_back({at + "/" + key, "is required"});
    return;
  }
  try {
    out = j.at(key).get<T>();
  } catch (const json::exception& e) {
    errors.push_back({at + "/" + key, std::string("has the wrong type: ") + e.what()});
  }
}

std::string param_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (v.is_array()) {
    // xgboost reads tuples such as monotone_constraints as "(1,0,-1)".
    std::string s = "(";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + param_text(v[i]);
    return s + ")";
  }
  return v.dump();
}

}  // namespace

core::Result<ModelSpec> parse_model_spec(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return core::Error::invalid(std::string("model spec is not JSON: ") + e.what());
  }
  if (!j.is_object()) return core::Error::invalid("model spec must be a JSON object");
  Errors errors;
  ModelSpec s;
  read(j, "id", s.id, errors, "", true);
  read(j, "version", s.version, errors, "", true);
  read(j, "title", s.title, errors, "");
  read(j, "description", s.description, errors, "");
  read(j, "missing", s.missing_marker, errors, "");
  read(j, "patient_scoring", s.patient_scoring, errors, "");
  read(j, "excludes_diagnoses", s.excludes_diagnoses, errors, "");
  read(j, "patient_outcome", s.patient_outcome, errors, "");
  read(j, "notes", s.notes, errors, "");
  if (s.id.empty() || s.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos)
    errors.push_back({"/id", "must be lower-case letters, digits, '-' or '_'"});
  if (j.contains("outcome") && j["outcome"].is_object()) {
    read(j["outcome"], "column", s.outcome_column, errors, "/outcome", true);
    read(j["outcome"], "description", s.outcome_description, errors, "/outcome");
  } else {
    errors.push_back({"/outcome", "is required: {\"column\": ..., \"description\": ...}"});
  }
  if (j.contains("data") && j["data"].is_object()) {
    read(j["data"], "description", s.data_description, errors, "/data");
    read(j["data"], "provenance", s.data_provenance, errors, "/data");
    read(j["data"], "licence", s.data_licence, errors, "/data");
  }
  if (!j.contains("features") || !j["features"].is_array() || j["features"].empty()) {
    errors.push_back({"/features", "is required: a non-empty array"});
  } else {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < j["features"].size(); ++i) {
      const auto& fj = j["features"][i];
      const std::string at = "/features/" + std::to_string(i);
      FeatureSpec f;
      if (!fj.is_object()) {
        errors.push_back({at, "must be an object"});
        continue;
      }
      read(fj, "name", f.name, errors, at, true);
      read(fj, "label", f.label, errors, at);
      read(fj, "unit", f.unit, errors, at, true);
      read(fj, "min", f.min, errors, at, true);
      read(fj, "max", f.max, errors, at, true);
      read(fj, "description", f.description, errors, at);
      if (f.label.empty()) f.label = f.name;
      if (!(f.max >= f.min)) errors.push_back({at + "/max", "must be at least min"});
      if (!seen.insert(f.name).second) errors.push_back({at + "/name", "repeats an earlier feature"});
      if (f.name == s.outcome_column) errors.push_back({at + "/name", "is the outcome"});
      s.features.push_back(std::move(f));
    }
  }
  if (j.contains("xgboost")) {
    if (!j["xgboost"].is_object()) {
      errors.push_back({"/xgboost", "must be an object of xgboost parameters"});
    } else {
      for (const auto& [k, v] : j["xgboost"].items()) {
        if (k == "objective" || k == "seed" || k == "nthread" || k == "eval_metric")
          errors.push_back({"/xgboost/" + k, "is set by the trainer (binary:logistic, the spec's seed, --threads, logloss)"});
        else
          s.xgboost_params.emplace_back(k, param_text(v));
      }
    }
  }
  if (j.contains("training") && j["training"].is_object()) {
    const auto& t = j["training"];
    read(t, "folds", s.training.folds, errors, "/training");
    read(t, "repeats", s.training.repeats, errors, "/training");
    read(t, "max_rounds", s.training.max_rounds, errors, "/training");
    read(t, "early_stopping_rounds", s.training.early_stopping_rounds, errors, "/training");
    read(t, "early_stopping_fraction", s.training.early_stopping_fraction, errors, "/training");
    read(t, "seed", s.training.seed, errors, "/training");
  }
  if (s.training.folds < 2 || s.training.folds > 100) errors.push_back({"/training/folds", "must be 2–100"});
  if (s.training.repeats < 1 || s.training.repeats > 100) errors.push_back({"/training/repeats", "must be 1–100"});
  if (s.training.max_rounds < 1) errors.push_back({"/training/max_rounds", "must be positive"});
  if (s.training.early_stopping_rounds < 1) errors.push_back({"/training/early_stopping_rounds", "must be positive"});
  if (!(s.training.early_stopping_fraction > 0 && s.training.early_stopping_fraction < 0.5))
    errors.push_back({"/training/early_stopping_fraction", "must be above 0 and below 0.5"});
  read(j, "baselines", s.baselines, errors, "");
  for (std::size_t i = 0; i < s.baselines.size(); ++i) {
    const auto& known = known_baselines();
    if (std::none_of(known.begin(), known.end(), [&](const BaselineInfo& b) { return b.name == s.baselines[i]; }))
      errors.push_back({"/baselines/" + std::to_string(i), "is not a baseline the trainer knows: " + s.baselines[i]});
  }
  if (j.contains("bands") && j["bands"].is_object()) {
    const auto& b = j["bands"];
    std::string method = "quantiles";
    read(b, "method", method, errors, "/bands");
    if (method == "quantiles") s.bands.method = BandMethod::quantiles;
    else if (method == "fixed") s.bands.method = BandMethod::fixed;
    else errors.push_back({"/bands/method", "must be \"quantiles\" or \"fixed\""});
    read(b, "moderate", s.bands.moderate, errors, "/bands", true);
    read(b, "high", s.bands.high, errors, "/bands", true);
    read(b, "rationale", s.bands.rationale, errors, "/bands", true);
    if (!(s.bands.moderate > 0 && s.bands.moderate < s.bands.high && s.bands.high < 1))
      errors.push_back({"/bands", "needs 0 < moderate < high < 1"});
  } else {
    errors.push_back({"/bands", "is required: {\"method\", \"moderate\", \"high\", \"rationale\"}"});
  }
  if (!errors.empty()) return core::Error::invalid("invalid model spec", std::move(errors));
  return s;
}

core::Result<ModelSpec> read_model_spec(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Error::not_found("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto s = parse_model_spec(ss.str());
  if (!s) return core::Error::invalid(path + ": " + s.error().message, s.error().fields);
  return s;
}

std::string to_json(const ModelSpec& s) {
  json j;
  j["id"] = s.id;
  j["version"] = s.version;
  j["title"] = s.title;
  j["description"] = s.description;
  j["outcome"] = {{"column", s.outcome_column}, {"description", s.outcome_description}};
  j["data"] = {{"description", s.data_description}, {"provenance", s.data_provenance}, {"licence", s.data_licence}};
  j["missing"] = s.missing_marker;
  j["patient_scoring"] = s.patient_scoring;
  j["excludes_diagnoses"] = s.excludes_diagnoses;
  j["patient_outcome"] = s.patient_outcome;
  j["features"] = json::array();
  for (const auto& f : s.features)
    j["features"].push_back({{"name", f.name}, {"label", f.label}, {"unit", f.unit}, {"min", f.min}, {"max", f.max},
                             {"description", f.description}});
  j["xgboost"] = json::object();
  for (const auto& [k, v] : s.xgboost_params) j["xgboost"][k] = v;
  j["training"] = {{"folds", s.training.folds},
                   {"repeats", s.training.repeats},
                   {"max_rounds", s.training.max_rounds},
                   {"early_stopping_rounds", s.training.early_stopping_rounds},
                   {"early_stopping_fraction", s.training.early_stopping_fraction},
                   {"seed", s.training.seed}};
  j["baselines"] = s.baselines;
  j["notes"] = s.notes;
  j["bands"] = {{"method", s.bands.method == BandMethod::quantiles ? "quantiles" : "fixed"},
                {"moderate", s.bands.moderate},
                {"high", s.bands.high},
                {"rationale", s.bands.rationale}};
  return j.dump(2) + "\n";
}

}  // namespace careloop::risk
