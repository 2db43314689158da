#pragma once
// The store: every durable fact of CareLoop. An interface, so that a
// PostgreSQL implementation can sit beside the SQLite one (DESIGN §4, §7).
//
// Threads. Writes are queued to one writer; the writer commits the writes of
// every waiting caller in one transaction (group commit) and only then runs
// each caller's completion, on the writer thread. A completion therefore
// means "durable". Reads are synchronous and block: call them from the
// compute pool or a command-line tool, never from an I/O thread (they check).
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "careloop/core/domain.hpp"
#include "careloop/core/patient_state.hpp"
#include "careloop/core/reading.hpp"
#include "careloop/core/result.hpp"
#include "careloop/core/thread_role.hpp"
#include "careloop/store/hooks.hpp"

namespace careloop::store {

template <class T>
using Completion = std::function<void(core::Result<T>)>;

struct Options {
  std::string path;            // database file; created if missing
  int read_connections = 4;    // pool of read-only connections
  int max_batch_jobs = 1024;   // most write jobs folded into one transaction
  bool create_if_missing = true;
  int busy_timeout_ms = 5000;  // how long a connection waits for another process's lock
};

// Thrown by the reads that return plain values (vectors, counts) when the
// store cannot answer: an I/O error, or the store is closed. Reads that
// return a Result report the same failures as an Error instead.
class StoreError : public core::Failure {
 public:
  using core::Failure::Failure;
};

// Failures of the database itself (not constraint answers), counted since
// the process started and logged at error as they happen: another process
// holding the lock (busy), a full disk (full), an I/O error or an unwritable
// file (io), anything else (other). The server exports them on /metrics.
enum class StoreFaultKind { busy, full, io, other };
struct StoreFaultCounts {
  std::uint64_t busy = 0, full = 0, io = 0, other = 0;
};
StoreFaultCounts store_fault_counts() noexcept;

// What is kept, and for how long, of what only serves a while (DESIGN §4,
// PIPL's minimum necessary): a session row after it expired or was revoked,
// and a clinic event (the live stream's replay and the webhook outbox) once
// it is older than this and delivered to the clinic's webhook, if it has one.
// Audit entries and clinical records are never pruned.
struct RetentionPolicy {
  std::int64_t ended_sessions_ms = 30LL * 24 * 3600 * 1000;
  std::int64_t clinic_events_ms = 90LL * 24 * 3600 * 1000;
};
struct PruneCounts {
  std::int64_t sessions = 0;
  std::int64_t clinic_events = 0;
};

// Figures the server exports on /metrics.
struct WriterStats {
  std::uint64_t queue_depth = 0;          // jobs waiting now
  std::uint64_t transactions = 0;         // committed so far
  std::uint64_t jobs = 0;                 // jobs committed so far
  std::uint64_t failed_jobs = 0;          // rolled back (their own error, or a failed commit)
  // Histograms: batch size (jobs per commit) and commit duration (seconds).
  std::vector<double> batch_size_bounds;  // upper bounds, ascending
  std::vector<std::uint64_t> batch_size_counts;  // cumulative per bound, last = +Inf
  double batch_size_sum = 0;
  std::vector<double> commit_seconds_bounds;
  std::vector<std::uint64_t> commit_seconds_counts;
  double commit_seconds_sum = 0;
};

struct NewRegion {
  std::optional<std::int64_t> parent_id;
  std::string name;
  core::RegionLevel level = core::RegionLevel::province;
  std::string code;
};

struct NewClinic {
  std::int64_t region_id = 0;
  std::string name;
  std::string timezone = "Asia/Shanghai";
};

// A user and its Argon2id password hash (already hashed: hashing is
// blocking work and belongs to the caller's compute thread).
struct NewUser {
  core::User user;  // id and created_at_ms ignored
  std::string password_hash;
};

enum class InsertStatus { created, duplicate };

struct InsertOutcome {
  InsertStatus status = InsertStatus::created;
  std::int64_t id = 0;  // the new row, or the original for a duplicate
  std::int64_t change_seq = 0;  // the row's sync sequence number
};

struct AuditEntry {
  std::int64_t at_ms = 0;
  std::int64_t actor_user_id = 0;
  std::string action;      // "patient.read", "reading.create", ...
  std::optional<std::int64_t> patient_id;
  std::optional<std::int64_t> clinic_id;
  std::string detail;      // short JSON or text
  std::string remote_addr;
};

struct Session {
  std::int64_t user_id = 0;
  std::int64_t expires_at_ms = 0;
  std::int64_t last_seen_ms = 0;  // when it was last used (touch_session); creation at first
};

// A one-time code a clinic hands a patient to create (or take over) the
// patient's account. Stored only as its SHA-256.
struct ActivationCode {
  std::int64_t patient_id = 0;
  std::int64_t created_by = 0;      // the staff user who issued it
  std::int64_t expires_at_ms = 0;
};

// A patient's decision on a consent (PIPL Art. 29: separate consent for
// sensitive personal information such as health data). Kept for ever, newest
// decision wins; the wording a version stands for is mobile-api's (consent/).
struct ConsentRecord {
  std::int64_t id = 0;            // filled by the store
  std::int64_t patient_id = 0;
  std::int64_t user_id = 0;       // the account that decided (filled by activate)
  std::string purpose;            // "health-data"
  std::string version;            // of the wording shown
  std::string text_sha256;        // hex SHA-256 of the wording shown
  std::string decision;           // "granted" or "withdrawn"
  std::int64_t at_ms = 0;         // 0: now
  std::string remote_addr;
};

// Redeeming an activation code: the account to create, or to give new
// credentials when the patient already has one (a lost phone or password).
struct Activation {
  std::string code_sha256;
  std::string username;
  std::string password_hash;
  std::string display_name;
  // Stored with the account in the same job (patient and user filled in),
  // so no account exists without the consent it was opened under.
  std::optional<ConsentRecord> consent;
};

// One entry of the log a patient reads of who opened the record: the audit
// entry with its actor as the patient may see them (no username).
struct AccessLogEntry {
  std::int64_t id = 0;             // the audit entry's (paging: before_id)
  AuditEntry entry;
  std::string actor_role;          // empty: the actor's account is unknown
  std::string actor_display_name;
  std::optional<std::string> actor_clinic;  // the actor's clinic's name
};

// What anonymising a record removed (Store::anonymise_patient).
struct AnonymisationCounts {
  std::int64_t accounts_closed = 0;       // user accounts renamed, deactivated, credentials dropped
  std::int64_t sessions_revoked = 0;
  std::int64_t activation_codes_deleted = 0;
  std::int64_t messages_deleted = 0;      // free text between clinic and patient
  std::int64_t notes_cleared = 0;         // free-text notes and sources on readings, visits, alerts, plans
  std::int64_t alerts_resolved = 0;       // open alerts closed: nobody is to call an anonymised patient
  std::int64_t anonymised_at_ms = 0;
};

struct Message {
  std::int64_t id = 0;
  std::int64_t patient_id = 0;
  std::int64_t clinic_id = 0;
  std::int64_t from_user_id = 0;
  std::string from_display_name;    // filled by reads
  std::string text;
  std::int64_t created_at_ms = 0;
  std::int64_t change_seq = 0;
};

// A care plan version as the patient's app sees it (approved ones only).
struct CarePlanRecord {
  std::int64_t id = 0;
  int version = 0;
  std::string status;
  std::string plan_json;
  std::optional<std::int64_t> decided_at_ms;
};

struct AlertRecord {
  std::int64_t id = 0;
  std::string signal;
  std::string tier;
  std::string status;
  std::string reason;
  std::int64_t opened_at_ms = 0;
  std::string advice_zh;  // what the patient should do now, when the alert says
  std::string advice_en;
};

// One entry of a patient's sync feed: what changed, in seq order. Exactly
// one of the payloads is set, matching `entity`.
struct Change {
  std::int64_t seq = 0;
  std::string entity;               // "reading", "message", "care_plan", "alert"
  std::int64_t entity_id = 0;
  std::int64_t at_ms = 0;
  std::optional<core::Reading> reading;
  std::optional<Message> message;
  std::optional<CarePlanRecord> care_plan;
  std::optional<AlertRecord> alert;
};

// A model's score of one patient (risk/ computes it; the store keeps it).
struct StoredRiskScore {
  std::int64_t patient_id = 0;
  std::string model_id;
  std::string model_version;
  double probability = 0;
  std::string band;            // "low", "moderate", "high"
  std::string factors_json;    // the explanation, as risk/ wrote it
  std::int64_t computed_at_ms = 0;
};

struct ReadingQuery {
  std::int64_t patient_id = 0;
  std::optional<core::ReadingKind> kind;
  std::optional<std::int64_t> from_ms;     // taken_at >= from
  std::optional<std::int64_t> to_ms;       // taken_at < to
  std::optional<std::int64_t> after_id;    // paging: the readings after this one in (taken_at, id) order
  int limit = 100;                         // at most this many; <= 0 returns none
};

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

struct AlertQuery {
  std::int64_t clinic_id = 0;
  std::optional<std::string> status;       // open, acknowledged, snoozed, resolved; all when unset
  std::optional<std::int64_t> patient_id;  // one patient's alerts only
  std::optional<std::int64_t> before_id;   // paging: alerts with a smaller id (newest first)
  int limit = 50;
};

// What reports/ reads: patients counted by the keys an indicator is cut by,
// with their month row (patient_months) — never the readings (DESIGN §7).
struct RollupQuery {
  std::vector<std::int64_t> clinic_ids;
  int month = 0;                       // the patient_months row joined (year * 12 + month - 1)
  std::string as_of_date;              // YYYY-MM-DD: ages are taken on this day
  std::int64_t registered_before_ms = 0;  // only patients registered before this (the month's end)
  std::int64_t registered_from_ms = 0;    // ... and from this on (0: any)
  std::int64_t cohort_before_ms = 0;   // registered before this: registration 0 (the ≥ 3 months cohort)
  std::int64_t month_start_ms = 0;     // registered from this on: registration 2 (this month); between: 1
  std::int64_t risk_before_ms = 0;     // risk scores computed before this count
  // Patients anonymised before this (the month's start) have left care and
  // are not counted; 0: everyone is. A record anonymised during a month is
  // counted in that month and every month before, as it was.
  std::int64_t left_before_ms = 0;
};

// Several months in one pass over the patients (a trend): per month, patients
// registered before its end, cut as RollupQuery's buckets.
struct RollupMonth {
  int month = 0;
  std::string as_of_date;
  std::int64_t end_ms = 0;           // registered before this; risk scores computed before this
  std::int64_t cohort_before_ms = 0;
  std::int64_t month_start_ms = 0;
  std::int64_t left_before_ms = 0;   // as RollupQuery's
};

struct RollupCount {
  int month = 0;  // rollup_counts_months only
  std::int64_t clinic_id = 0;
  std::string sex;
  int age_decade = 0;  // completed years / 10 on as_of_date
  bool hypertension = false;
  bool diabetes = false;
  int registration = 0;         // 0: before cohort_before_ms; 1: before month_start_ms; 2: this month
  std::string bp_status;        // the month row's, empty without a row
  std::string glycemic_status;  // likewise
  std::string risk_band;        // the highest band of the newest score of each model; empty: none
  std::int64_t patients = 0;
};

struct AlertActionCount {
  std::int64_t clinic_id = 0;
  std::string signal;
  std::int64_t alerts = 0;  // opened in the interval
  std::int64_t acted = 0;   // ... and acknowledged with an action other than no_action
};

// A clinic's webhook (webhooks/README.md): where its events are POSTed, the
// secret that signs them, and how far delivery has got. clinic_events is the
// outbox; delivered_seq is the highest event seq the receiver acknowledged.
struct ClinicWebhook {
  std::int64_t clinic_id = 0;
  std::string url;
  std::string secret;
  bool enabled = true;
  std::int64_t generation = 0;           // bumped by every setting; progress of an older one is not kept
  std::int64_t delivered_seq = 0;        // events up to here were acknowledged with a 2xx
  int attempts = 0;                      // failed attempts since the last success
  std::optional<std::int64_t> next_attempt_ms;  // set while backing off after a failure
  std::string last_error;
  std::optional<std::int64_t> last_error_at_ms;
  std::optional<std::int64_t> last_delivered_at_ms;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int64_t pending_events = 0;       // filled by reads: the clinic's events after delivered_seq
};

// What one delivery round achieved: the cursor after the events acknowledged
// (unchanged when none was), and the failure that ended it, if any.
struct WebhookProgress {
  std::int64_t clinic_id = 0;
  std::int64_t generation = 0;           // of the setting the round delivered under
  std::int64_t delivered_seq = 0;
  std::int64_t at_ms = 0;
  bool delivered_any = false;
  std::optional<std::string> error;      // set: the round ended on this failure
  int attempts = 0;                      // with error: failures in a row so far
  std::int64_t next_attempt_ms = 0;      // with error: when to try again
};

// What the clinic's patient list needs of each patient, read in a few
// grouped queries (no per-patient reading scans), for the list to rank and
// filter in memory.
struct PatientListScope {
  std::optional<std::int64_t> clinic_id;  // none: every clinic
  std::int64_t readings_from_ms = 0;      // the means cover readings taken at or after this
};

struct PatientListRow {
  core::Patient patient;  // with diagnoses and comorbidities (medications not loaded)
  std::optional<std::int64_t> last_reading_ms;  // any kind, ever
  // Readings since readings_from_ms.
  int bp_count = 0;
  double systolic_sum = 0, diastolic_sum = 0;
  int fasting_count = 0;
  double fasting_sum = 0;
  int nonfasting_count = 0;
  double nonfasting_sum = 0;
  struct Alert {
    std::int64_t id = 0;
    std::string signal, tier, status;
    std::int64_t opened_at_ms = 0;
  };
  std::vector<Alert> alerts;  // not resolved
  struct Risk {
    std::string model_id, band;
    double probability = 0;
  };
  std::vector<Risk> risks;  // each model's newest score
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- writes: group-committed; the completion runs on the writer thread
  // after the transaction is durable, or with an error (nothing stored).
  virtual void add_region(NewRegion r, Completion<std::int64_t> done) = 0;
  virtual void add_clinic(NewClinic c, Completion<std::int64_t> done) = 0;
  virtual void add_user(NewUser u, Completion<std::int64_t> done) = 0;
  virtual void set_password(std::int64_t user_id, std::string password_hash, Completion<core::Unit> done) = 0;
  virtual void add_patient(core::Patient p, Completion<std::int64_t> done) = 0;
  // Inserts the readings of one patient. A client_id already stored for the
  // patient, or the same kind, instant and values under another client_id,
  // is a duplicate and returns the original id. One outcome per reading, in order.
  virtual void insert_readings(std::int64_t patient_id, std::vector<core::Reading> readings,
                               Completion<std::vector<InsertOutcome>> done) = 0;
  virtual void append_audit(AuditEntry e, Completion<core::Unit> done) = 0;
  // Stores a new activation code for a patient; the patient's earlier unused
  // codes stop working.
  virtual void create_activation_code(std::string code_sha256, ActivationCode code, Completion<core::Unit> done) = 0;
  // Redeems an unused, unexpired code: creates the patient's account, or
  // gives the existing one the new username and password and revokes its
  // sessions. Errors: invalid naming /code (unknown, expired or used),
  // conflict naming /username (taken by someone else).
  virtual void activate(Activation a, Completion<core::User> done) = 0;
  // Sets a new password and revokes every other session of the user.
  virtual void change_password(std::int64_t user_id, std::string password_hash, std::string keep_session_sha256,
                               Completion<core::Unit> done) = 0;
  virtual void add_message(Message m, Completion<Message> done) = 0;
  // Stores scores (of any patients) in one write; each patient must exist.
  virtual void add_risk_scores(std::vector<StoredRiskScore> scores, Completion<core::Unit> done) = 0;
  // Stores only the SHA-256 of the token.
  virtual void create_session(std::string token_sha256, Session s, Completion<core::Unit> done) = 0;
  virtual void revoke_session(std::string token_sha256, Completion<core::Unit> done) = 0;
  // Deletes what the policy no longer keeps, as of now_ms, in one write job.
  virtual void prune(std::int64_t now_ms, RetentionPolicy policy, Completion<PruneCounts> done) = 0;
  // Marks a session used at now_ms (kept monotonic); unknown tokens are ignored.
  virtual void touch_session(std::string token_sha256, std::int64_t now_ms, Completion<core::Unit> done) = 0;
  // Activates or deactivates an account, with the audit entry in the same
  // job; deactivating revokes every session of the user. not_found: no user.
  virtual void set_user_active(std::int64_t user_id, bool active, AuditEntry audit, Completion<core::User> done) = 0;
  // Revokes every open session of the user (audited); the number revoked.
  virtual void revoke_user_sessions(std::int64_t user_id, AuditEntry audit, Completion<std::int64_t> done) = 0;
  // Appends a consent decision of a patient, with an audit entry
  // ("consent.granted" / "consent.withdrawn") in the same job. Errors:
  // not_found (patient), invalid (decision, purpose or version empty).
  virtual void record_consent(ConsentRecord c, Completion<ConsentRecord> done) = 0;
  // Anonymises a patient's record and stops its processing (PIPL Art. 47: the
  // law's retention keeps the clinical record, so identity is removed instead
  // of rows): name, phone and record number cleared, the birth date kept to
  // its month (the day too for 29 February, so ages on any month's last day
  // are unchanged), free text deleted (messages) or cleared (notes, sources,
  // device names), the account renamed, deactivated, its credentials and
  // activation codes dropped and sessions revoked, unresolved alerts
  // resolved; readings' values, diagnoses, month rows and risk scores stay,
  // so every report of a month up to this one counts the same. With the audit
  // entry in the same job. Errors: not_found, conflict (already anonymised).
  virtual void anonymise_patient(std::int64_t patient_id, AuditEntry audit, Completion<AnonymisationCounts> done) = 0;
  // Runs `fn` as one write job (its own savepoint in the group commit): an
  // error returned or thrown rolls back everything it wrote.
  virtual void transact(std::function<core::Status(WriteTxn&)> fn, Completion<core::Unit> done) = 0;

