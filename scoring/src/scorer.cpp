#include "careloop/scoring/scorer.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"
#include "careloop/risk/features.hpp"

namespace careloop::scoring {
namespace {

constexpr std::int64_t day_ms = 86'400'000;

// The readings the rolling state keeps (PatientState::retained_days).
std::vector<core::Reading> recent_readings(store::Store& st, std::int64_t patient_id, std::int64_t now_ms) {
  store::ReadingQuery q;
  q.patient_id = patient_id;
  q.from_ms = now_ms - core::PatientState::retained_days * day_ms;
  q.to_ms = now_ms + 1;
  q.limit = 100'000;
  return st.readings(q);
}

PatientScores score_with(const std::vector<std::shared_ptr<const risk::Model>>& models, const core::Patient& patient,
                         const core::PatientState& state, std::int64_t now_ms) {
  PatientScores out;
  const auto features = risk::extract_patient_features(patient, &state, {}, now_ms);
  for (const auto& model : models) {
    const auto& spec = model->spec();
    if (!spec.patient_scoring) continue;
    const auto excluded = std::find_if(spec.excludes_diagnoses.begin(), spec.excludes_diagnoses.end(),
                                       [&](const std::string& dx) { return patient.has_diagnosis(dx); });
    if (excluded != spec.excludes_diagnoses.end()) {
      out.skipped.push_back({spec.id, "has " + *excluded});
      continue;
    }
    auto row = risk::model_input(spec, features);
    if (!row) {
      std::string why = row.error().message;
      for (const auto& f : row.error().fields) why += "; " + f.pointer + ": " + f.detail;
      out.skipped.push_back({spec.id, std::move(why)});
      continue;
    }
    auto score = model->score(*row, top_factors, now_ms);
    if (!score) {
      out.skipped.push_back({spec.id, score.error().message});
      continue;
    }
    out.scores.push_back({patient.id, score->model_id, score->model_version, score->probability,
                          std::string(risk::to_string(score->band)), factors_json(*score), now_ms});
  }
  return out;
}

}  // namespace

std::string factors_json(const risk::RiskScore& score) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : score.factors) {
    nlohmann::json j{{"feature", f.feature}, {"label", f.label}, {"unit", f.unit},
                     {"contribution_log_odds", f.contribution_log_odds}, {"text", f.text}};
    j["value"] = f.value ? nlohmann::json(*f.value) : nlohmann::json(nullptr);
    out.push_back(std::move(j));
  }
  return out.dump();
}

core::Status Scorer::write(std::vector<store::StoredRiskScore> scores) const {
  if (scores.empty()) return core::ok_status();
  if (!with_scores_)
    return store::wait_for<core::Unit>([&](auto done) { store_.add_risk_scores(std::move(scores), std::move(done)); });
  return store::wait_for<core::Unit>([&](auto done) {
    store_.transact(
        [&scores, &with = with_scores_](store::WriteTxn& txn) -> core::Status {
          for (const auto& s : scores)
            if (auto st = txn.insert_risk_score(s); !st) return st;
          return with(txn, scores);
        },
        std::move(done));
  });
}

core::Result<PatientScores> Scorer::score_patient(std::int64_t patient_id, std::int64_t now_ms) const {
  auto patient = store_.patient(patient_id);
  if (!patient) return patient.error();
  const auto state = core::PatientState::from_readings(recent_readings(store_, patient_id, now_ms));
  return score_with(registry_.models(), *patient, state, now_ms);
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
  for (std::int64_t after = 0;;) {
    auto ids = store_.patient_ids(after, std::max(1, batch));
    if (ids.empty()) break;
    after = ids.back();
    std::vector<store::StoredRiskScore> scores;
    for (auto id : ids) {
      auto patient = store_.patient(id);
      if (!patient) continue;  // removed meanwhile
      const auto state = core::PatientState::from_readings(recent_readings(store_, id, now_ms));
      auto s = score_with(models, *patient, state, now_ms);
      sum.skipped += static_cast<std::int64_t>(s.skipped.size());
      for (auto& x : s.scores) scores.push_back(std::move(x));
    }
    sum.patients += static_cast<std::int64_t>(ids.size());
    sum.scores += static_cast<std::int64_t>(scores.size());
    if (auto written = write(std::move(scores)); !written) return written.error();
    if (progress) progress(sum.patients, total);
  }
  return sum;
}

// ---- Rescorer

struct Rescorer::State : std::enable_shared_from_this<Rescorer::State> {
  const Scorer& scorer;
  boost::asio::thread_pool& pool;
  std::chrono::milliseconds delay;
  std::mutex m;
  // Patient → the timer that will score it; rescheduling pushes the timer back.
  std::unordered_map<std::int64_t, std::shared_ptr<boost::asio::steady_timer>> pending;
  bool stopped = false;
  std::atomic<std::uint64_t> done{0};

  State(const Scorer& s, boost::asio::thread_pool& p, std::chrono::milliseconds d) : scorer(s), pool(p), delay(d) {}

  void fire(std::int64_t patient_id, const std::shared_ptr<boost::asio::steady_timer>& timer) {
    {
      std::lock_guard lock(m);
      auto it = pending.find(patient_id);
      if (stopped || it == pending.end() || it->second != timer) return;  // superseded or stopped
      pending.erase(it);
    }
    // A failure here only delays a score until the next reading or score --all.
    (void)scorer.rescore(patient_id, core::now_utc_ms());
    done.fetch_add(1, std::memory_order_relaxed);
  }
};

Rescorer::Rescorer(const Scorer& scorer, boost::asio::thread_pool& pool, std::chrono::milliseconds delay)
    : state_(std::make_shared<State>(scorer, pool, delay)) {}

Rescorer::~Rescorer() { stop(); }

void Rescorer::schedule(std::int64_t patient_id) {
  std::lock_guard lock(state_->m);
  if (state_->stopped) return;
  // A fresh timer each time: the old one is cancelled, and even if its
  // handler was already queued it is no longer the patient's timer, so fire()
  // ignores it. The patient is scored once, `delay` after the last schedule.
  auto& slot = state_->pending[patient_id];
  if (slot) slot->cancel();
  slot = std::make_shared<boost::asio::steady_timer>(state_->pool.get_executor(), state_->delay);
  slot->async_wait([state = state_, patient_id, t = slot](const boost::system::error_code& ec) {
    if (!ec) state->fire(patient_id, t);
  });
}

void Rescorer::stop() {
  std::lock_guard lock(state_->m);
  state_->stopped = true;
  for (auto& [id, timer] : state_->pending) timer->cancel();
  state_->pending.clear();
}

std::uint64_t Rescorer::scored() const noexcept { return state_->done.load(std::memory_order_relaxed); }

}  // namespace careloop::scoring
