#pragma once
// Risk scores for patients: the models of risk/ applied to what the store
// knows (the record and the last 100 days of readings), written back to the
// store. One patient on demand, every patient in batches (`careloop score
// --all`), and a debounced rescoring after new readings (Rescorer).
//
// Everything here blocks (store reads, prediction): call it from a compute
// thread or a command-line tool, never an I/O thread.
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "careloop/core/debouncer.hpp"
#include "careloop/core/result.hpp"
#include "careloop/risk/features.hpp"
#include "careloop/risk/registry.hpp"
#include "careloop/store/store.hpp"

namespace careloop::scoring {

inline constexpr int top_factors = 3;  // factors kept with each stored score

// Clinic measurements (waist, lipids, lab fasting glucose, weight, height)
// count for this many days after they were measured, then as missing: 13
// months, an annual health check plus a month's grace (a decision,
// scoring/README.md).
inline constexpr std::int64_t clinic_measurement_valid_days = 396;

// The model inputs among a patient's newest clinic measurements (the store's
// kinds: core/clinic_measurement.hpp). Clinic blood pressure is a reading,
// not one of these; height fills the record's (Scorer does).
risk::ClinicMeasurements clinic_inputs(const store::ClinicMeasurementSet& set);

// Clinic measurements as Scorer reads them for a page of patients: the
// newest of each kind measured within clinic_measurement_valid_days of now.
using MeasuredSets = std::unordered_map<std::int64_t, store::ClinicMeasurementSet>;
MeasuredSets measurements_of(store::Store& st, std::span<const std::int64_t> ids, std::int64_t now_ms);

// The model inputs of one patient as Scorer computes them: the record (a
// clinic height fills a record without one), the kept state (or its digest)
// and the patient's clinic measurements among `measured`.
risk::PatientFeatures features_of(core::Patient& patient, const core::PatientState* state, const MeasuredSets& measured,
                                  std::int64_t now_ms);

// Why a model did not score a patient.
struct Skip {
  std::string model_id;
  std::string reason;  // "has hypertension", "age_years 82 is outside 20–70", ...
};

struct PatientScores {
  std::vector<store::StoredRiskScore> scores;
  std::vector<Skip> skipped;
  std::int64_t skipped_uncounted = 0;  // skips whose reasons were not asked for (score_all counts them)
};

// The patient's diagnosis that rules the model out (no incident-hypertension
// risk for a hypertensive patient), if any.
std::optional<std::string> excluding_diagnosis(const risk::Model& model, const core::Patient& patient);

// Whether a model applies to a patient: a patient_scoring model whose
// excluded diagnoses the patient does not have, whose feature ranges the
// values fit, and which saw in training every feature the patient lacks
// (Model::trained_with_missing). If so the model's input row is written to
// `row` (feature_count() values, NaN for missing) and nullopt returned, else
// the reason it does not apply.
std::optional<std::string> model_row(const risk::Model& model, const core::Patient& patient,
                                     const risk::PatientFeatures& features, std::span<float> row);

// The factors of a score as stored in risk_scores.factors_json.
std::string factors_json(const risk::RiskScore& score);

// Work that must commit with a set of new scores, in their write job (the
// risk alerts of care/, wired by app/: scoring does not know care/).
// An error rolls the scores back too.
using WithScores = std::function<core::Status(store::WriteTxn&, const std::vector<store::StoredRiskScore>&)>;

class Scorer {
 public:
  Scorer(store::Store& store, const risk::ModelRegistry& registry, WithScores with_scores = {})
      : store_(store), registry_(registry), with_scores_(std::move(with_scores)) {}

  // Scores with every model that applies to the patient (patient_scoring
  // models whose excluded diagnoses the patient does not have and whose
  // feature ranges the patient's values fit). Does not write.
  core::Result<PatientScores> score_patient(std::int64_t patient_id, std::int64_t now_ms) const;

  // Scores and stores one patient.
  core::Result<PatientScores> rescore(std::int64_t patient_id, std::int64_t now_ms) const;

  // Scores the given patients without writing: their records and readings
  // are read one patient at a time, the rows of each model are predicted in
  // one batch (Model::score_batch). Patients that no longer exist are skipped
  // silently. The scores come in patient order, per patient in model order.
  core::Result<PatientScores> score_patients(std::span<const std::int64_t> patient_ids, std::int64_t now_ms) const;

  struct Summary {
    std::int64_t patients = 0;
    std::int64_t scores = 0;
    std::int64_t skipped = 0;  // (patient, model) pairs the model does not apply to
  };
  // Every patient, `batch` at a time, each batch's scores in one write;
  // progress(done, total) after each batch.
  core::Result<Summary> score_all(std::int64_t now_ms, int batch,
                                  const std::function<void(std::int64_t, std::int64_t)>& progress) const;

 private:
  core::Status write(std::vector<store::StoredRiskScore> scores) const;
  // Starts the write job; the future holds its outcome (score_all scores the
  // next page while the writer thread stores this one).
  std::future<core::Status> start_write(std::vector<store::StoredRiskScore> scores) const;

  store::Store& store_;
  const risk::ModelRegistry& registry_;
  WithScores with_scores_;
};

// Rescoring after new readings, debounced: a patient scheduled again before
// its delay ran out is scored once, `delay` after the last schedule. Runs on
// the given pool. schedule() is cheap and thread-safe (call it from a store
// completion or a handler).
class Rescorer {
 public:
  Rescorer(const Scorer& scorer, boost::asio::thread_pool& pool, std::chrono::milliseconds delay);
  Rescorer(const Rescorer&) = delete;
  Rescorer& operator=(const Rescorer&) = delete;

  void schedule(std::int64_t patient_id);
  // Scores still pending are dropped (they rerun on the next reading or
  // `careloop score --all`); waits for none.
  void stop();

  std::uint64_t scored() const noexcept;
  // Runs done, failed, retried and dropped (core::Debouncer's rule).
  core::DebouncerCounts counts() const noexcept;

 private:
  core::Debouncer debouncer_;
};

}  // namespace careloop::scoring
