#pragma once
// The SQLite implementation of SqliteStore (SqliteBackend), declared for the
// files that define it: one file per table group (sqlite_directory.cpp, sqlite_auth.cpp,
// sqlite_patients.cpp, sqlite_patient_list.cpp, sqlite_readings.cpp with the
// change feed, sqlite_messages.cpp, sqlite_state.cpp, sqlite_audit.cpp,
// sqlite_privacy.cpp (consents, access log, anonymisation), sqlite_alerts.cpp
// with clinic events, sqlite_care.cpp, sqlite_reports.cpp,
// sqlite_webhooks.cpp, sqlite_risk.cpp), each with its SQL and row mappers;
// sqlite_store.cpp opens, closes and runs the store (transact, prune,
// backup, integrity check). SqliteWriteTxn is the writer's open transaction
// as hooks and transact jobs see it.
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "careloop/store/sqlite.hpp"
#include "read_pool.hpp"
#include "sqlite_common.hpp"
#include "sqlite_handle.hpp"
#include "sqlite_privacy.hpp"
#include "sqlite_writer.hpp"

namespace careloop::store::detail {

// What a job asked to run once its transaction has committed, or once its
// writes have been discarded.
struct JobCallbacks {
  std::vector<std::function<void()>> after_commit;
  std::vector<std::function<void()>> on_rollback;
};

// For the writer: runs the job's on_rollback actions (once).
inline std::function<void()> discard_actions(std::shared_ptr<JobCallbacks> callbacks) {
  return [callbacks = std::move(callbacks)] {
    auto actions = std::move(callbacks->on_rollback);
    callbacks->on_rollback.clear();
    for (auto& f : actions) f();
  };
}

// Runs what the job asked to run after the commit, then the caller's completion.
template <class T>
Completion<T> then_after_commit(std::shared_ptr<JobCallbacks> after, Completion<T> done) {
  return [after = std::move(after), done = std::move(done)](Result<T> r) {
    if (r) {
      for (auto& f : after->after_commit) {
        try {
          f();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "careloop store: an after-commit action threw: %s\n", e.what());
        }
      }
    }
    done(std::move(r));
  };
}

// The hook's view of the writer's open transaction.
class SqliteWriteTxn final : public WriteTxn {
 public:
  // `hook`, when set, hears of the visits this transaction saves (readings
  // reach it from insert_readings, which runs it itself).
  SqliteWriteTxn(Connection& db, JobCallbacks& after, ReadingsHook* hook = nullptr) : db_(db), after_(after), hook_(hook) {}

  // sqlite_patients.cpp
  Result<core::Patient> patient(std::int64_t patient_id) override;

  // sqlite_readings.cpp
  std::vector<core::Reading> readings_of(std::int64_t patient_id) override;
  void scan_readings(std::int64_t from_patient_id, std::int64_t to_patient_id,
                     const std::function<void(const core::Reading&)>& f) override;
  std::vector<core::Reading> readings_after(std::int64_t patient_id, std::int64_t after_seq) override;
  std::int64_t record_change(std::int64_t patient_id, std::int64_t clinic_id, std::string_view entity,
                             std::int64_t entity_id, std::int64_t at_ms) override;

  // sqlite_state.cpp
  std::optional<PatientStateRow> load_state(std::int64_t patient_id) override;
  std::optional<PatientStateRow> load_state_header(std::int64_t patient_id) override;
  std::optional<DigestRow> load_digest(std::int64_t patient_id) override;
  void save_digest(const DigestRow& row) override;
  void save_state(const PatientStateRow& row) override;
  void save_alert_book(std::int64_t patient_id, std::int64_t clinic_id, const std::string& alerts_json,
                       std::int64_t at_ms) override;

  // sqlite_audit.cpp
  void append_audit(const AuditEntry& e) override;

  // sqlite_alerts.cpp
  std::optional<AlertRow> alert(std::int64_t alert_id) override;
  std::optional<AlertRow> open_alert(std::int64_t patient_id, std::string_view signal) override;
  std::int64_t save_alert(const AlertRow& a) override;
  std::int64_t append_clinic_event(const ClinicEvent& e) override;

  // sqlite_care.cpp
  std::vector<CarePlanRow> care_plans(std::int64_t patient_id) override;
  std::int64_t save_care_plan(const CarePlanRow& r) override;
  void set_clinic_protocols(std::int64_t clinic_id, const std::vector<std::string>& protocol_ids) override;
  std::vector<std::string> clinic_protocols(std::int64_t clinic_id) override;
  std::optional<VisitRow> visit_by_client_id(std::int64_t patient_id, std::string_view client_id) override;
  std::vector<VisitRow> visits_of(std::int64_t patient_id) override;
  std::int64_t save_visit(const VisitRow& v) override;
  std::vector<ClinicMeasurementRow> clinic_measurements_by_client_id(std::int64_t patient_id,
                                                                     std::string_view client_id) override;
  std::int64_t save_clinic_measurement(const ClinicMeasurementRow& r) override;

