#pragma once
// The state digest scoring reads (store::DigestRow): per patient, only the
// day statistics of the windows the patient models read (risk/features.hpp:
// home blood pressure over 30 days, fasting glucose and weight over 90),
// kept in the readings' own transaction by a readings hook, so that batch
// scoring reads one small blob a patient instead of the full kept state
// (docs/PERFORMANCE.md, bench/risk). The digest answers those windows
// exactly as the full state does (core::PatientState::digest).
#include <cstdint>
#include <memory>
#include <span>

#include "careloop/core/patient_state.hpp"
#include "careloop/store/hooks.hpp"

namespace careloop::scoring {

// The windows of risk::extract_patient_features.
std::span<const core::KeptWindow> digest_windows();

// Saves the digest of `state`, which covers the patient's readings up to
// change_seq `seq`, as of now_ms (in the caller's write transaction).
void save_digest(store::WriteTxn& txn, std::int64_t patient_id, const core::PatientState& state, std::int64_t seq,
                 std::int64_t now_ms);

// Brings one patient's digest up to date in the caller's write transaction:
// the saved digest with the readings stored after it applied, else folded
// from every reading of the patient.
void refresh_digest(store::WriteTxn& txn, std::int64_t patient_id, std::int64_t now_ms);

// The readings hook that keeps the digests (app/ installs it with the others).
std::shared_ptr<store::ReadingsHook> make_digest_hook();

}  // namespace careloop::scoring
