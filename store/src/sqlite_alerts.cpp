// Alerts and the clinic's event sequence (tables alerts, clinic_events):
// the writer's saves, the clinic's reads, and the alert schedule's patient
// lists (unresolved, due timers, newest reading's age, follow-up dates).
#include <limits>

#include "sqlite_store.hpp"

namespace careloop::store::detail {
namespace {

constexpr std::string_view alert_columns =
    "SELECT id, patient_id, clinic_id, signal, tier, status, rule_id, protocol_id, protocol_version, reason, "
    "reason_en, advice_zh, advice_en, opened_at_ms, updated_at_ms, count, latest_value_json, acknowledged_by, "
    "acknowledged_at_ms, action, note, snoozed_until_ms, resolved_at_ms, resolved_by, escalated_at_ms FROM alerts ";

AlertRow alert_from(const Statement& s) {
  Row r(s);
  AlertRow a;
  a.id = r.int64();
  a.patient_id = r.int64();
  a.clinic_id = r.int64();
  a.signal = r.text();
  a.tier = r.text();
  a.status = r.text();
  a.rule_id = r.text();
  a.protocol_id = r.text();
  a.protocol_version = r.text();
  a.reason = r.text();
  a.reason_en = r.text();
  a.advice_zh = r.text();
  a.advice_en = r.text();
  a.opened_at_ms = r.int64();
  a.updated_at_ms = r.int64();
  a.count = r.int32();
  a.latest_value_json = r.text();
  a.acknowledged_by = r.opt_int64();
  a.acknowledged_at_ms = r.opt_int64();
  a.action = r.opt_text().value_or(std::string());
  a.note = r.opt_text().value_or(std::string());
  a.snoozed_until_ms = r.opt_int64();
  a.resolved_at_ms = r.opt_int64();
  a.resolved_by = r.opt_int64();
  a.escalated_at_ms = r.opt_int64();
  return a;
}

constexpr std::string_view clinic_event_columns =
    "SELECT seq, clinic_id, patient_id, kind, alert_id, payload_json, at_ms FROM clinic_events ";

ClinicEvent clinic_event_from(const Statement& s) {
  Row r(s);
  return ClinicEvent{r.int64(), r.int64(), r.int64(), r.text(), r.opt_int64(), r.text(), r.int64()};
}

}  // namespace

std::int64_t newest_clinic_event(Connection& db, std::int64_t clinic_id) {
  Statement s = db.prepare("SELECT max(seq) FROM clinic_events WHERE clinic_id = ?");
  s.bind(1, clinic_id);
  return s.step() ? Row(s).opt_int64().value_or(0) : 0;
}

std::optional<AlertRow> SqliteWriteTxn::alert(std::int64_t alert_id) {
  Statement s = db_.prepare(std::string(alert_columns) + "WHERE id = ?");
  s.bind(1, alert_id);
  if (!s.step()) return std::nullopt;
  return alert_from(s);
}

std::optional<AlertRow> SqliteWriteTxn::open_alert(std::int64_t patient_id, std::string_view signal) {
  Statement s = db_.prepare(std::string(alert_columns) + "WHERE patient_id = ? AND signal = ? AND status <> 'resolved'");
  s.bind(1, patient_id).bind(2, signal);
  if (!s.step()) return std::nullopt;
  return alert_from(s);
}

std::int64_t SqliteWriteTxn::save_alert(const AlertRow& a) {
  const std::optional<std::string_view> action = non_empty(a.action);
  const std::optional<std::string_view> note = a.action.empty() && a.note.empty() ? std::nullopt
                                                                                  : std::optional<std::string_view>(a.note);
  if (a.id == 0) {
    db_.prepare(
          "INSERT INTO alerts (patient_id, clinic_id, signal, tier, status, rule_id, protocol_id, protocol_version, "
          "reason, reason_en, advice_zh, advice_en, opened_at_ms, updated_at_ms, count, latest_value_json, "
          "acknowledged_by, acknowledged_at_ms, action, note, snoozed_until_ms, resolved_at_ms, resolved_by, "
          "escalated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind_all(a.patient_id, a.clinic_id, a.signal, a.tier, a.status, a.rule_id, a.protocol_id,
                  a.protocol_version, a.reason, a.reason_en, a.advice_zh, a.advice_en, a.opened_at_ms,
                  a.updated_at_ms, a.count, a.latest_value_json, a.acknowledged_by, a.acknowledged_at_ms, action,
                  note, a.snoozed_until_ms, a.resolved_at_ms, a.resolved_by, a.escalated_at_ms)
        .run();
    return db_.last_insert_rowid();
  }
  db_.prepare(
        "UPDATE alerts SET tier = ?, status = ?, rule_id = ?, protocol_id = ?, protocol_version = ?, reason = ?, "
        "reason_en = ?, advice_zh = ?, advice_en = ?, updated_at_ms = ?, count = ?, latest_value_json = ?, "
        "acknowledged_by = ?, acknowledged_at_ms = ?, action = ?, note = ?, snoozed_until_ms = ?, "
        "resolved_at_ms = ?, resolved_by = ?, escalated_at_ms = ? WHERE id = ?")
      .bind_all(a.tier, a.status, a.rule_id, a.protocol_id, a.protocol_version, a.reason, a.reason_en, a.advice_zh,
                a.advice_en, a.updated_at_ms, a.count, a.latest_value_json, a.acknowledged_by,
                a.acknowledged_at_ms, action, note, a.snoozed_until_ms, a.resolved_at_ms, a.resolved_by,
                a.escalated_at_ms, a.id)
      .run();
  if (db_.changes() == 0) throw StoreError(core::Errc::not_found, "alert " + std::to_string(a.id) + " not found");
  return a.id;
}

std::int64_t SqliteWriteTxn::append_clinic_event(const ClinicEvent& e) {
  db_.prepare(
        "INSERT INTO clinic_events (clinic_id, patient_id, kind, alert_id, payload_json, at_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)")
      .bind_all(e.clinic_id, e.patient_id, e.kind, e.alert_id, e.payload_json, e.at_ms)
      .run();
  return db_.last_insert_rowid();
}

Result<AlertRow> SqliteBackend::alert(std::int64_t id) {
  return read_result<AlertRow>([&](Connection& db) -> Result<AlertRow> {
    Statement s = db.prepare(std::string(alert_columns) + "WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return Error::not_found("alert " + std::to_string(id) + " not found");
    return alert_from(s);
  });
}

std::vector<AlertRow> SqliteBackend::alerts(const AlertQuery& q) {
  return read([&](Connection& db) {
    std::vector<AlertRow> out;
    if (q.limit <= 0) return out;
    Statement s = db.prepare(std::string(alert_columns) + "WHERE clinic_id = ?1 " +
                             (q.status ? "AND status = ?2 " : "") + (q.patient_id ? "AND patient_id = ?5 " : "") +
                             "AND id < ?3 ORDER BY id DESC LIMIT ?4");
    s.bind(1, q.clinic_id).bind(3, q.before_id.value_or(std::numeric_limits<std::int64_t>::max())).bind(4, q.limit);
    if (q.status) s.bind(2, *q.status);
    if (q.patient_id) s.bind(5, *q.patient_id);
    while (s.step()) out.push_back(alert_from(s));
    return out;
  });
}

std::vector<std::int64_t> SqliteBackend::patients_with_unresolved_alerts(std::int64_t after_id, int limit) {
  return ids_of("SELECT DISTINCT patient_id FROM alerts WHERE status <> 'resolved' AND patient_id > ? "
                "ORDER BY patient_id LIMIT ?",
                after_id, limit);
}

std::vector<std::int64_t> SqliteBackend::patients_with_alert_timers_due(std::int64_t now_ms, std::int64_t critical_opened_by_ms) {
  // Each half reads its partial index (migration 8); an ORDER BY or UNION
  // here would make SQLite scan alerts_patient instead, so sort in C++.
  auto ids = ids_of("SELECT patient_id FROM alerts WHERE status = 'snoozed' AND snoozed_until_ms <= ? UNION ALL "
                    "SELECT patient_id FROM alerts WHERE status = 'open' AND tier = 'critical' AND escalated_at_ms IS NULL "
                    "AND opened_at_ms <= ?",
                    now_ms, critical_opened_by_ms);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::vector<std::int64_t> SqliteBackend::patients_last_reading_between(const std::vector<core::ReadingKind>& kinds, std::int64_t from_ms,
                                                                       std::int64_t to_ms, const std::string& signal) {
  std::vector<std::int64_t> out;
  for (auto kind : kinds) {
    // One index probe per patient (readings_content: patient, kind, taken_at), no scan of the readings.
    auto ids = ids_of(
        "SELECT p.id FROM patients p WHERE p.anonymised_at_ms IS NULL AND (SELECT max(r.taken_at_ms) FROM readings r WHERE r.patient_id = p.id AND "
        "r.kind = ?1) >= ?2 AND (SELECT max(r.taken_at_ms) FROM readings r WHERE r.patient_id = p.id AND r.kind = ?1) < ?3 "
        "AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.patient_id = p.id AND a.signal = ?4 AND a.status <> 'resolved') "
        "ORDER BY p.id",
        std::string(core::to_string(kind)), from_ms, to_ms, signal);
    out.insert(out.end(), ids.begin(), ids.end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::int64_t> SqliteBackend::patients_follow_up_due_before(const std::string& date, const std::string& signal) {
  return ids_of(
      "SELECT DISTINCT c.patient_id FROM care_plans c WHERE c.status = 'approved' AND "
      "json_valid(c.plan_json) AND json_extract(c.plan_json, '$.follow_up.due') < ? AND NOT EXISTS (SELECT 1 FROM alerts a "
      "WHERE a.patient_id = c.patient_id AND a.signal = ? AND a.status <> 'resolved') AND NOT EXISTS (SELECT 1 FROM "
      "patients p WHERE p.id = c.patient_id AND p.anonymised_at_ms IS NOT NULL) ORDER BY c.patient_id",
      date, signal);
}

std::vector<ClinicEvent> SqliteBackend::clinic_events(std::int64_t clinic_id, std::int64_t after_seq, int limit) {
  return read([&](Connection& db) {
    std::vector<ClinicEvent> out;
    if (limit <= 0) return out;
    Statement s = db.prepare(std::string(clinic_event_columns) + "WHERE clinic_id = ? AND seq > ? ORDER BY seq LIMIT ?");
    s.bind_all(clinic_id, after_seq, limit);
    while (s.step()) out.push_back(clinic_event_from(s));
    return out;
  });
}

std::int64_t SqliteBackend::last_clinic_event_seq(std::int64_t clinic_id) {
  return read([&](Connection& db) -> std::int64_t {
    Statement s = db.prepare("SELECT max(seq) FROM clinic_events WHERE clinic_id = ?");
    s.bind(1, clinic_id);
    return s.step() ? Row(s).opt_int64().value_or(0) : 0;
  });
}

}  // namespace careloop::store::detail
