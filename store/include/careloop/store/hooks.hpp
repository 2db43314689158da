#pragma once
// Work that must happen in the same transaction as a write (DESIGN §3 step 3):
// the store calls a ReadingsHook right after it has inserted a patient's new
// readings, inside that job's transaction, with a WriteTxn — the narrow set
// of writes the hook may make. A patient's jobs never run at once (common.hpp,
// guarantee 3), so a hook may read, change and save a patient's rows. The store knows nothing of protocols: the
// application (app/) installs a hook that does (care/).
//
// Throwing from the hook rolls the job back: the caller gets an error and
// none of its readings is stored. That is deliberate. A reading the phone was
// told is stored must never lack the alert it should have raised; failing
// the upload (the phone retries with the same client ids) is the safe side.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/domain.hpp"
#include "careloop/core/patient_state.hpp"
#include "careloop/core/reading.hpp"
#include "careloop/core/result.hpp"

namespace careloop::store {

struct AuditEntry;
struct StoredRiskScore;

// What the writer keeps per patient beside the readings (table patient_state).
// The state is saved lazily: the saved state covers exactly the patient's
// readings with change_seq <= state_seq, and the readings after it are
// applied on load (readings_after). It is kept as core::PatientState's binary
// form (state_bin, written since the binary form exists) or, in rows written
// before, as JSON (state_json); saved_state() reads either, the blob first.
// Both are empty and state_seq 0 when no state is kept (never computed, or
// readings were written without a hook since: the hook then rebuilds it).
// The alert book is saved whenever it changes.
struct PatientStateRow {
  std::int64_t patient_id = 0;
  std::int64_t clinic_id = 0;
  std::string state_json;
  std::string alerts_json;
  std::int64_t updated_at_ms = 0;
  std::int64_t state_seq = 0;
  std::string state_bin;
};

// The saved state of a row: the binary form if there is one, else the JSON
// form. Errc::not_found when the row keeps no state (state_seq 0), else the
// decoder's Errc::invalid for a damaged one.
inline core::Result<core::PatientState> saved_state(const PatientStateRow& row) {
  if (row.state_seq <= 0)
    return core::Error::not_found("patient " + std::to_string(row.patient_id) + " has no saved state");
  return core::PatientState::from_saved(row.state_bin, row.state_json);
}

// One patient's state at the end of one calendar month of the reporting
// time zone (table patient_months), as reports/ computes it from the
// readings taken in that month and the 11 before it. A patient without a row
// for a month had no reading in those 12 months (lost to follow-up there).
// Months are counted as year * 12 + (month - 1).
struct PatientMonthRow {
  std::int64_t patient_id = 0;
  std::int64_t clinic_id = 0;
  int month = 0;
  std::int64_t last_contact_ms = 0;  // the newest reading taken in the 12 months
  // The newest blood pressure taken in the month and the 2 before it.
  std::optional<std::int64_t> bp_reading_id;
  std::int64_t bp_taken_ms = 0;
  double systolic_mmhg = 0;
  double diastolic_mmhg = 0;
  // The newest fasting glucose or HbA1c taken in the month and the 2 before it.
  std::optional<std::int64_t> glycemic_reading_id;
  std::int64_t glycemic_taken_ms = 0;
  std::string glycemic_kind;  // "fasting_glucose", "hba1c"; empty when none
  double glycemic_value = 0;  // mmol/L or %
  std::string bp_status;        // controlled, uncontrolled, no_bp, missed_visit
  std::string glycemic_status;  // controlled, uncontrolled, no_glycemic, missed_visit
  friend bool operator==(const PatientMonthRow&, const PatientMonthRow&) = default;
};

// A patient's state digest (table patient_digests): a small
// core::PatientState (PatientState::digest, binary form) holding only the
// windows a batch reader needs, written by a readings hook in the readings'
// own transaction (scoring/'s digest hook: the windows the risk models read).
// It covers exactly the patient's readings with change_seq <= digest_seq and
// answers its windows exactly for any now from as_of_ms - 1 day on. Readings
// written without the hook delete it (the hook then rebuilds it).
struct DigestRow {
  std::int64_t patient_id = 0;
  std::int64_t digest_seq = 0;
  std::int64_t as_of_ms = 0;
  std::string digest;  // core::PatientState::to_binary() of the digest
};

// One row of the alerts table (one per patient per signal while unresolved).
struct AlertRow {
  std::int64_t id = 0;  // 0: a new alert
  std::int64_t patient_id = 0;
  std::int64_t clinic_id = 0;
  std::string signal;
  std::string tier;    // critical, warning
  std::string status;  // open, acknowledged, snoozed, resolved
  std::string rule_id;
  std::string protocol_id;
  std::string protocol_version;
  std::string reason;             // for the clinic, zh-CN
  std::string reason_en;
  std::string advice_zh;          // for the patient: what to do now
  std::string advice_en;
  std::int64_t opened_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  int count = 1;
  std::string latest_value_json = "{}";
  std::optional<std::int64_t> acknowledged_by;
  std::optional<std::int64_t> acknowledged_at_ms;
  std::string action;  // empty until acknowledged
  std::string note;
  std::optional<std::int64_t> snoozed_until_ms;
  std::optional<std::int64_t> resolved_at_ms;
  std::optional<std::int64_t> resolved_by;
  std::optional<std::int64_t> escalated_at_ms;
};

// One entry of a clinic's durable event sequence (the SSE Last-Event-ID).
// A follow-up visit the clinic recorded (the national basic public health
// service's follow-up form: face to face at the clinic or at home, or by
// phone, and the visit's classification).
struct VisitRow {
  std::int64_t id = 0;  // 0: a new visit
  std::int64_t patient_id = 0;
  std::int64_t clinic_id = 0;
  std::string client_id;  // the recording app's UUID: a resend is the same visit
  core::Instant visited_at;
  std::string kind;            // clinic, home, phone
  std::string classification;  // controlled, uncontrolled, adverse_reaction, complication
  std::int64_t by_user_id = 0;
  std::string by_name;  // filled by reads
  std::string note;
  std::int64_t created_at_ms = 0;
};

// One value the clinic measured (table clinic_measurements; kinds, units and
// ranges in core/clinic_measurement.hpp). Values measured together share a
// client_id, at most one per kind.
struct ClinicMeasurementRow {
  std::int64_t id = 0;  // 0: a new row
  std::int64_t patient_id = 0;
  std::int64_t clinic_id = 0;
  std::string client_id;  // the recording app's UUID: a resend is the same record
  core::Instant measured_at;
  std::string kind;    // "waist_cm", "hdl_mmol_l", ...
  double value = 0;    // in the kind's canonical unit
  std::int64_t by_user_id = 0;
  std::string by_name;  // filled by reads
  std::optional<std::int64_t> visit_id;  // recorded with this visit
  std::int64_t created_at_ms = 0;
};

// The newest value of each kind of one patient (Store::latest_clinic_measurements).
struct ClinicMeasurementSet {
  std::vector<ClinicMeasurementRow> latest;  // one per kind, by kind
  const ClinicMeasurementRow* find(std::string_view kind) const {
    for (const auto& r : latest)
      if (r.kind == kind) return &r;
    return nullptr;
  }
};

struct ClinicEvent {
  std::int64_t seq = 0;
  std::int64_t clinic_id = 0;
  std::int64_t patient_id = 0;
  std::string kind;  // "alert.opened", "alert.updated", "alert.acknowledged", ...
  std::optional<std::int64_t> alert_id;
  std::string payload_json;
  std::int64_t at_ms = 0;
};

// One version of a patient's care plan (table care_plans). At most one
// version is proposed and one approved at a time (partial unique indexes).
struct CarePlanRow {
  std::int64_t id = 0;  // 0: a new version
  std::int64_t patient_id = 0;
  std::int64_t clinic_id = 0;
  int version = 0;
  std::string status;          // proposed, approved, rejected, superseded
  std::string protocol_ids;       // comma-separated (the columns of migration 3)
  std::string protocol_versions;  // comma-separated, in the same order
  std::string protocols_json;     // [{"id", "version"}] of the protocols that made it
  std::string plan_json;       // protocols::to_json(CarePlan), or the doctor's edit
  std::string rationale_json = "[]";
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> decided_by;
  std::string decided_by_name;  // filled by reads
  std::optional<std::int64_t> decided_at_ms;
  std::optional<std::string> decision_note;
  std::optional<std::string> diff_json;  // RFC 6902 patch from the proposal (an edit)
  std::optional<int> edited_from;        // the proposal's version (an edit)
};

// The writes a hook (or a Store::transact job) may make, all inside the
// job's open transaction. Reads see the transaction's own writes.
// Failures throw StoreError; let them propagate (the job rolls back).
class WriteTxn {
 public:
  virtual ~WriteTxn() = default;

