#include "careloop/scoring/scorer.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <charconv>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/thread_role.hpp"
#include "careloop/core/time.hpp"
#include "careloop/risk/features.hpp"

namespace careloop::scoring {
namespace {

constexpr std::int64_t day_ms = 86'400'000;

// The records and kept states of a page of patients (Store::patients_with_state:
// the saved state caught up, else the fold of the retained days up to now).
std::vector<store::PatientWithState> with_states(store::Store& st, std::span<const std::int64_t> ids,
                                                 std::int64_t now_ms) {
  return st.patients_with_state(ids, now_ms - core::PatientState::retained_days * day_ms, now_ms + 1);
}

// One patient as scoring sees it.
struct Subject {
  core::Patient patient;
  risk::PatientFeatures features;
};

// The position of each of a model's features in PatientFeatures (nullopt:
// a feature a patient record does not provide), looked up once per model
// and page rather than by name for every patient.
using FeatureIndex = std::vector<std::optional<std::size_t>>;
FeatureIndex feature_index(const risk::Model& model) {
  FeatureIndex out;
  for (const auto& f : model.spec().features) out.push_back(risk::patient_feature_index(f.name));
  return out;
}

// Whether a patient model applies, and its input row if so, without a word
// built (skip_reason words it; score_all only counts the skips, and most
// (patient, model) pairs of a county are skips): none of its excluded
// diagnoses, every value within the feature's range, and every missing
// feature one the model saw missing in training.
// value_of(i): spec feature i's value for the patient, or nullopt.
template <class ValueOf>
bool row_fits(const risk::Model& model, const core::Patient& patient, std::span<float> row, ValueOf&& value_of) {
  if (excluding_diagnosis(model, patient)) return false;
  const auto& spec = model.spec().features;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    const std::optional<double> v = value_of(i);
    if (v && !(*v >= spec[i].min && *v <= spec[i].max)) return false;
    if (!v && !model.trained_with_missing(i)) return false;
    row[i] = v ? static_cast<float>(*v) : std::nanf("");
  }
  return true;
}

bool row_fits(const risk::Model& model, const FeatureIndex& index, const core::Patient& patient,
              const risk::PatientFeatures& features, std::span<float> row) {
  return row_fits(model, patient, row, [&](std::size_t i) -> std::optional<double> {
    return index[i] ? risk::feature_value(features, *index[i]) : std::nullopt;
  });
}

// Why a model does not apply to a patient that row_fits refused, in words
// (row holds what row_fits wrote).
std::string skip_reason(const risk::Model& model, const core::Patient& patient, const risk::PatientFeatures& features,
                        std::span<float> row) {
  const auto& spec = model.spec();
  if (auto dx = excluding_diagnosis(model, patient)) return "has " + *dx;
  if (auto ok = risk::model_input(spec, features, row); !ok) {
    std::string why = ok.error().message;
    for (const auto& f : ok.error().fields) why += "; " + f.pointer + ": " + f.detail;
    return why;
  }
  // Missing stays missing (NaN), but only a model that saw the feature missing
  // in training knows where NaN goes; otherwise the score would follow an
  // arbitrary branch (the diabetes model without fasting glucose came out
  // "high" for nearly everyone: scoring/README.md).
  std::string unlearnt;
  for (std::size_t i = 0; i < row.size(); ++i)
    if (std::isnan(row[i]) && !model.trained_with_missing(i))
      unlearnt += (unlearnt.empty() ? "" : ", ") + spec.features[i].name;
  return "not recorded: " + unlearnt + " (the model was trained without missing values for them)";
}

enum class Reasons { kept, counted };

// Every model over every subject: per model, the rows of the subjects it
// applies to are scored in one batch. Scores in subject order, then model order.
PatientScores score_subjects(const std::vector<std::shared_ptr<const risk::Model>>& models,
                             const std::vector<Subject>& subjects, std::int64_t now_ms, Reasons reasons = Reasons::kept) {
  PatientScores out;
  // Per subject, per model: the index of its score in that model's batch, or -1.
  std::vector<std::vector<std::int64_t>> slot(subjects.size(), std::vector<std::int64_t>(models.size(), -1));
  std::vector<std::vector<risk::RiskScore>> by_model(models.size());
  for (std::size_t m = 0; m < models.size(); ++m) {
    const auto& model = *models[m];
    if (!model.spec().patient_scoring) continue;
    const std::size_t cols = model.feature_count();
    const auto index = feature_index(model);
    std::vector<float> rows;
    rows.reserve(subjects.size() * cols);
    std::int64_t n = 0;
    for (std::size_t i = 0; i < subjects.size(); ++i) {
      rows.resize(static_cast<std::size_t>(n + 1) * cols);
      const std::span<float> row(rows.data() + n * cols, cols);
      if (reasons == Reasons::counted) {
        if (!row_fits(model, index, subjects[i].patient, subjects[i].features, row)) {
          ++out.skipped_uncounted;
          continue;
        }
      } else if (!row_fits(model, index, subjects[i].patient, subjects[i].features, row)) {
        out.skipped.push_back({model.spec().id, skip_reason(model, subjects[i].patient, subjects[i].features, row)});
        continue;
      }
      slot[i][m] = n++;
    }
    rows.resize(static_cast<std::size_t>(n) * cols);
    auto scores = model.score_batch(rows, top_factors, now_ms);
    if (!scores) {
      for (std::size_t i = 0; i < subjects.size(); ++i)
        if (slot[i][m] >= 0) out.skipped.push_back({model.spec().id, scores.error().message}), slot[i][m] = -1;
      continue;
    }
    by_model[m] = std::move(*scores);
  }
  for (std::size_t i = 0; i < subjects.size(); ++i)
    for (std::size_t m = 0; m < models.size(); ++m) {
      if (slot[i][m] < 0) continue;
      const auto& score = by_model[m][static_cast<std::size_t>(slot[i][m])];
      out.scores.push_back({subjects[i].patient.id, score.model_id, score.model_version, score.probability,
                            std::string(risk::to_string(score.band)), factors_json(score), now_ms});
    }
  return out;
}

// Whether a diagnosis of the patient excludes every patient model (a
// hypertensive diabetic has no incident-risk model): then no window is read.
bool excluded_from_all(const std::vector<std::shared_ptr<const risk::Model>>& models, const core::Patient& patient) {
  return std::none_of(models.begin(), models.end(), [&](const auto& m) {
    return m->spec().patient_scoring && !excluding_diagnosis(*m, patient);
  });
}

// The subjects of a page of patients, in the order asked for (patients
// removed meanwhile are left out): from their state digests (one small blob a
// patient, patients_with_digest, decoded only when some model may apply)
// where the digest answers for now_ms, else from the full kept state
// (patients_with_state).
std::vector<Subject> subjects_of(store::Store& st, const std::vector<std::shared_ptr<const risk::Model>>& models,
                                 std::span<const std::int64_t> ids, std::int64_t now_ms) {
  std::vector<std::optional<Subject>> slots(ids.size());
  std::unordered_map<std::int64_t, std::size_t> slot_of;
  for (std::size_t i = 0; i < ids.size(); ++i) slot_of.emplace(ids[i], i);
  std::vector<std::int64_t> without;
  const auto measured = measurements_of(st, ids, now_ms);
  for (auto& w : st.patients_with_digest(ids)) {
    // An anonymised record is no longer processed (PIPL Art. 47); its last scores stay for the reports.
    if (w.patient.anonymised_at_ms) continue;
    Subject s{std::move(w.patient), {}};
    if (excluded_from_all(models, s.patient)) {
      // model_row gives each model's "has <diagnosis>" before it looks at a value.
      s.features = risk::extract_patient_features(s.patient, nullptr, {}, now_ms);
    } else {
      // A digest is exact from a day before it was cut on (store/hooks.hpp DigestRow);
      // a damaged one is read as if there were none.
      auto digest = w.digest.empty() || now_ms < w.as_of_ms - day_ms
                        ? core::Result<core::PatientState>(core::Error::not_found("no digest"))
                        : core::PatientState::from_binary(w.digest);
      if (!digest) {
        without.push_back(s.patient.id);
        continue;
      }
      s.features = features_of(s.patient, &*digest, measured, now_ms);
    }
    const auto at = slot_of[s.patient.id];
    slots[at] = std::move(s);
  }
  if (!without.empty())
    for (auto& w : with_states(st, without, now_ms)) {
      Subject s{std::move(w.patient), {}};
      s.features = features_of(s.patient, &w.state, measured, now_ms);
      const auto at = slot_of[s.patient.id];
      slots[at] = std::move(s);
    }
  std::vector<Subject> subjects;
  subjects.reserve(ids.size());
  for (auto& s : slots)
    if (s) subjects.push_back(std::move(*s));
  return subjects;
}

PatientScores score_ids(store::Store& st, const std::vector<std::shared_ptr<const risk::Model>>& models,
                        std::span<const std::int64_t> ids, std::int64_t now_ms, Reasons reasons = Reasons::kept) {
  return score_subjects(models, subjects_of(st, models, ids, now_ms), now_ms, reasons);
}

}  // namespace

