#include "risk_commands.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>

#include "careloop/core/time.hpp"
#include "careloop/risk/cohort.hpp"
#include "careloop/risk/training.hpp"

#ifndef CARELOOP_VERSION
#define CARELOOP_VERSION "0.0.0"
#endif

namespace careloop::app {

namespace {

int report(const core::Error& e) {
  std::string msg = e.message;
  for (const auto& f : e.fields) msg += "\n  " + (f.pointer.empty() ? std::string("-") : f.pointer) + ": " + f.detail;
  std::fprintf(stderr, "careloop: %s\n", msg.c_str());
  return 1;
}

// SOURCE_DATE_EPOCH (reproducible-builds.org) pins the card's date.
std::int64_t card_time_ms() {
  if (const char* e = std::getenv("SOURCE_DATE_EPOCH"); e && *e) return std::strtoll(e, nullptr, 10) * 1000;
  return core::now_utc_ms();
}

struct TrainArgs {
  std::string data, spec, out;
  int threads = 1;
};

// Progress on a terminal only, at most ten lines a second; nothing in a pipe or a log.
class ProgressLine {
 public:
  explicit ProgressLine(std::string id) : id_(std::move(id)), tty_(isatty(STDERR_FILENO) != 0) {}

  void operator()(const risk::TrainingProgress& p) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (p.fold_done) {
      std::fprintf(stderr, "\r\033[K%s: repeat %d/%d fold %d/%d: AUC %.3f\n", id_.c_str(), p.repeat, p.repeats, p.fold,
                   p.folds, p.fold_auc);
      return;
    }
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    if (p.stage == risk::TrainingProgress::Stage::final_fit)
      std::fprintf(stderr, "\r\033[K%s: final model, round %d", id_.c_str(), p.round);
    else
      std::fprintf(stderr, "\r\033[K%s: repeat %d/%d fold %d/%d round %d, early-stopping logloss %.4f", id_.c_str(),
                   p.repeat, p.repeats, p.fold, p.folds, p.round, p.stopping_logloss);
  }
  void done() const {
    if (tty_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  std::string id_;
  bool tty_;
  std::chrono::steady_clock::time_point last_{};
};

int run_train(const TrainArgs& a) {
  auto spec = risk::read_model_spec(a.spec);
  if (!spec) return report(spec.error());
  auto data = risk::read_csv(a.data, spec->missing_marker);
  if (!data) return report(data.error());
  ProgressLine progress(spec->id);
  risk::TrainingOptions o;
  o.threads = a.threads;
  o.progress = [&progress](const risk::TrainingProgress& p) { progress(p); };
  o.data_file = std::filesystem::path(a.data).filename().string();
  o.careloop_version = CARELOOP_VERSION;
  o.trained_at_utc_ms = card_time_ms();
  const auto started = std::chrono::steady_clock::now();
  auto trained = risk::train_model(*spec, *data, o);
  progress.done();
  if (!trained) return report(trained.error());
  if (auto s = risk::write_trained_model(*trained, a.out); !s) return report(s.error());
  const auto& c = trained->card;
  std::printf("%s: %zu rows, prevalence %.1f %%, CV AUC %.3f ± %.3f, Brier %.4f, calibration slope %.2f",
              spec->id.c_str(), c.rows, 100 * c.prevalence, c.model.auc.mean, c.model.auc.sd, c.model.brier,
              c.model.calibration.slope);
  for (const auto& b : c.baselines) std::printf("; %s AUC %.3f", b.name.c_str(), b.auc.mean);
  std::printf("\n%s: wrote %s (%.1f s)\n", spec->id.c_str(), a.out.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return 0;
}

struct CohortArgs {
  std::string spec, out;
  std::optional<std::size_t> size;
  std::optional<std::uint64_t> seed;
};

int run_cohort(const CohortArgs& a) {
  std::ifstream in(a.spec, std::ios::binary);
  if (!in) return report(core::Error::not_found("cannot open " + a.spec));
  std::ostringstream text;
  text << in.rdbuf();
  auto table = risk::generate_cohort_from_json(text.str(), a.size, a.seed);
  if (!table) return report(table.error());
  std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
  risk::write_csv(*table, out);
  out.close();
  if (!out) return report(core::Error::internal("could not write " + a.out));
  const auto& outcome = table->columns.back();
  double cases = 0;
  for (double v : outcome) cases += v;
  std::printf("%s: %zu people, %s %.0f (%.1f %%)\n", a.out.c_str(), table->rows(), table->names.back().c_str(), cases,
              100 * cases / static_cast<double>(table->rows()));
  return 0;
}

}  // namespace

void add_risk_commands(CLI::App& cli) {
  auto train_args = std::make_shared<TrainArgs>();
  auto* train = cli.add_subcommand("train", "Train a risk model with cross-validation and write it with its model card");
  train->add_option("--data", train_args->data, "Training data, CSV with a header row")->required()->check(CLI::ExistingFile);
  train->add_option("--spec", train_args->spec, "Model spec, JSON (outcome, features, xgboost parameters, validation)")
      ->required()->check(CLI::ExistingFile);
  train->add_option("--out", train_args->out, "Folder for model.json, spec.json, card.json and card.md")->required();
  train->add_option("--threads", train_args->threads, "xgboost threads (the model is reproducible per thread count)")
      ->capture_default_str()->check(CLI::Range(1, 64));
  train->footer("Example: careloop train --data data/pima/pima-indians-diabetes2.csv "
                "--spec data/specs/pima-diabetes.json --out data/models/pima-diabetes");
  train->callback([train_args] { throw CLI::RuntimeError(run_train(*train_args)); });

  auto cohort_args = std::make_shared<CohortArgs>();
  auto* cohort = cli.add_subcommand("cohort", "Write a seeded synthetic training cohort (CSV) from a cohort file");
  cohort->add_option("--spec", cohort_args->spec, "Cohort file, JSON (data/cohorts/*.json)")->required()
      ->check(CLI::ExistingFile);
  cohort->add_option("--out", cohort_args->out, "CSV file to write")->required();
  cohort->add_option("--size", cohort_args->size, "People (default: the file's)")->check(CLI::Range(1, 10'000'000));
  cohort->add_option("--seed", cohort_args->seed, "Seed (default: the file's)");
  cohort->callback([cohort_args] { throw CLI::RuntimeError(run_cohort(*cohort_args)); });
}

}  // namespace careloop::app
