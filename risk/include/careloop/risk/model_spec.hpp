#pragma once
// The spec of a trained model (JSON, committed beside the data): what it
// predicts, from which features in which units and ranges, how missing
// values are marked, the xgboost parameters, how it is cross-validated,
// which published scores it is compared with and how its risk bands are set.
// Training writes a copy next to the model; serving refuses a model whose
// features differ from its spec.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "careloop/core/result.hpp"

namespace careloop::risk {

struct FeatureSpec {
  std::string name;   // the CSV column and the model's feature name, e.g. "systolic_mmhg"
  std::string label;  // in words, for explanations: "systolic blood pressure"
  std::string unit;   // "mmHg"; "" for a count, "yes/no" for an indicator
  double min = 0;     // allowed range, inclusive: values outside are refused
  double max = 0;
  std::string description;
};

enum class BandMethod { quantiles, fixed };

// Low below `moderate`, high at or above `high`. With quantiles, the two are
// quantile levels of the out-of-fold predicted risk (e.g. 0.5 and 0.8);
// with fixed, they are probabilities.
struct BandSpec {
  BandMethod method = BandMethod::quantiles;
  double moderate = 0.5;
  double high = 0.8;
  std::string rationale;
};

struct TrainingSpec {
  int folds = 5;
  int repeats = 1;
  int max_rounds = 1000;
  int early_stopping_rounds = 50;
  // Share of each fold's training part held back to stop on, so the test
  // fold never chooses the number of rounds.
  double early_stopping_fraction = 0.2;
  std::uint64_t seed = 1;
};

struct ModelSpec {
  std::string id;  // folder name under data/models/
  std::string version;
  std::string title;
  std::string description;
  std::string outcome_column;
  std::string outcome_description;
  std::string data_description;
  std::string data_provenance;
  std::string data_licence;
  std::string missing_marker;  // in the CSV; "NA" is always missing too
  std::vector<FeatureSpec> features;
  std::vector<std::pair<std::string, std::string>> xgboost_params;  // as given; objective is binary:logistic
  TrainingSpec training;
  std::vector<std::string> baselines;  // names from known_baselines()
  BandSpec bands;
  bool patient_scoring = true;  // false: a research model whose features a patient record does not have
  // Patients with any of these diagnoses are outside the model's population
  // (incident hypertension means nothing for a hypertensive patient).
  std::vector<std::string> excludes_diagnoses;
  // The outcome in a patient's words, by language ("en", "zh-CN"), e.g.
  // "high blood pressure within 4 years"; shown with the patient's own score.
  std::map<std::string, std::string> patient_outcome;
  std::vector<std::string> notes;  // copied to the model card as they are

  std::vector<std::string> feature_names() const;
};

// Errc::invalid naming each bad field by JSON pointer.
core::Result<ModelSpec> parse_model_spec(std::string_view json);
core::Result<ModelSpec> read_model_spec(const std::string& path);
std::string to_json(const ModelSpec& spec);  // pretty, two-space indent

// Baselines the trainer can compute, with the CSV columns each needs.
struct BaselineInfo {
  std::string name;
  std::string description;
  std::vector<std::string> columns;  // empty: uses the model's own features
  bool gives_probability = true;     // false: a points score, AUC only
};
const std::vector<BaselineInfo>& known_baselines();

}  // namespace careloop::risk