  // sqlite_reports.cpp
  std::vector<PatientMonthRow> patient_months(std::int64_t patient_id, int from_month, int to_month) override;
  void save_patient_month(const PatientMonthRow& r) override;
  void clear_patient_months(std::int64_t patient_id) override;

  // sqlite_risk.cpp
  core::Status insert_risk_score(const StoredRiskScore& r) override;

  // sqlite_store.cpp
  void after_commit(std::function<void()> f) override;
  void on_rollback(std::function<void()> f) override;

 private:
  Connection& db_;
  JobCallbacks& after_;
  ReadingsHook* hook_ = nullptr;
};

class SqliteBackend final : public SqliteStore {
 public:
  SqliteBackend(const SqliteOptions& options, Connection write_db)
      : pool_(options.path, options.read_connections, options.busy_timeout_ms),
        writer_(std::move(write_db), options.max_batch_jobs) {}
  ~SqliteBackend() override;

  // sqlite_directory.cpp
  void add_region(NewRegion r, Completion<std::int64_t> done) override;
  void add_clinic(NewClinic c, Completion<std::int64_t> done) override;
  void add_user(NewUser nu, Completion<std::int64_t> done) override;
  Result<core::Region> region(std::int64_t id) override;
  std::vector<core::Region> regions() override;
  Result<core::Clinic> clinic(std::int64_t id) override;
  std::vector<core::Clinic> clinics() override;
  Result<core::User> user(std::int64_t id) override;
  Result<core::User> user_by_username(const std::string& username) override;
  std::vector<core::User> users() override;
  std::optional<core::User> patient_account(std::int64_t patient_id) override;

  // sqlite_auth.cpp
  void set_password(std::int64_t user_id, std::string password_hash, Completion<core::Unit> done) override;
  void create_activation_code(std::string code_sha256, ActivationCode code, Completion<core::Unit> done) override;
  void activate(Activation a, Completion<core::User> done) override;
  void change_password(std::int64_t user_id, std::string password_hash, std::string keep_session_sha256,
                       Completion<core::Unit> done) override;
  void set_user_active(std::int64_t user_id, bool active, AuditEntry audit, Completion<core::User> done) override;
  void revoke_user_sessions(std::int64_t user_id, AuditEntry audit, Completion<std::int64_t> done) override;
  void touch_session(std::string token_sha256, std::int64_t now_ms, Completion<core::Unit> done) override;
  void create_session(std::string token_sha256, Session session, Completion<core::Unit> done) override;
  void revoke_session(std::string token_sha256, Completion<core::Unit> done) override;
  Result<std::string> password_hash(std::int64_t user_id) override;
  Result<Session> session(const std::string& token_sha256) override;

  // sqlite_patients.cpp
  void add_patient(core::Patient p, Completion<std::int64_t> done) override;
  Result<core::Patient> patient(std::int64_t id) override;
  std::vector<core::Patient> patients_of_clinic(std::int64_t clinic_id) override;
  std::vector<std::int64_t> patient_ids(std::int64_t after_id, int limit) override;

  // sqlite_patient_list.cpp
  std::vector<PatientListRow> patient_list(const PatientListScope& scope) override;
  std::string patient_list_version(std::optional<std::int64_t> clinic_id) override;

  // sqlite_readings.cpp
  void insert_readings(std::int64_t patient_id, std::vector<core::Reading> readings,
                       Completion<std::vector<InsertOutcome>> done) override;
  std::vector<core::Reading> readings(const ReadingQuery& q) override;
  Result<core::Reading> reading(std::int64_t id) override;
  std::vector<Change> changes(std::int64_t patient_id, std::int64_t after_seq, int limit) override;
  std::int64_t count_readings(std::optional<std::int64_t> patient_id) override;
  std::vector<core::Reading> readings_after(std::int64_t patient_id, std::int64_t after_seq) override;

  // sqlite_messages.cpp
  void add_message(Message m, Completion<Message> done) override;

  // sqlite_state.cpp
  std::optional<PatientStateRow> patient_state(std::int64_t patient_id) override;
  std::vector<PatientWithDigest> patients_with_digest(std::span<const std::int64_t> ids) override;
  std::vector<PatientWithState> patients_with_state(std::span<const std::int64_t> ids, std::int64_t from_ms,
                                                    std::int64_t to_ms) override;

  // sqlite_privacy.cpp
  void record_consent(ConsentRecord c, Completion<ConsentRecord> done) override;
  std::vector<ConsentRecord> consents(std::int64_t patient_id, const std::string& purpose) override;
  std::vector<AccessLogEntry> access_log(std::int64_t patient_id, std::optional<std::int64_t> before_id,
                                         int limit) override;
  void anonymise_patient(std::int64_t patient_id, AuditEntry audit, Completion<AnonymisationCounts> done) override;