// The clinic measurements of a page of patients that still count (measured
// within the validity window before now; Store::latest_clinic_measurements).
MeasuredSets measurements_of(store::Store& st, std::span<const std::int64_t> ids, std::int64_t now_ms) {
  return st.latest_clinic_measurements(ids, now_ms - clinic_measurement_valid_days * day_ms);
}

// The model inputs of one patient: the record (a clinic height fills a record
// without one), the kept state and the clinic's measurements.
risk::PatientFeatures features_of(core::Patient& patient, const core::PatientState* state, const MeasuredSets& measured,
                                  std::int64_t now_ms) {
  risk::ClinicMeasurements clinic;
  if (auto it = measured.find(patient.id); it != measured.end()) {
    clinic = clinic_inputs(it->second);
    if (!patient.height_cm)
      if (const auto* h = it->second.find("height_cm")) patient.height_cm = h->value;
  }
  return risk::extract_patient_features(patient, state, clinic, now_ms);
}

std::optional<std::string> excluding_diagnosis(const risk::Model& model, const core::Patient& patient) {
  for (const auto& dx : model.spec().excludes_diagnoses)
    if (patient.has_diagnosis(dx)) return dx;
  return std::nullopt;
}

risk::ClinicMeasurements clinic_inputs(const store::ClinicMeasurementSet& set) {
  risk::ClinicMeasurements c;
  auto value = [&](std::string_view kind) -> std::optional<double> {
    if (const auto* r = set.find(kind)) return r->value;
    return std::nullopt;
  };
  c.weight_kg = value("weight_kg");
  c.waist_cm = value("waist_cm");
  c.fasting_glucose_mmol_l = value("fasting_glucose_mmol_l");
  c.hdl_mmol_l = value("hdl_mmol_l");
  c.triglycerides_mmol_l = value("triglycerides_mmol_l");
  return c;
}