  // Sets a clinic's webhook (enabled) with the audit entry in the same job.
  // A new or re-enabled webhook starts after the clinic's newest event at
  // this moment; changing the URL or secret of an enabled one keeps its
  // cursor (pending events go to the new URL). Errors: not_found (clinic),
  // invalid (URL not http(s), secret shorter than 16).
  virtual void set_webhook(std::int64_t clinic_id, std::string url, std::string secret, AuditEntry audit,
                           Completion<ClinicWebhook> done) = 0;
  // Keeps the setting but stops delivery; not_found when the clinic has none.
  virtual void disable_webhook(std::int64_t clinic_id, AuditEntry audit, Completion<ClinicWebhook> done) = 0;
  // Removes the setting; not_found when the clinic has none.
  virtual void delete_webhook(std::int64_t clinic_id, AuditEntry audit, Completion<core::Unit> done) = 0;
  // Records a delivery round; the cursor only moves forward. Ignored (not an
  // error) when the setting is gone or has a newer generation.
  virtual void record_webhook_progress(WebhookProgress p, Completion<core::Unit> done) = 0;

  // Installs the hook insert_readings calls inside its transaction; set it
  // before serving (not thread-safe against concurrent writes). While no hook
  // is set, insert_readings marks the patient's kept state stale instead.
  virtual void set_readings_hook(std::shared_ptr<ReadingsHook> hook) = 0;