  virtual core::Result<core::Patient> patient(std::int64_t patient_id) = 0;
  // Every reading of the patient, in (taken_at, id) order.
  virtual std::vector<core::Reading> readings_of(std::int64_t patient_id) = 0;

  // The readings of the patients from_patient_id … to_patient_id, by patient
  // then (taken_at, id), in one pass, for a rebuild of many patients. Only
  // these fields are filled: id, patient_id, clinic_id, kind, taken_at,
  // systolic/diastolic, glucose_mmol_l, glucose_context, hba1c_percent.
  virtual void scan_readings(std::int64_t from_patient_id, std::int64_t to_patient_id,
                             const std::function<void(const core::Reading&)>& f) = 0;

  // The patient's readings with change_seq > after_seq, in change_seq (arrival) order.
  virtual std::vector<core::Reading> readings_after(std::int64_t patient_id, std::int64_t after_seq) = 0;

  virtual std::optional<PatientStateRow> load_state(std::int64_t patient_id) = 0;
  // The row without state_json (state_seq still says whether a state is kept):
  // for a caller that already holds the state.
  virtual std::optional<PatientStateRow> load_state_header(std::int64_t patient_id) = 0;
  // Writes every column of the row.
  virtual void save_state(const PatientStateRow& row) = 0;
  virtual std::optional<DigestRow> load_digest(std::int64_t patient_id) = 0;
  virtual void save_digest(const DigestRow& row) = 0;
  // Writes the alert book alone, keeping the saved state (a new row has none).
  virtual void save_alert_book(std::int64_t patient_id, std::int64_t clinic_id, const std::string& alerts_json,
                               std::int64_t at_ms) = 0;