std::optional<std::string> model_row(const risk::Model& model, const core::Patient& patient,
                                     const risk::PatientFeatures& features, std::span<float> row) {
  const auto& spec = model.spec();
  if (!spec.patient_scoring) return "not a patient model";
  if (row_fits(model, patient, row, [&](std::size_t i) { return risk::feature_value(features, spec.features[i].name); }))
    return std::nullopt;
  return skip_reason(model, patient, features, row);
}

namespace {

// A JSON string: quotes, backslashes and control characters escaped, other
// bytes (UTF-8) as they are.
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  std::size_t plain = 0;  // start of the run of characters that need no escape
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    if (c != '"' && c != '\\' && u >= 0x20) continue;
    out.append(text, plain, i - plain);
    plain = i + 1;
    if (u >= 0x20) {
      out += '\\';
      out += c;
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
  out.append(text, plain, text.size() - plain);
  out += '"';
}

// A JSON number: the shortest text that reads back as the same double.
void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}

}  // namespace

// Written directly rather than through nlohmann::json objects (a node and a
// string per field, for every score of a batch); tests/scoring checks that
// it parses back to the factors.
std::string factors_json(const risk::RiskScore& score) {
  std::string out = "[";
  out.reserve(64 + 256 * score.factors.size());
  for (const auto& f : score.factors) {
    if (out.size() > 1) out += ',';
    out += "{\"feature\":";
    append_json_string(out, f.feature);
    out += ",\"label\":";
    append_json_string(out, f.label);
    out += ",\"unit\":";
    append_json_string(out, f.unit);
    out += ",\"value\":";
    if (f.value) append_json_number(out, *f.value);
    else out += "null";
    out += ",\"contribution_log_odds\":";
    append_json_number(out, f.contribution_log_odds);
    out += ",\"text\":";
    append_json_string(out, f.text);
    out += '}';
  }
  out += ']';
  return out;
}

