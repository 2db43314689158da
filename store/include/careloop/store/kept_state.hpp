#pragma once
// The state kept per patient beside the readings (hooks.hpp PatientStateRow,
// DigestRow: written through a WriteTxn), and the batch reads that join it
// with the records.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <span>

#include "careloop/core/domain.hpp"
#include "careloop/core/patient_state.hpp"
#include "careloop/store/common.hpp"

namespace careloop::store {

// A patient with the kept state brought up to date, as batch work reads it
// (Store::patients_with_state: scoring, reviews, care plans).
struct PatientWithState {
  core::Patient patient;
  core::PatientState state;
  // true: the saved state (patient_state) with the readings stored after it
  // applied; false: no usable saved state, folded from the readings taken in
  // the window asked for.
  bool from_saved = false;
  std::int64_t readings_read = 0;  // readings applied on top of the saved state, or folded
};

// A patient with the state digest scoring reads (Store::patients_with_digest).
struct PatientWithDigest {
  // Only the record's fields a risk model or its applicability reads: id,
  // clinic, sex, birth date, height, smoking, family history, pregnancy,
  // registration time and diagnoses (in code order). Name, phone, external id,
  // comorbidities and medications are not read and stay empty.
  core::Patient patient;
  // The digest's binary form (DigestRow), left to the caller to decode
  // (scoring decodes only the patients some model may apply to); empty when
  // there is none: never written, or deleted by a write without the hook.
  std::string digest;
  std::int64_t as_of_ms = 0;
};

// The kept state is written only inside a patient's jobs (the readings hook,
// rebuilds, through WriteTxn), one at a time per patient (common.hpp,
// guarantee 3); a batch read answers from one committed state (guarantee 2)
// and catches each saved state up with the readings stored after it.
class KeptState : public virtual Transactions {
 public:
  ~KeptState() override = default;

  // The state the writer keeps per patient (patient_state), if any.
  virtual std::optional<PatientStateRow> patient_state(std::int64_t patient_id) = 0;
  // The patients of `ids` that exist, in the order given, each with its
  // current state: the saved state (binary form, else JSON) caught up with
  // the readings stored after its state_seq; a patient without a usable saved
  // state gets the fold of its readings taken in [from_ms, to_ms) (the
  // window its caller needs; the day buckets keep 100 days). One snapshot and
  // a fixed number of queries whatever the number of patients: records with
  // their saved states (one join), diagnoses, comorbidities, medications,
  // catch-up readings, fallback readings.
  virtual std::vector<PatientWithState> patients_with_state(std::span<const std::int64_t> ids, std::int64_t from_ms,
                                                            std::int64_t to_ms) = 0;
  // The records of these patients (those that exist, in the order asked for)
  // with their state digests (DigestRow): records and digests in one join,
  // then diagnoses, comorbidities and medications — four queries a page and
  // no reading read. For batch risk scoring (scoring/).
  virtual std::vector<PatientWithDigest> patients_with_digest(std::span<const std::int64_t> ids) = 0;
};

}  // namespace careloop::store