  virtual std::optional<AlertRow> alert(std::int64_t alert_id) = 0;
  // The unresolved alert of a patient for a signal, if any.
  virtual std::optional<AlertRow> open_alert(std::int64_t patient_id, std::string_view signal) = 0;
  // Inserts (id 0) or updates the row; returns its id.
  virtual std::int64_t save_alert(const AlertRow& row) = 0;

  // Appends to the clinic's event sequence; returns the new seq.
  virtual std::int64_t append_clinic_event(const ClinicEvent& e) = 0;
  // Appends to the patient's sync feed (entity "alert", "message", ...); returns the seq.
  virtual std::int64_t record_change(std::int64_t patient_id, std::int64_t clinic_id, std::string_view entity,
                                     std::int64_t entity_id, std::int64_t at_ms) = 0;
  virtual void append_audit(const AuditEntry& e) = 0;
  // Stores one risk score (the clinic comes from the patient). Errors
  // (returned, not thrown): invalid score, not_found patient.
  virtual core::Status insert_risk_score(const StoredRiskScore& score) = 0;

  // A patient's care plan versions, newest first.
  virtual std::vector<CarePlanRow> care_plans(std::int64_t patient_id) = 0;
  // Inserts (id 0) or updates the status and decision columns of a version; returns its id.
  virtual std::int64_t save_care_plan(const CarePlanRow& row) = 0;
  // Replaces a clinic's protocol choice (empty: the deployment's set).
  virtual void set_clinic_protocols(std::int64_t clinic_id, const std::vector<std::string>& protocol_ids) = 0;
  // A patient's visit recorded under this client id, if any.
  virtual std::optional<VisitRow> visit_by_client_id(std::int64_t patient_id, std::string_view client_id) = 0;
  // Inserts a new visit; returns its id. The readings hook hears of it (on_visit_recorded).
  virtual std::int64_t save_visit(const VisitRow& row) = 0;
  // Every visit of a patient, oldest first.
  virtual std::vector<VisitRow> visits_of(std::int64_t patient_id) = 0;
  // The protocol ids a clinic chose (sorted; empty: the deployment's set).
  virtual std::vector<std::string> clinic_protocols(std::int64_t clinic_id) = 0;
  // A patient's clinic measurements recorded under this client id, by kind (empty: none).
  virtual std::vector<ClinicMeasurementRow> clinic_measurements_by_client_id(std::int64_t patient_id,
                                                                             std::string_view client_id) = 0;
  // Inserts a new measurement row; returns its id.
  virtual std::int64_t save_clinic_measurement(const ClinicMeasurementRow& row) = 0;
  // The patient's month rows with from_month <= month <= to_month, ascending.
  virtual std::vector<PatientMonthRow> patient_months(std::int64_t patient_id, int from_month, int to_month) = 0;
  // Inserts or replaces the row of (patient, month).
  virtual void save_patient_month(const PatientMonthRow& row) = 0;
  // Deletes every month row of the patient (a rebuild starts from nothing).
  virtual void clear_patient_months(std::int64_t patient_id) = 0;

