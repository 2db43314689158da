#include "careloop/store/state_rebuild.hpp"

#include <algorithm>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"

namespace careloop::store {

core::Result<StateRebuild> rebuild_patient_states(Store& st, int batch,
                                                  const std::function<void(std::int64_t, std::int64_t)>& progress,
                                                  const StateSaved& also) {
  std::vector<std::int64_t> ids;
  for (std::int64_t after = 0;;) {
    auto page = st.patient_ids(after, 100'000);
    if (page.empty()) break;
    after = page.back();
    ids.insert(ids.end(), page.begin(), page.end());
  }
  StateRebuild sum;
  const auto step = static_cast<std::size_t>(std::max(1, batch));
  for (std::size_t i = 0; i < ids.size(); i += step) {
    const std::span<const std::int64_t> chunk(ids.data() + i, std::min(step, ids.size() - i));
    StateRebuild part;
    auto done = wait_for<core::Unit>([&](auto completion) {
      st.transact(
          [&](WriteTxn& txn) -> core::Status {
            part = {};
            const std::int64_t now = core::now_utc_ms();
            for (auto id : chunk) {
              ++part.patients;
              const auto readings = txn.readings_of(id);
              if (readings.empty()) {  // no state to keep: readers fold nothing
                if (also) also(txn, id, core::PatientState{}, 0, now);
                continue;
              }
              const auto state = core::PatientState::from_readings(readings);
              std::int64_t seq = 0;
              for (const auto& r : readings) seq = std::max(seq, r.change_seq);
              const auto kept = txn.load_state_header(id);
              std::int64_t clinic_id = 0;
              if (kept) {
                clinic_id = kept->clinic_id;
              } else {
                auto patient = txn.patient(id);
                if (!patient) continue;  // removed meanwhile
                clinic_id = patient->clinic_id;
              }
              txn.save_state({id, clinic_id, {}, kept ? kept->alerts_json : std::string(), now, seq, state.to_binary()});
              if (also) also(txn, id, state, seq, now);
              ++part.states;
              part.readings += static_cast<std::int64_t>(readings.size());
            }
            return core::ok_status();
          },
          std::move(completion));
    });
    if (!done) return done.error();
    sum.patients += part.patients;
    sum.states += part.states;
    sum.readings += part.readings;
    if (progress) progress(sum.patients, static_cast<std::int64_t>(ids.size()));
  }
  return sum;
}

}  // namespace careloop::store
