// Audit trail, consents, the patient's access log and anonymisation on
// SQLite (sqlite_privacy.hpp), and SqliteBackend's Privacy operations over them.
#include "sqlite_privacy.hpp"

#include <limits>

#include "careloop/core/time.hpp"
#include "sqlite_store.hpp"

namespace careloop::store::detail {

using core::Error;
using core::Result;

AuditEntry audit_from(Row& row) {
  AuditEntry e;
  e.at_ms = row.int64();
  e.actor_user_id = row.int64();
  e.action = row.text();
  e.patient_id = row.opt_int64();
  e.clinic_id = row.opt_int64();
  e.detail = row.text();
  e.remote_addr = row.text();
  return e;
}

AuditEntry audit_from(const Statement& s, int col) {
  Row row(s, col);
  return audit_from(row);
}

void insert_audit(Connection& db, const AuditEntry& e) {
  if (e.action.empty()) throw StoreError(core::Errc::invalid, "an audit entry needs an action");
  db.prepare(
        "INSERT INTO audit_log (at_ms, actor_user_id, action, patient_id, clinic_id, detail, remote_addr) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(e.at_ms ? e.at_ms : core::now_utc_ms(), e.actor_user_id, e.action, e.patient_id, e.clinic_id, e.detail,
                e.remote_addr)
      .run();
}

core::Error anonymised_error(std::int64_t patient_id) {
  return Error::conflict("patient " + std::to_string(patient_id) +
                         "'s record was anonymised: nothing more is recorded for it");
}

namespace {

constexpr std::string_view consent_columns =
    "SELECT id, patient_id, user_id, purpose, version, text_sha256, decision, at_ms, remote_addr FROM consents ";

ConsentRecord consent_from(const Statement& s) {
  Row row(s);
  ConsentRecord c;
  c.id = row.int64();
  c.patient_id = row.int64();
  c.user_id = row.int64();
  c.purpose = row.text();
  c.version = row.text();
  c.text_sha256 = row.text();
  c.decision = row.text();
  c.at_ms = row.int64();
  c.remote_addr = row.text();
  return c;
}

bool is_hex64(std::string_view h) {
  if (h.size() != 64) return false;
  for (char ch : h)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  return true;
}

}  // namespace

Result<ConsentRecord> insert_consent(Connection& db, const ConsentRecord& c) {
  std::vector<core::FieldError> errors;
  if (c.purpose.empty() || c.purpose.size() > 64) errors.push_back({"/purpose", "1 to 64 characters"});
  if (c.version.empty() || c.version.size() > 64) errors.push_back({"/version", "1 to 64 characters"});
  if (!is_hex64(c.text_sha256)) errors.push_back({"/text_sha256", "the wording's SHA-256 in lower-case hex"});
  if (c.decision != "granted" && c.decision != "withdrawn")
    errors.push_back({"/decision", "granted or withdrawn"});
  if (!errors.empty()) return Error::invalid("a consent decision is incomplete", std::move(errors));
  ConsentRecord out = c;
  if (out.at_ms == 0) out.at_ms = core::now_utc_ms();
  db.prepare(
        "INSERT INTO consents (patient_id, user_id, purpose, version, text_sha256, decision, at_ms, remote_addr) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(out.patient_id, out.user_id, out.purpose, out.version, out.text_sha256, out.decision, out.at_ms,
                out.remote_addr)
      .run();
  out.id = db.last_insert_rowid();
  std::optional<std::int64_t> clinic_id;
  {
    Statement s = db.prepare("SELECT clinic_id FROM patients WHERE id = ?");
    s.bind(1, out.patient_id);
    if (s.step()) clinic_id = Row(s).int64();
  }
  insert_audit(db, {out.at_ms, out.user_id, "consent." + out.decision, out.patient_id, clinic_id,
                    "{\"purpose\":\"" + out.purpose + "\",\"version\":\"" + out.version + "\"}", out.remote_addr});
  return out;
}

Result<ConsentRecord> record_consent(Connection& db, const ConsentRecord& c) {
  {
    Statement s = db.prepare("SELECT anonymised_at_ms FROM patients WHERE id = ?");
    s.bind(1, c.patient_id);
    if (!s.step()) return Error::not_found("patient " + std::to_string(c.patient_id) + " not found");
    if (Row(s).opt_int64()) return anonymised_error(c.patient_id);
  }
  {
    Statement s = db.prepare("SELECT 1 FROM users WHERE id = ? AND patient_id = ?");
    s.bind_all(c.user_id, c.patient_id);
    if (!s.step()) return Error::invalid("a patient's consent is given by the patient's own account");
  }
  return insert_consent(db, c);
}

std::vector<ConsentRecord> consents_of(Connection& db, std::int64_t patient_id, std::string_view purpose) {
  std::vector<ConsentRecord> out;
  Statement s = db.prepare(std::string(consent_columns) + "WHERE patient_id = ? AND purpose = ? ORDER BY id DESC");
  s.bind_all(patient_id, purpose);
  while (s.step()) out.push_back(consent_from(s));
  return out;
}

std::vector<AccessLogEntry> access_log_of(Connection& db, std::int64_t patient_id, std::optional<std::int64_t> before_id,
                                          int limit) {
  std::vector<AccessLogEntry> out;
  if (limit <= 0) return out;
  // The audit_log_patient index (patient_id, id) walked backwards from before_id.
  Statement s = db.prepare(
      "SELECT a.id, a.at_ms, a.actor_user_id, a.action, a.patient_id, a.clinic_id, a.detail, a.remote_addr, "
      "u.role, u.display_name, c.name FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id "
      "LEFT JOIN clinics c ON c.id = u.clinic_id WHERE a.patient_id = ?1 AND a.id < ?2 ORDER BY a.id DESC LIMIT ?3");
  s.bind_all(patient_id, before_id.value_or(std::numeric_limits<std::int64_t>::max()), limit);
  while (s.step()) {
    Row r(s);
    AccessLogEntry e;
    e.id = r.int64();
    e.entry = audit_from(r);
    e.actor_role = r.opt_text().value_or(std::string());
    e.actor_display_name = r.opt_text().value_or(std::string());
    e.actor_clinic = r.opt_text();
    out.push_back(std::move(e));
  }
  return out;
}

Result<AnonymisationCounts> anonymise_patient(Connection& db, std::int64_t patient_id, const AuditEntry& audit) {
  std::int64_t clinic_id = 0;
  std::string birth_date;
  {
    Statement s = db.prepare("SELECT clinic_id, birth_date, anonymised_at_ms FROM patients WHERE id = ?");
    s.bind(1, patient_id);
    if (!s.step()) return Error::not_found("patient " + std::to_string(patient_id) + " not found");
    Row r(s);
    clinic_id = r.int64();
    birth_date = r.text();
    if (r.opt_int64())
      return Error::conflict("patient " + std::to_string(patient_id) + "'s record is already anonymised");
  }
  AnonymisationCounts n;
  const std::int64_t now = audit.at_ms ? audit.at_ms : core::now_utc_ms();
  n.anonymised_at_ms = now;
  // Reports take ages on a month's last day: any day of the birth month gives
  // the same completed years there, except 29 February against 28 February.
  const std::string kept_birth =
      birth_date.size() == 10 && birth_date.substr(5) == "02-29" ? birth_date : birth_date.substr(0, 8) + "01";
  db.prepare(
        "UPDATE patients SET name = '', phone = '', external_id = NULL, birth_date = ?, anonymised_at_ms = ? "
        "WHERE id = ?")
      .bind_all(kept_birth, now, patient_id)
      .run();

  // The account: no name, no way in.
  db.prepare(
        "UPDATE sessions SET revoked_at_ms = ? WHERE revoked_at_ms IS NULL AND user_id IN "
        "(SELECT id FROM users WHERE patient_id = ?)")
      .bind_all(now, patient_id)
      .run();
  n.sessions_revoked = db.changes();
  db.prepare("DELETE FROM credentials WHERE user_id IN (SELECT id FROM users WHERE patient_id = ?)")
      .bind_all(patient_id)
      .run();
  db.prepare("UPDATE users SET username = 'anonymised-' || id, display_name = '', active = 0 WHERE patient_id = ?")
      .bind_all(patient_id)
      .run();
  n.accounts_closed = db.changes();
  db.prepare("DELETE FROM activation_codes WHERE patient_id = ?").bind_all(patient_id).run();
  n.activation_codes_deleted = db.changes();

  // Free text may name anyone: messages go (with their sync rows), notes,
  // device names and decision notes are cleared. Values stay.
  db.prepare("DELETE FROM changes WHERE patient_id = ? AND entity = 'message'").bind_all(patient_id).run();
  db.prepare("DELETE FROM messages WHERE patient_id = ?").bind_all(patient_id).run();
  n.messages_deleted = db.changes();
  db.prepare(
        "UPDATE readings SET note = '', source = CASE WHEN source = 'clinic' THEN source ELSE '' END "
        "WHERE patient_id = ? AND (note <> '' OR (source <> '' AND source <> 'clinic'))")
      .bind_all(patient_id)
      .run();
  n.notes_cleared += db.changes();
  db.prepare("UPDATE visits SET note = '' WHERE patient_id = ? AND note <> ''").bind_all(patient_id).run();
  n.notes_cleared += db.changes();
  db.prepare("UPDATE care_plans SET decision_note = NULL WHERE patient_id = ? AND decision_note IS NOT NULL")
      .bind_all(patient_id)
      .run();
  n.notes_cleared += db.changes();
  db.prepare("UPDATE alerts SET note = NULL WHERE patient_id = ? AND note IS NOT NULL").bind_all(patient_id).run();
  n.notes_cleared += db.changes();
  db.prepare(
        "UPDATE clinic_events SET payload_json = json_remove(payload_json, '$.note') WHERE patient_id = ? "
        "AND json_valid(payload_json) AND json_type(payload_json, '$.note') IS NOT NULL")
      .bind_all(patient_id)
      .run();

  // Nobody is to call a patient who left: open alerts close, and the kept
  // alert book with them.
  db.prepare(
        "UPDATE alerts SET status = 'resolved', resolved_at_ms = ?1, updated_at_ms = ?1 "
        "WHERE patient_id = ?2 AND status <> 'resolved'")
      .bind_all(now, patient_id)
      .run();
  n.alerts_resolved = db.changes();
  db.prepare("UPDATE patient_state SET alerts_json = '' WHERE patient_id = ?").bind_all(patient_id).run();

  // The clinic's stream and webhook learn that the record left the list.
  db.prepare(
        "INSERT INTO clinic_events (clinic_id, patient_id, kind, alert_id, payload_json, at_ms) "
        "VALUES (?1, ?2, 'patient.anonymised', NULL, json_object('event', 'patient.anonymised', 'at', ?4, "
        "'patient_id', ?2), ?3)")
      .bind_all(clinic_id, patient_id, now, core::format_iso8601_utc(now))
      .run();

  AuditEntry e = audit;
  e.at_ms = now;
  e.patient_id = patient_id;
  e.clinic_id = clinic_id;
  insert_audit(db, e);
  return n;
}

std::vector<AccessLogEntry> SqliteBackend::access_log(std::int64_t patient_id, std::optional<std::int64_t> before_id,
                                                     int limit) {
  return read([&](Connection& db) { return detail::access_log_of(db, patient_id, before_id, limit); });
}

std::vector<ConsentRecord> SqliteBackend::consents(std::int64_t patient_id, const std::string& purpose) {
  return read([&](Connection& db) { return detail::consents_of(db, patient_id, purpose); });
}

void SqliteBackend::record_consent(ConsentRecord c, Completion<ConsentRecord> done) {
  write<ConsentRecord>([c = std::move(c)](Connection& db) { return detail::record_consent(db, c); }, std::move(done));
}

void SqliteBackend::anonymise_patient(std::int64_t patient_id, AuditEntry audit, Completion<AnonymisationCounts> done) {
  write<AnonymisationCounts>(
      [patient_id, audit = std::move(audit)](Connection& db) { return detail::anonymise_patient(db, patient_id, audit); },
      std::move(done));
}

}  // namespace careloop::store::detail