  // Runs `f` on the committing thread (SQLite: the writer) once the job's
  // transaction is durable (never if it rolls back), before the job's
  // completion. Keep it quick: notify.
  virtual void after_commit(std::function<void()> f) = 0;
  // Runs `f` on the store's thread if this job's writes are discarded: the
  // job rolled back (SQLite: its savepoint), or the whole transaction lost
  // (an I/O error, a failed COMMIT). For caches kept beside the database: forget what the job
  // made. Keep it quick and non-throwing.
  virtual void on_rollback(std::function<void()> f) = 0;
};

class ReadingsHook {
 public:
  virtual ~ReadingsHook() = default;
  // The readings of one insert_readings job that were created (not the
  // duplicates), with their ids, in the order sent; already in the
  // transaction. Throw to refuse the whole job.
  virtual void on_readings_created(WriteTxn& txn, std::int64_t patient_id, std::int64_t clinic_id,
                                   std::span<const core::Reading> created) = 0;
  // A visit just saved by WriteTxn::save_visit (id set), in its transaction:
  // contact for the reports' month rows. Throw to refuse the whole job.
  virtual void on_visit_recorded(WriteTxn& /*txn*/, const VisitRow& /*visit*/) {}
};

// Several hooks run as one, in the order given (care's alerts, reports'
// rollups, ...): each sees the writes of those before it; the first to throw
// rolls the whole job back.
class ReadingsHooks final : public ReadingsHook {
 public:
  explicit ReadingsHooks(std::vector<std::shared_ptr<ReadingsHook>> hooks) : hooks_(std::move(hooks)) {}
  void on_readings_created(WriteTxn& txn, std::int64_t patient_id, std::int64_t clinic_id,
                           std::span<const core::Reading> created) override {
    for (const auto& h : hooks_) h->on_readings_created(txn, patient_id, clinic_id, created);
  }
  void on_visit_recorded(WriteTxn& txn, const VisitRow& visit) override {
    for (const auto& h : hooks_) h->on_visit_recorded(txn, visit);
  }

 private:
  std::vector<std::shared_ptr<ReadingsHook>> hooks_;
};

}  // namespace careloop::store