  // sqlite_audit.cpp
  void append_audit(AuditEntry e, Completion<core::Unit> done) override;
  std::vector<AuditEntry> audit_log(std::optional<std::int64_t> patient_id, int limit) override;

  // sqlite_alerts.cpp
  Result<AlertRow> alert(std::int64_t id) override;
  std::vector<AlertRow> alerts(const AlertQuery& q) override;
  std::vector<std::int64_t> patients_with_unresolved_alerts(std::int64_t after_id, int limit) override;
  std::vector<std::int64_t> patients_with_alert_timers_due(std::int64_t now_ms, std::int64_t critical_opened_by_ms) override;
  std::vector<std::int64_t> patients_last_reading_between(const std::vector<core::ReadingKind>& kinds, std::int64_t from_ms,
                                                           std::int64_t to_ms, const std::string& signal) override;
  std::vector<std::int64_t> patients_follow_up_due_before(const std::string& date, const std::string& signal) override;
  std::vector<ClinicEvent> clinic_events(std::int64_t clinic_id, std::int64_t after_seq, int limit) override;
  std::int64_t last_clinic_event_seq(std::int64_t clinic_id) override;

  // sqlite_care.cpp
  std::optional<CarePlanRecord> approved_care_plan(std::int64_t patient_id) override;
  std::vector<CarePlanRow> care_plans(std::int64_t patient_id) override;
  std::vector<VisitRow> visits(std::int64_t patient_id, int limit) override;
  std::vector<std::string> clinic_protocols(std::int64_t clinic_id) override;
  std::vector<ClinicMeasurementRow> clinic_measurements(std::int64_t patient_id, int limit) override;
  std::unordered_map<std::int64_t, ClinicMeasurementSet> latest_clinic_measurements(
      std::span<const std::int64_t> patient_ids, std::int64_t since_ms) override;

  // sqlite_reports.cpp
  std::vector<RollupCount> rollup_counts(const RollupQuery& q) override;
  std::vector<RollupCount> rollup_counts_months(const std::vector<std::int64_t>& clinic_ids,
                                                const std::vector<RollupMonth>& months) override;
  std::vector<AlertActionCount> alert_action_counts(const std::vector<std::int64_t>& clinic_ids, std::int64_t from_ms,
                                                    std::int64_t to_ms) override;
  std::vector<PatientMonthRow> patient_months(std::int64_t patient_id) override;

  // sqlite_webhooks.cpp
  void set_webhook(std::int64_t clinic_id, std::string url, std::string secret, AuditEntry audit,
                   Completion<ClinicWebhook> done) override;
  void disable_webhook(std::int64_t clinic_id, AuditEntry audit, Completion<ClinicWebhook> done) override;
  void delete_webhook(std::int64_t clinic_id, AuditEntry audit, Completion<core::Unit> done) override;
  void record_webhook_progress(WebhookProgress p, Completion<core::Unit> done) override;
  std::optional<ClinicWebhook> webhook(std::int64_t clinic_id) override;
  std::vector<ClinicWebhook> enabled_webhooks() override;

  // sqlite_risk.cpp
  void add_risk_scores(std::vector<StoredRiskScore> scores, Completion<core::Unit> done) override;
  std::vector<StoredRiskScore> latest_risk_scores(std::int64_t patient_id) override;

  // sqlite_store.cpp
  void transact(std::function<core::Status(WriteTxn&)> fn, Completion<core::Unit> done) override;
  void set_readings_hook(std::shared_ptr<ReadingsHook> hook) override;
  void prune(std::int64_t now_ms, RetentionPolicy policy, Completion<PruneCounts> done) override;
  core::Status backup_to(const std::string& path) override;
  core::Status integrity_check() override;
  int schema_version() override;
  WriterStats writer_stats() const override;
  void close() override;

  // The first column of every row of a query, as ids (the alert schedule's reads).
  template <class... Args>
  std::vector<std::int64_t> ids_of(const char* sql, const Args&... args) {
    return read([&](Connection& db) {
      std::vector<std::int64_t> out;
      Statement s = db.prepare(sql);
      s.bind_all(args...);
      while (s.step()) out.push_back(s.int64(0));
      return out;
    });
  }

 private:
  template <class T, class Fn>
  void write(Fn fn, Completion<T> done, std::function<void()> on_discard = {}) {
    writer_.submit<T>(std::move(fn), std::move(done), std::move(on_discard));
  }

  template <class Fn>
  std::invoke_result_t<Fn&, Connection&> read(Fn&& fn) {
    auto lease = pool_.acquire();
    return fn(*lease);
  }

  template <class T, class Fn>
  Result<T> read_result(Fn&& fn) {
    try {
      auto lease = pool_.acquire();
      return fn(*lease);
    } catch (const StoreError& e) {
      return detail::to_error(e);
    }
  }

  detail::ReadPool pool_;
  detail::Writer writer_;
  std::shared_ptr<ReadingsHook> hook_;
  std::mutex close_mutex_;
  bool closed_ = false;
};

}  // namespace careloop::store::detail
