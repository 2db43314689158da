#pragma once
// Training a gradient-boosted risk model from a spec and a table:
// repeated stratified k-fold cross-validation (each fold's training part
// split again to stop early on, so the test fold only measures), the
// spec's published baselines on the same folds, then the final model on
// every row for the median number of rounds the folds chose. Deterministic
// for a spec (its seed) and a thread count. Runs on the calling thread(s):
// never call it on an I/O thread.
#include <cstdint>
#include <functional>
#include <string>

#include "careloop/core/result.hpp"
#include "careloop/risk/model_card.hpp"
#include "careloop/risk/model_spec.hpp"
#include "careloop/risk/table.hpp"

namespace careloop::risk {

struct TrainingProgress {
  enum class Stage { cross_validation, final_fit } stage = Stage::cross_validation;
  int repeat = 0;  // 1-based
  int repeats = 0;
  int fold = 0;  // 1-based
  int folds = 0;
  int round = 0;  // 1-based
  double stopping_logloss = 0;  // on the fold's early-stopping part (cross-validation only)
  bool fold_done = false;
  double fold_auc = 0;  // when fold_done
};

struct TrainingOptions {
  int threads = 1;  // xgboost nthread; the model is reproducible for a given count
  std::function<void(const TrainingProgress&)> progress;  // called every round; may be empty
  std::string data_file;  // named on the card
  std::string careloop_version;
  std::int64_t trained_at_utc_ms = 0;  // the card's date (SOURCE_DATE_EPOCH for reproducible cards)
};

struct TrainedModel {
  std::string model_json;  // xgboost's JSON model, with the feature names of the spec
  ModelCard card;
};

// Errc::invalid when the table lacks a column the spec or a baseline needs,
// the outcome is not 0/1, or a value lies outside its feature's range
// (naming the row); Errc::internal when xgboost fails.
core::Result<TrainedModel> train_model(const ModelSpec& spec, const Table& data, const TrainingOptions& options);

// Writes model.json, spec.json, card.json and card.md into dir (created if missing).
core::Status write_trained_model(const TrainedModel& trained, const std::string& dir);

}  // namespace careloop::risk
