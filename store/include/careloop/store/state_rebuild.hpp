#pragma once
// Rebuilding the saved per-patient states (patient_state.state_bin) from the
// readings: for databases whose readings were written without the writer's
// hook (the demo generator, bulk tools), which have no saved state, so that
// batch work (Store::patients_with_state) reads one blob a patient and the
// hook later catches up from it instead of folding every reading.
#include <cstdint>
#include <functional>

#include "careloop/core/result.hpp"
#include "careloop/store/store.hpp"

namespace careloop::store {

struct StateRebuild {
  std::int64_t patients = 0;  // patients visited
  std::int64_t states = 0;    // states saved (patients with at least one reading)
  std::int64_t readings = 0;  // readings folded
};

// Every patient, `batch` at a time, each batch in one write job: every
// reading of the patient folded (as the hook does when it has no saved
// state), saved in the binary form with state_seq = the highest change_seq
// folded; the alert book is kept. A reading stored by another writer after
// a job is caught up by change_seq like any other, so this is safe beside a
// running server (its hook's cache only trusts a state with the seq it saved).
// progress(done, total) after each batch. `also` runs for each patient in
// its write job with the state and the seq it covers (an empty state and 0
// for a patient without readings, who gets no saved state): what is kept
// beside the state (app/ passes scoring's digest, store/hooks.hpp DigestRow).
using StateSaved = std::function<void(WriteTxn& txn, std::int64_t patient_id, const core::PatientState& state,
                                      std::int64_t seq, std::int64_t now_ms)>;
core::Result<StateRebuild> rebuild_patient_states(Store& st, int batch,
                                                  const std::function<void(std::int64_t, std::int64_t)>& progress = {},
                                                  const StateSaved& also = {});

}  // namespace careloop::store
