#include "careloop/scoring/digest.hpp"

#include <algorithm>
#include <array>

#include "careloop/core/time.hpp"
#include "careloop/risk/features.hpp"

namespace careloop::scoring {

std::span<const core::KeptWindow> digest_windows() {
  static constexpr std::array<core::KeptWindow, 4> windows{{
      {core::Metric::systolic, risk::home_blood_pressure_window_days},
      {core::Metric::diastolic, risk::home_blood_pressure_window_days},
      {core::Metric::glucose_fasting, risk::home_glucose_window_days},
      {core::Metric::weight, risk::home_weight_window_days},
  }};
  return windows;
}

void save_digest(store::WriteTxn& txn, std::int64_t patient_id, const core::PatientState& state, std::int64_t seq,
                 std::int64_t now_ms) {
  txn.save_digest({patient_id, seq, now_ms, state.digest(digest_windows(), now_ms).to_binary()});
}

void refresh_digest(store::WriteTxn& txn, std::int64_t patient_id, std::int64_t now_ms) {
  std::optional<core::PatientState> state;
  std::int64_t seq = 0;
  if (auto row = txn.load_digest(patient_id))
    if (auto decoded = core::PatientState::from_binary(row->digest)) {
      state = std::move(*decoded);
      seq = row->digest_seq;
    }
  if (state) {
    for (const auto& r : txn.readings_after(patient_id, seq)) {
      state->apply(r);
      seq = std::max(seq, r.change_seq);
    }
  } else {
    // No digest yet, or a damaged one: every reading of the patient.
    const auto all = txn.readings_of(patient_id);
    state = core::PatientState::from_readings(all);
    for (const auto& r : all) seq = std::max(seq, r.change_seq);
  }
  save_digest(txn, patient_id, *state, seq, now_ms);
}

namespace {

class DigestHook final : public store::ReadingsHook {
 public:
  void on_readings_created(store::WriteTxn& txn, std::int64_t patient_id, std::int64_t /*clinic_id*/,
                           std::span<const core::Reading> /*created*/) override {
    refresh_digest(txn, patient_id, core::now_utc_ms());
  }
};

}  // namespace

std::shared_ptr<store::ReadingsHook> make_digest_hook() { return std::make_shared<DigestHook>(); }

}  // namespace careloop::scoring