std::future<core::Status> Scorer::start_write(std::vector<store::StoredRiskScore> scores) const {
  auto done = std::make_shared<std::promise<core::Status>>();
  auto outcome = done->get_future();
  if (scores.empty()) {
    done->set_value(core::ok_status());
    return outcome;
  }
  auto finish = [done](core::Result<core::Unit> r) { done->set_value(r ? core::ok_status() : core::Status(r.error())); };
  if (!with_scores_) {
    store_.add_risk_scores(std::move(scores), std::move(finish));
    return outcome;
  }
  store_.transact(
      [scores = std::move(scores), &with = with_scores_](store::WriteTxn& txn) -> core::Status {
        for (const auto& s : scores)
          if (auto st = txn.insert_risk_score(s); !st) return st;
        return with(txn, scores);
      },
      std::move(finish));
  return outcome;
}

core::Status Scorer::write(std::vector<store::StoredRiskScore> scores) const {
  core::require_blocking_allowed("Scorer::write");
  return start_write(std::move(scores)).get();
}

core::Result<PatientScores> Scorer::score_patient(std::int64_t patient_id, std::int64_t now_ms) const {
  const auto models = registry_.models();
  auto one = subjects_of(store_, models, {&patient_id, 1}, now_ms);
  if (one.empty()) return core::Error::not_found("patient " + std::to_string(patient_id) + " not found");
  return score_subjects(models, one, now_ms);
}

core::Result<PatientScores> Scorer::score_patients(std::span<const std::int64_t> patient_ids,
                                                   std::int64_t now_ms) const {
  return score_ids(store_, registry_.models(), patient_ids, now_ms);
}

core::Result<PatientScores> Scorer::rescore(std::int64_t patient_id, std::int64_t now_ms) const {
  auto scored = score_patient(patient_id, now_ms);
  if (!scored) return scored;
  if (auto written = write(scored->scores); !written) return written.error();
  return scored;
}

core::Result<Scorer::Summary> Scorer::score_all(std::int64_t now_ms, int batch,
                                                const std::function<void(std::int64_t, std::int64_t)>& progress) const {
  Summary sum;
  const auto models = registry_.models();  // one set of models for the whole run, even across a reload
  // Counting first gives the progress bar its end.
  std::int64_t total = 0;
  for (std::int64_t after = 0;;) {
    auto ids = store_.patient_ids(after, 100'000);
    if (ids.empty()) break;
    total += static_cast<std::int64_t>(ids.size());
    after = ids.back();
  }
  std::future<core::Status> pending;  // the previous page's write, stored while this page is scored
  for (std::int64_t after = 0;;) {
    auto ids = store_.patient_ids(after, std::max(1, batch));
    if (ids.empty()) break;
    after = ids.back();
    auto s = score_ids(store_, models, ids, now_ms, Reasons::counted);
    sum.skipped += static_cast<std::int64_t>(s.skipped.size()) + s.skipped_uncounted;
    auto& scores = s.scores;
    const auto page_patients = static_cast<std::int64_t>(ids.size());
    const auto page_scores = static_cast<std::int64_t>(scores.size());
    // The previous page's write must have succeeded before this one starts
    // (one write in flight: pages are stored in order, memory stays bounded).
    if (pending.valid())
      if (auto written = pending.get(); !written) return written.error();
    pending = start_write(std::move(scores));
    sum.patients += page_patients;
    sum.scores += page_scores;
    if (progress) progress(sum.patients, total);
  }
  if (pending.valid())
    if (auto written = pending.get(); !written) return written.error();
  return sum;
}

// ---- Rescorer

Rescorer::Rescorer(const Scorer& scorer, boost::asio::thread_pool& pool, std::chrono::milliseconds delay)
    : debouncer_(pool, core::DebouncerSettings{"rescore", delay},
                 [&scorer](std::int64_t patient_id) -> core::Status {
                   auto scored = scorer.rescore(patient_id, core::now_utc_ms());
                   if (!scored) return scored.error();
                   return core::ok_status();
                 }) {}

void Rescorer::schedule(std::int64_t patient_id) { debouncer_.schedule(patient_id); }
void Rescorer::stop() { debouncer_.stop(); }
std::uint64_t Rescorer::scored() const noexcept { return debouncer_.counts().done; }
core::DebouncerCounts Rescorer::counts() const noexcept { return debouncer_.counts(); }

}  // namespace careloop::scoring
