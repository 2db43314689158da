#pragma once
// A trained model loaded for serving: its spec, its risk bands (from the
// card), the xgboost booster behind an RAII handle, and prediction with
// SHAP explanations. A Model is immutable once loaded and every const
// member is safe to call from many threads at once; each call predicts on
// the calling thread only (xgboost nthread = 1). Prediction blocks: never
// call it on an I/O thread.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/risk/model_card.hpp"
#include "careloop/risk/model_spec.hpp"

namespace careloop::risk {

enum class RiskBand { low, moderate, high };
std::string_view to_string(RiskBand b) noexcept;

// One feature's share of a prediction, in words and numbers.
struct RiskFactor {
  std::string feature;  // the spec's name, e.g. "systolic_mmhg"
  std::string label;    // "systolic blood pressure"
  std::string unit;
  std::optional<double> value;  // nullopt when the feature was missing
  double contribution_log_odds = 0;  // SHAP value: + raises, − lowers the risk
  std::string text;  // "systolic blood pressure 152 mmHg: raises risk (+0.41 log-odds)"
};

// What is stored for a patient each time a model scores them.
struct RiskScore {
  std::string model_id;
  std::string model_version;
  double probability = 0;
  RiskBand band = RiskBand::low;
  std::vector<RiskFactor> factors;  // largest |contribution| first; empty when not asked for
  std::int64_t scored_at_ms = 0;
};

// SHAP contributions (xgboost prediction type 2) of one row: one per
// feature and the bias last; they sum to the margin (log-odds).
struct Explanation {
  double margin = 0;
  double probability = 0;
  std::vector<double> contributions;
};

class Model {
 public:
  // Reads dir/spec.json, dir/card.json and dir/model.json. Errc::invalid
  // (and no model) when the booster's feature names or count differ from
  // the spec's, or the card's bands are malformed; the model is warmed up
  // (one prediction and one explanation) before it is returned.
  static core::Result<std::shared_ptr<const Model>> load(const std::filesystem::path& dir);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelSpec& spec() const noexcept;
  const RiskBands& bands() const noexcept;
  RiskBand band(double probability) const noexcept;
  std::size_t feature_count() const noexcept;
  // Whether the training rows had missing values for spec feature i (the
  // card): a row missing a feature the model never saw missing gets an
  // arbitrary branch, so a caller must not score it (scoring/ skips it).
  bool trained_with_missing(std::size_t feature) const noexcept;

  // row: feature_count() values in the spec's order, NaN for missing.
  core::Result<double> predict(std::span<const float> row) const;
  // rows: n × feature_count() row-major; out: n probabilities.
  core::Status predict_batch(std::span<const float> rows, std::span<float> out) const;
  core::Result<Explanation> explain(std::span<const float> row) const;
  // Probability, band and (when top_factors > 0) the largest factors.
  core::Result<RiskScore> score(std::span<const float> row, int top_factors, std::int64_t now_ms) const;
  // The same for n = rows.size() / feature_count() rows at once: one
  // prediction call and (when top_factors > 0) one SHAP call for all of them,
  // so xgboost's per-call set-up is paid once. Scores equal score()'s row by row.
  core::Result<std::vector<RiskScore>> score_batch(std::span<const float> rows, int top_factors,
                                                   std::int64_t now_ms) const;

  struct Impl;
  // Whether SHAP values come from CareLoop's TreeSHAP (risk/src/tree_shap.hpp,
  // checked against xgboost's at load) rather than xgboost's own call.
  bool own_tree_shap() const noexcept;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "systolic blood pressure 152 mmHg: raises risk (+0.41 log-odds)".
std::string describe_factor(const FeatureSpec& feature, std::optional<double> value, double contribution_log_odds);

}  // namespace careloop::risk
