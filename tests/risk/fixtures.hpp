#pragma once
// Shared by the model tests: the repository's data folder, a small Pima
// spec that trains in a second, and the committed model folders.
#include <filesystem>
#include <string>

#include "careloop/risk/model_spec.hpp"
#include "careloop/risk/table.hpp"
#include "careloop/risk/training.hpp"

namespace careloop::risk::testing {

inline std::filesystem::path data_dir() { return CARELOOP_DATA_DIR; }

inline Table pima() {
  auto t = read_csv((data_dir() / "pima" / "pima-indians-diabetes2.csv").string());
  return std::move(t.value());
}

// The committed Pima spec, cut down to 3 folds and 60 rounds to keep tests fast.
inline ModelSpec small_pima_spec() {
  auto s = read_model_spec((data_dir() / "specs" / "pima-diabetes.json").string());
  auto spec = std::move(s.value());
  spec.training.folds = 3;
  spec.training.repeats = 1;
  spec.training.max_rounds = 60;
  spec.training.early_stopping_rounds = 10;
  return spec;
}

inline TrainedModel train_small_pima(int threads = 1) {
  TrainingOptions o;
  o.threads = threads;
  o.data_file = "pima-indians-diabetes2.csv";
  o.careloop_version = "test";
  auto t = train_model(small_pima_spec(), pima(), o);
  return std::move(t.value());
}

}  // namespace careloop::risk::testing