  // ---- reads: synchronous, off the I/O threads only. Reads returning a
  // Result report failures as an Error; the others throw StoreError.
  virtual core::Result<core::Region> region(std::int64_t id) = 0;
  virtual std::vector<core::Region> regions() = 0;
  virtual core::Result<core::Clinic> clinic(std::int64_t id) = 0;
  virtual std::vector<core::Clinic> clinics() = 0;
  virtual core::Result<core::User> user(std::int64_t id) = 0;
  virtual core::Result<core::User> user_by_username(const std::string& username) = 0;
  virtual std::vector<core::User> users() = 0;
  virtual core::Result<std::string> password_hash(std::int64_t user_id) = 0;
  virtual core::Result<core::Patient> patient(std::int64_t id) = 0;
  virtual std::vector<core::Patient> patients_of_clinic(std::int64_t clinic_id) = 0;
  virtual std::vector<core::Reading> readings(const ReadingQuery& q) = 0;
  virtual core::Result<core::Reading> reading(std::int64_t id) = 0;
  // The user account of a patient, if it has one.
  virtual std::optional<core::User> patient_account(std::int64_t patient_id) = 0;
  // The patient's sync feed after `after_seq`, at most `limit` entries, in
  // seq order. Care plans appear only once approved.
  virtual std::vector<Change> changes(std::int64_t patient_id, std::int64_t after_seq, int limit) = 0;
  // The newest score of each model for a patient, by model id.
  virtual std::vector<StoredRiskScore> latest_risk_scores(std::int64_t patient_id) = 0;
  // Every patient id, ascending (batch scoring walks them in pages).
  virtual std::vector<std::int64_t> patient_ids(std::int64_t after_id, int limit) = 0;
  // The newest approved care plan of a patient.
  virtual std::optional<CarePlanRecord> approved_care_plan(std::int64_t patient_id) = 0;
  // Every care plan version of a patient, newest first (staff only: proposals included).
  virtual std::vector<CarePlanRow> care_plans(std::int64_t patient_id) = 0;
  // A patient's recorded visits, newest first (at most `limit`).
  virtual std::vector<VisitRow> visits(std::int64_t patient_id, int limit) = 0;
  // The protocol ids a clinic chose, sorted; empty: it chose none (the deployment's set applies).
  virtual std::vector<std::string> clinic_protocols(std::int64_t clinic_id) = 0;
  // A patient's clinic measurements, newest first (measured_at, then id), at most `limit`.
  virtual std::vector<ClinicMeasurementRow> clinic_measurements(std::int64_t patient_id, int limit) = 0;
  // For each patient of `patient_ids` that has any measured at or after
  // `since_ms`: the newest value of each kind measured at or after since_ms
  // (ties on measured_at: the higher id), by kind. Patients without one are
  // absent from the map. One query for the whole span (scoring reads a page
  // of patients at once; an ascending run of ids is read as a range). Only
  // the rows' id, patient_id, kind, value and measured_at.utc_ms are filled
  // (from the covering index clinic_measurements_latest).
  virtual std::unordered_map<std::int64_t, ClinicMeasurementSet> latest_clinic_measurements(
      std::span<const std::int64_t> patient_ids, std::int64_t since_ms) = 0;
  virtual std::int64_t count_readings(std::optional<std::int64_t> patient_id = std::nullopt) = 0;
  // Newest first.
  virtual std::vector<AuditEntry> audit_log(std::optional<std::int64_t> patient_id, int limit) = 0;
  // The audit entries about one patient with id < before_id (all: nullopt),
  // newest first, at most `limit`, each with its actor's role, display name
  // and clinic (the patient's own access log).
  virtual std::vector<AccessLogEntry> access_log(std::int64_t patient_id, std::optional<std::int64_t> before_id,
                                                 int limit) = 0;
  // A patient's consent decisions for `purpose`, newest first.
  virtual std::vector<ConsentRecord> consents(std::int64_t patient_id, const std::string& purpose) = 0;
  // An unexpired, unrevoked session for this token hash.
  virtual core::Result<Session> session(const std::string& token_sha256) = 0;
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
  // The patient's readings with change_seq > after_seq, in change_seq order
  // (to catch a saved state up, as the writer's hook does).
  virtual std::vector<core::Reading> readings_after(std::int64_t patient_id, std::int64_t after_seq) = 0;

