#pragma once
// The model card written beside every trained model (card.json, and
// card.md for people): the data and where it came from, how the model was
// validated, how well it and the published baselines did on the same
// held-out folds, its calibration, what drives it, its risk bands and the
// exact software that built it. Every figure is computed on held-out rows.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/risk/metrics.hpp"
#include "careloop/risk/model_spec.hpp"

namespace careloop::risk {

struct MetricSummary {
  double mean = 0;
  double sd = 0;  // across folds (all repeats), n − 1
};

// One scorer (the model or a baseline) on the held-out folds.
struct Evaluation {
  std::string name;
  std::string description;
  bool gives_probability = true;
  std::vector<double> fold_auc;  // repeat-major: fold f of repeat r at r·folds + f
  MetricSummary auc;
  // The rest only when gives_probability; computed on the out-of-fold
  // predictions of every repeat, stacked.
  MetricSummary accuracy;  // at probability ≥ 0.5
  double brier = 0;
  Calibration calibration;
  std::vector<ReliabilityBin> reliability;  // deciles of predicted risk
};

struct FeatureSummary {
  FeatureSpec spec;
  std::size_t missing = 0;
  double mean = 0;  // of the values present
  double min = 0;
  double max = 0;
  double gain_share = 0;     // share of the final model's total split gain
  double mean_abs_shap = 0;  // mean |SHAP contribution| in log-odds over the training rows
};

struct RiskBands {
  double moderate = 0;  // probability at or above which risk is moderate
  double high = 0;      // probability at or above which risk is high
  BandSpec spec;
};

struct ModelCard {
  ModelSpec spec;
  std::string data_file;
  std::size_t rows = 0;
  std::size_t positives = 0;
  double prevalence = 0;
  std::vector<FeatureSummary> features;
  std::vector<int> best_rounds;  // per fold, chosen on the fold's early-stopping part
  int final_rounds = 0;
  int threads = 1;
  Evaluation model;
  std::vector<Evaluation> baselines;
  RiskBands bands;
  std::string trained_at;  // ISO 8601 UTC
  std::string xgboost_version;
  std::string careloop_version;
  std::string compiler;
  std::string json_library_version;
};

std::string card_to_json(const ModelCard& card);
std::string card_to_markdown(const ModelCard& card);

// The bands of a card.json, for serving (the rest of the card is for people).
core::Result<RiskBands> parse_card_bands(std::string_view card_json);
// Per spec feature (in the spec's order): whether the training rows had
// missing values for it (the card's features[].missing > 0). Only then has
// each tree learnt which way a missing value goes; for a feature never
// missing in training xgboost sends NaN down an arbitrary branch.
// Errc::invalid when the card lists no missing count for a spec feature.
core::Result<std::vector<bool>> parse_card_missing(std::string_view card_json, const ModelSpec& spec);

}  // namespace careloop::risk