  // ---- for the alert schedule (care/): patient ids, ascending, without repeats.
  // Patients with an unresolved alert, after `after_id`, at most `limit`.
  virtual std::vector<std::int64_t> patients_with_unresolved_alerts(std::int64_t after_id, int limit) = 0;
  // Patients with an alert whose timer may have run out: snoozed until at
  // most `now_ms`, or open, critical, not escalated and opened at or before
  // `critical_opened_by_ms`.
  virtual std::vector<std::int64_t> patients_with_alert_timers_due(std::int64_t now_ms,
                                                                    std::int64_t critical_opened_by_ms) = 0;
  // Patients whose newest reading of one of `kinds` was taken in
  // [from_ms, to_ms) and who have no unresolved alert for `signal`.
  virtual std::vector<std::int64_t> patients_last_reading_between(const std::vector<core::ReadingKind>& kinds,
                                                                   std::int64_t from_ms, std::int64_t to_ms,
                                                                   const std::string& signal) = 0;
  // Patients whose approved care plan's follow-up date ($.follow_up.due of
  // plan_json, YYYY-MM-DD) is before `date` and who have no unresolved alert
  // for `signal`.
  virtual std::vector<std::int64_t> patients_follow_up_due_before(const std::string& date, const std::string& signal) = 0;
  virtual core::Result<AlertRow> alert(std::int64_t id) = 0;
  // A clinic's alerts, newest first.
  virtual std::vector<AlertRow> alerts(const AlertQuery& q) = 0;
  // A clinic's events after `after_seq`, in seq order; and the newest seq (0: none yet).
  virtual std::vector<ClinicEvent> clinic_events(std::int64_t clinic_id, std::int64_t after_seq, int limit) = 0;
  virtual std::int64_t last_clinic_event_seq(std::int64_t clinic_id) = 0;
  // Every patient of the scope with its list figures, by id.
  virtual std::vector<PatientListRow> patient_list(const PatientListScope& scope) = 0;
  // A key that changes whenever patient_list of the clinic (or of every
  // clinic) could: new readings, messages or plans (changes), alert events,
  // risk scores or patients. Index lookups only.
  virtual std::string patient_list_version(std::optional<std::int64_t> clinic_id) = 0;

  // Patients of the clinics counted per RollupCount key (reports/).
  virtual std::vector<RollupCount> rollup_counts(const RollupQuery& q) = 0;
  // The same for several months at once, each count tagged with its month.
  virtual std::vector<RollupCount> rollup_counts_months(const std::vector<std::int64_t>& clinic_ids,
                                                        const std::vector<RollupMonth>& months) = 0;
  // Alerts of the clinics opened in [from_ms, to_ms), per clinic and signal.
  virtual std::vector<AlertActionCount> alert_action_counts(const std::vector<std::int64_t>& clinic_ids,
                                                            std::int64_t from_ms, std::int64_t to_ms) = 0;
  // Every month row of a patient, ascending (tests and rebuild checks).
  virtual std::vector<PatientMonthRow> patient_months(std::int64_t patient_id) = 0;
  // A clinic's webhook with pending_events filled; nullopt when it has none.
  virtual std::optional<ClinicWebhook> webhook(std::int64_t clinic_id) = 0;
  // Every enabled webhook (pending_events not filled), by clinic id.
  virtual std::vector<ClinicWebhook> enabled_webhooks() = 0;

  // ---- operations
  // Online backup (SQLite backup API or the engine's equivalent) to a new
  // file; a conflict if the file exists.
  virtual core::Status backup_to(const std::string& path) = 0;
  virtual core::Status integrity_check() = 0;
  virtual int schema_version() = 0;
  virtual WriterStats writer_stats() const = 0;
  // Stops taking writes, commits what is queued, completes every caller,
  // joins the writer and closes every connection. Idempotent. Later writes
  // complete at once with Errc::unavailable; later reads fail the same way.
  virtual void close() = 0;
};

// Opens (creating if allowed) and migrates a SQLite database. A database
// whose schema is newer than this build is refused (Errc::invalid).
core::Result<std::unique_ptr<Store>> open_sqlite(const Options& options);

// The schema version this build migrates to.
int latest_schema_version();

// Blocks until an asynchronous store call completes. For command-line
// tools and tests; never from an I/O thread.
template <class T, class Fn>
core::Result<T> wait_for(Fn&& start) {
  core::require_blocking_allowed("store::wait_for");
  auto p = std::make_shared<std::promise<core::Result<T>>>();
  auto f = p->get_future();
  start([p](core::Result<T> r) { p->set_value(std::move(r)); });
  return f.get();
}

}  // namespace careloop::store
