// The SQLite implementation of Store: the writer for every change, the read
// pool for every query, and the SQL of each operation in one place.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <unordered_map>
#include <utility>

#include "careloop/core/thread_role.hpp"
#include "careloop/core/time.hpp"
#include "careloop/store/store.hpp"
#include "migrations.hpp"
#include "read_pool.hpp"
#include "sqlite_handle.hpp"
#include "sqlite_privacy.hpp"
#include "sqlite_writer.hpp"

namespace careloop::store {
namespace {

using core::Error;
using core::Result;
using detail::Connection;
using detail::insert_audit;
using detail::Statement;

// Dates are stored as TEXT YYYY-MM-DD so that SQL (and people) can read them.
std::string date_text(std::int64_t days) { return core::format_date(days); }

std::int64_t date_days(std::string_view text) {
  // YYYY-MM-DD as the store writes it (date_text), read without sscanf: batch
  // reads parse one a patient (birth dates) and more (diagnoses, medications).
  auto digits = [&](std::size_t from, std::size_t n, int& out) {
    out = 0;
    for (std::size_t i = from; i < from + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int y = 0, m = 0, d = 0;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !digits(0, 4, y) || !digits(5, 2, m) ||
      !digits(8, 2, d) || m < 1 || m > 12 || d < 1 || d > 31)
    throw StoreError(core::Errc::internal, "malformed date in the database: " + std::string(text));
  return core::days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

// Enums are stored by their wire names; the CHECK constraints keep them valid.
template <class E>
E parse_column(std::optional<E> parsed, const Statement& s, int col) {
  if (!parsed) throw StoreError(core::Errc::internal, "unexpected value in the database: " + s.text(col));
  return *parsed;
}

template <class E>
std::optional<std::string_view> name_of(const std::optional<E>& e) {
  return e ? std::optional<std::string_view>(core::to_string(*e)) : std::nullopt;
}

std::optional<std::string_view> non_empty(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string_view>(s);
}

// A read transaction, so that a read made of several queries sees one
// committed state (WAL keeps that snapshot while the writer goes on).
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Connection& db) : db_(db) {
    // A COMMIT that failed in an earlier lease would leave its transaction open.
    if (db_.in_transaction()) db_.prepare("ROLLBACK").run();
    db_.prepare("BEGIN").run();
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot() {
    // Ending a read-only transaction cannot lose anything; a failure here is not the caller's.
    try {
      db_.prepare("COMMIT").run();
    } catch (const StoreError&) {
    }
  }

 private:
  Connection& db_;
};

bool exists(Connection& db, std::string_view sql, std::int64_t id) {
  Statement s = db.prepare(sql);
  s.bind(1, id);
  return s.step();
}

core::Region region_from(const Statement& s) {
  core::Region r;
  r.id = s.int64(0);
  r.parent_id = s.opt_int64(1);
  r.name = s.text(2);
  r.level = parse_column(core::parse_region_level(s.text(3)), s, 3);
  r.code = s.text(4);
  return r;
}
constexpr std::string_view region_columns = "SELECT id, parent_id, name, level, code FROM regions ";

core::Clinic clinic_from(const Statement& s) {
  core::Clinic c;
  c.id = s.int64(0);
  c.region_id = s.int64(1);
  c.name = s.text(2);
  c.timezone = s.text(3);
  return c;
}
constexpr std::string_view clinic_columns = "SELECT id, region_id, name, timezone FROM clinics ";

core::User user_from(const Statement& s) {
  core::User u;
  u.id = s.int64(0);
  u.username = s.text(1);
  u.role = parse_column(core::parse_role(s.text(2)), s, 2);
  u.display_name = s.text(3);
  u.clinic_id = s.opt_int64(4);
  u.region_id = s.opt_int64(5);
  u.patient_id = s.opt_int64(6);
  u.active = s.int64(7) != 0;
  u.created_at_ms = s.int64(8);
  return u;
}
constexpr std::string_view user_columns =
    "SELECT id, username, role, display_name, clinic_id, region_id, patient_id, active, created_at_ms FROM users ";

// The record's clinical fields, from eight columns starting at `col`: sex,
// birth_date, height_cm, smoking, parents_with_hypertension,
// family_history_diabetes, pregnant, registered_at_ms.
void clinical_fields_from(const Statement& s, int col, core::Patient& p) {
  p.sex = parse_column(core::parse_sex(s.view(col)), s, col);
  p.birth_date = date_days(s.view(col + 1));
  p.height_cm = s.opt_real(col + 2);
  p.smoking = parse_column(core::parse_smoking(s.view(col + 3)), s, col + 3);
  p.parents_with_hypertension = static_cast<int>(s.int64(col + 4));
  p.family_history_diabetes = s.int64(col + 5) != 0;
  p.pregnant = s.int64(col + 6) != 0;
  p.registered_at_ms = s.int64(col + 7);
}

core::Patient patient_from(const Statement& s) {
  core::Patient p;
  p.id = s.int64(0);
  p.clinic_id = s.int64(1);
  p.name = s.text(2);
  p.phone = s.text(3);
  clinical_fields_from(s, 4, p);
  p.external_id = s.text(12);
  p.anonymised_at_ms = s.opt_int64(13);
  return p;
}
constexpr std::string_view patient_columns =
    "SELECT id, clinic_id, name, phone, sex, birth_date, height_cm, smoking, parents_with_hypertension, "
    "family_history_diabetes, pregnant, registered_at_ms, external_id, anonymised_at_ms FROM patients ";

core::Reading reading_from(const Statement& s) {
  core::Reading r;
  r.id = s.int64(0);
  r.patient_id = s.int64(1);
  r.clinic_id = s.int64(2);
  r.client_id = s.text(3);
  r.kind = parse_column(core::parse_reading_kind(s.text(4)), s, 4);
  r.taken_at = core::Instant{s.int64(5), static_cast<int>(s.int64(6))};
  r.received_at_ms = s.int64(7);
  r.source = s.text(8);
  r.note = s.text(9);
  r.systolic_mmhg = s.opt_real(10);
  r.diastolic_mmhg = s.opt_real(11);
  r.pulse_bpm = s.opt_real(12);
  r.glucose_mmol_l = s.opt_real(13);
  if (!s.is_null(14)) r.glucose_context = parse_column(core::parse_glucose_context(s.text(14)), s, 14);
  r.weight_kg = s.opt_real(15);
  r.hba1c_percent = s.opt_real(16);
  r.medication_name = s.text(17);
  if (!s.is_null(18)) r.medication_status = parse_column(core::parse_medication_status(s.text(18)), s, 18);
  r.value_as_sent = s.opt_real(19);
  r.unit_as_sent = s.text(20);
  r.change_seq = s.opt_int64(21).value_or(0);
  return r;
}
constexpr std::string_view reading_columns =
    "SELECT id, patient_id, clinic_id, client_id, kind, taken_at_ms, offset_min, received_at_ms, source, "
    "note, systolic_mmhg, diastolic_mmhg, pulse_bpm, glucose_mmol_l, glucose_context, weight_kg, "
    "hba1c_percent, medication_name, medication_status, value_as_sent, unit_as_sent, change_seq FROM readings ";

// What PatientState::apply reads of a reading, and nothing else (batch folds
// skip the client id, source, note and as-sent columns).
constexpr std::string_view state_reading_columns =
    "SELECT r.patient_id, r.kind, r.taken_at_ms, r.offset_min, r.systolic_mmhg, r.diastolic_mmhg, r.pulse_bpm, "
    "r.glucose_mmol_l, r.glucose_context, r.weight_kg, r.hba1c_percent, r.medication_status, r.change_seq ";

core::Reading state_reading_from(const Statement& s) {
  core::Reading r;
  r.patient_id = s.int64(0);
  r.kind = parse_column(core::parse_reading_kind(s.text(1)), s, 1);
  r.taken_at = core::Instant{s.int64(2), static_cast<int>(s.int64(3))};
  r.systolic_mmhg = s.opt_real(4);
  r.diastolic_mmhg = s.opt_real(5);
  r.pulse_bpm = s.opt_real(6);
  r.glucose_mmol_l = s.opt_real(7);
  if (!s.is_null(8)) r.glucose_context = parse_column(core::parse_glucose_context(s.text(8)), s, 8);
  r.weight_kg = s.opt_real(9);
  r.hba1c_percent = s.opt_real(10);
  if (!s.is_null(11)) r.medication_status = parse_column(core::parse_medication_status(s.text(11)), s, 11);
  r.change_seq = s.opt_int64(12).value_or(0);
  return r;
}

// patient_columns with each column qualified "p." (for joins).
const std::string& qualified_patient_columns() {
  static const std::string cols = [] {
    const std::string_view all = patient_columns;
    const auto from = all.find(" FROM ");
    std::string list(all.substr(7, from - 7)), out = "SELECT ";
    for (std::size_t start = 0;;) {
      const auto comma = list.find(", ", start);
      out += "p." + list.substr(start, comma - start);
      if (comma == std::string::npos) break;
      out += ", ";
      start = comma + 2;
    }
    return out;
  }();
  return cols;
}


// An id range, bound as ?1 and ?2.
struct IdRange {
  std::int64_t first = 0, last = 0;
};

std::string json_ids(std::span<const std::int64_t> ids);

// A batch read's patient ids as SQL selects them: a run of ascending ids (a
// page of score --all) as a range, which is cheaper than a lookup per id
// (rows of ids in the range but not asked for are skipped with wanted()),
// any other list through json_each. Bound as ?1 (and ?2).
struct IdSelection {
  explicit IdSelection(std::span<const std::int64_t> ids) {
    if (!ids.empty() && std::is_sorted(ids.begin(), ids.end()) &&
        ids.back() - ids.front() < 2 * static_cast<std::int64_t>(ids.size())) {
      range = IdRange{ids.front(), ids.back()};
      for (auto id : ids) asked.insert(id);
    } else {
      list = json_ids(ids);
    }
  }
  // "<column> BETWEEN ?1 AND ?2" or "<column> IN (SELECT value FROM json_each(?1))".
  std::string where(std::string_view column) const {
    return std::string(column) + (range ? " BETWEEN ?1 AND ?2" : " IN (SELECT value FROM json_each(?1))");
  }
  void bind(Statement& s) const {
    if (range)
      s.bind(1, range->first).bind(2, range->last);
    else
      s.bind(1, list);
  }
  bool wanted(std::int64_t id) const { return !range || asked.contains(id); }

  std::optional<IdRange> range;
  std::unordered_set<std::int64_t> asked;
  std::string list;
};

// Binds a batch read's key: an id, a JSON list of ids, or an IdSelection.
template <class Key>
void bind_key(Statement& s, const Key& key) {
  if constexpr (std::is_same_v<Key, IdSelection>)
    key.bind(s);
  else
    s.bind(1, key);
}

core::Patient* target(const std::unordered_map<std::int64_t, core::Patient*>& by_id, std::int64_t id) {
  auto it = by_id.find(id);
  return it == by_id.end() ? nullptr : it->second;
}

// Which order each patient's diagnoses come in: the record's (by date), or
// the primary key's, which needs no sort (batch scoring only asks which).
enum class DiagnosisOrder { by_date, by_code };

// Loads the diagnoses of the patients that `where` selects (bound to `key`) into `by_id`.
template <class Key>
void load_diagnoses(Connection& db, std::string_view where, const Key& key,
                    const std::unordered_map<std::int64_t, core::Patient*>& by_id, DiagnosisOrder order) {
  Statement s = db.prepare(std::string("SELECT patient_id, code, diagnosed_on FROM patient_diagnoses ") +
                           std::string(where) +
                           (order == DiagnosisOrder::by_date ? " ORDER BY patient_id, diagnosed_on, code"
                                                             : " ORDER BY patient_id, code"));
  bind_key(s, key);
  while (s.step())
    if (auto* p = target(by_id, s.int64(0))) p->diagnoses.push_back({s.text(1), date_days(s.view(2))});
}

// Loads the diagnoses, comorbidities and medications of the patients that
// `where` selects (bound to `key`: an id, a JSON list of ids, or an IdSelection),
// into `by_id`.
template <class Key>
void load_patient_details(Connection& db, std::string_view where, const Key& key,
                          const std::unordered_map<std::int64_t, core::Patient*>& by_id) {
  load_diagnoses(db, where, key, by_id, DiagnosisOrder::by_date);
  {
    Statement s = db.prepare(std::string("SELECT patient_id, code FROM patient_comorbidities ") +
                             std::string(where) + " ORDER BY patient_id, code");
    bind_key(s, key);
    while (s.step())
      if (auto* p = target(by_id, s.int64(0))) p->comorbidities.push_back(s.text(1));
  }
  {
    Statement s = db.prepare(std::string("SELECT patient_id, name, dose, since FROM patient_medications ") +
                             std::string(where) + " ORDER BY patient_id, id");
    bind_key(s, key);
    while (s.step())
      if (auto* p = target(by_id, s.int64(0))) p->medications.push_back({s.text(1), s.text(2), date_days(s.text(3))});
  }
}

// The outcome of one reading against what is already stored.
std::optional<InsertOutcome> find_duplicate(Connection& db, const core::Reading& r) {
  {
    Statement s = db.prepare("SELECT id, change_seq FROM readings WHERE patient_id = ? AND client_id = ?");
    s.bind_all(r.patient_id, r.client_id);
    if (s.step()) return InsertOutcome{InsertStatus::duplicate, s.int64(0), s.opt_int64(1).value_or(0)};
  }
  // The same reading sent again under another client id (a reinstalled app,
  // a second phone): same instant and same canonical values. IS compares NULLs.
  Statement s = db.prepare(
      "SELECT id, change_seq FROM readings WHERE patient_id = ?1 AND kind = ?2 AND taken_at_ms = ?3 "
      "AND systolic_mmhg IS ?4 AND diastolic_mmhg IS ?5 AND pulse_bpm IS ?6 AND glucose_mmol_l IS ?7 "
      "AND glucose_context IS ?8 AND weight_kg IS ?9 AND hba1c_percent IS ?10 AND medication_name = ?11 "
      "AND medication_status IS ?12 ORDER BY id LIMIT 1");
  s.bind_all(r.patient_id, core::to_string(r.kind), r.taken_at.utc_ms, r.systolic_mmhg, r.diastolic_mmhg,
             r.pulse_bpm, r.glucose_mmol_l, name_of(r.glucose_context), r.weight_kg, r.hba1c_percent,
             r.medication_name, name_of(r.medication_status));
  if (s.step()) return InsertOutcome{InsertStatus::duplicate, s.int64(0), s.opt_int64(1).value_or(0)};
  return std::nullopt;
}

// Appends to the sync feed; returns the new seq.
std::int64_t record_change(Connection& db, std::int64_t patient_id, std::int64_t clinic_id, std::string_view entity,
                           std::int64_t entity_id, std::int64_t at_ms) {
  db.prepare("INSERT INTO changes (patient_id, clinic_id, entity, entity_id, at_ms) VALUES (?, ?, ?, ?, ?)")
      .bind_all(patient_id, clinic_id, entity, entity_id, at_ms)
      .run();
  return db.last_insert_rowid();
}


InsertOutcome insert_reading(Connection& db, const core::Reading& r) {
  // The sync row first, so the reading is written once with its seq rather
  // than inserted and then updated (an UPDATE per reading was 8 % of the
  // writer's work, bench/ingest). Only the writer inserts readings, so the
  // next rowid cannot be taken by anyone between these two statements.
  const std::int64_t id = db.query_int64("SELECT coalesce(max(id), 0) + 1 FROM readings");
  const std::int64_t seq = record_change(db, r.patient_id, r.clinic_id, "reading", id, r.received_at_ms);
  db.prepare(
        "INSERT INTO readings (id, patient_id, clinic_id, client_id, kind, taken_at_ms, offset_min, received_at_ms, "
        "source, note, systolic_mmhg, diastolic_mmhg, pulse_bpm, glucose_mmol_l, glucose_context, weight_kg, "
        "hba1c_percent, medication_name, medication_status, value_as_sent, unit_as_sent, change_seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(id, r.patient_id, r.clinic_id, r.client_id, core::to_string(r.kind), r.taken_at.utc_ms,
                r.taken_at.offset_min, r.received_at_ms, r.source, r.note, r.systolic_mmhg, r.diastolic_mmhg,
                r.pulse_bpm, r.glucose_mmol_l, name_of(r.glucose_context), r.weight_kg, r.hba1c_percent,
                r.medication_name, name_of(r.medication_status), r.value_as_sent, r.unit_as_sent, seq)
      .run();
  return {InsertStatus::created, id, seq};
}

constexpr std::string_view alert_columns =
    "SELECT id, patient_id, clinic_id, signal, tier, status, rule_id, protocol_id, protocol_version, reason, "
    "reason_en, advice_zh, advice_en, opened_at_ms, updated_at_ms, count, latest_value_json, acknowledged_by, "
    "acknowledged_at_ms, action, note, snoozed_until_ms, resolved_at_ms, resolved_by, escalated_at_ms FROM alerts ";

AlertRow alert_from(const Statement& s) {
  AlertRow a;
  a.id = s.int64(0);
  a.patient_id = s.int64(1);
  a.clinic_id = s.int64(2);
  a.signal = s.text(3);
  a.tier = s.text(4);
  a.status = s.text(5);
  a.rule_id = s.text(6);
  a.protocol_id = s.text(7);
  a.protocol_version = s.text(8);
  a.reason = s.text(9);
  a.reason_en = s.text(10);
  a.advice_zh = s.text(11);
  a.advice_en = s.text(12);
  a.opened_at_ms = s.int64(13);
  a.updated_at_ms = s.int64(14);
  a.count = static_cast<int>(s.int64(15));
  a.latest_value_json = s.text(16);
  a.acknowledged_by = s.opt_int64(17);
  a.acknowledged_at_ms = s.opt_int64(18);
  a.action = s.is_null(19) ? std::string() : s.text(19);
  a.note = s.is_null(20) ? std::string() : s.text(20);
  a.snoozed_until_ms = s.opt_int64(21);
  a.resolved_at_ms = s.opt_int64(22);
  a.resolved_by = s.opt_int64(23);
  a.escalated_at_ms = s.opt_int64(24);
  return a;
}

constexpr std::string_view clinic_event_columns =
    "SELECT seq, clinic_id, patient_id, kind, alert_id, payload_json, at_ms FROM clinic_events ";

ClinicEvent clinic_event_from(const Statement& s) {
  return ClinicEvent{s.int64(0), s.int64(1), s.int64(2), s.text(3), s.opt_int64(4), s.text(5), s.int64(6)};
}

constexpr std::string_view webhook_columns =
    "SELECT clinic_id, url, secret, enabled, generation, delivered_seq, attempts, next_attempt_ms, last_error, "
    "last_error_at_ms, last_delivered_at_ms, created_at_ms, updated_at_ms FROM clinic_webhooks ";

ClinicWebhook webhook_from(const Statement& s) {
  ClinicWebhook w;
  w.clinic_id = s.int64(0);
  w.url = s.text(1);
  w.secret = s.text(2);
  w.enabled = s.int64(3) != 0;
  w.generation = s.int64(4);
  w.delivered_seq = s.int64(5);
  w.attempts = static_cast<int>(s.int64(6));
  w.next_attempt_ms = s.opt_int64(7);
  w.last_error = s.text(8);
  w.last_error_at_ms = s.opt_int64(9);
  w.last_delivered_at_ms = s.opt_int64(10);
  w.created_at_ms = s.int64(11);
  w.updated_at_ms = s.int64(12);
  return w;
}

std::optional<ClinicWebhook> load_webhook(Connection& db, std::int64_t clinic_id) {
  Statement s = db.prepare(std::string(webhook_columns) + "WHERE clinic_id = ?");
  s.bind(1, clinic_id);
  if (!s.step()) return std::nullopt;
  return webhook_from(s);
}

std::int64_t newest_clinic_event(Connection& db, std::int64_t clinic_id) {
  Statement s = db.prepare("SELECT max(seq) FROM clinic_events WHERE clinic_id = ?");
  s.bind(1, clinic_id);
  return s.step() ? s.opt_int64(0).value_or(0) : 0;
}

Result<core::Patient> load_patient(Connection& db, std::int64_t id) {
  core::Patient p;
  {
    Statement s = db.prepare(std::string(patient_columns) + "WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return Error::not_found("patient " + std::to_string(id) + " not found");
    p = patient_from(s);
  }
  load_patient_details(db, "WHERE patient_id = ?", id, {{id, &p}});
  return p;
}

// What a job asked to run once its transaction has committed, or once its
// writes have been discarded.
struct JobCallbacks {
  std::vector<std::function<void()>> after_commit;
  std::vector<std::function<void()>> on_rollback;
};

// For the writer: runs the job's on_rollback actions (once).
std::function<void()> discard_actions(std::shared_ptr<JobCallbacks> callbacks) {
  return [callbacks = std::move(callbacks)] {
    auto actions = std::move(callbacks->on_rollback);
    callbacks->on_rollback.clear();
    for (auto& f : actions) f();
  };
}

constexpr std::string_view state_columns =
    "SELECT patient_id, clinic_id, state_json, alerts_json, updated_at_ms, "
    "CASE WHEN state_json IS NULL AND state_bin IS NULL THEN 0 ELSE coalesce(state_seq, 0) END, state_bin "
    "FROM patient_state ";

PatientStateRow state_from(const Statement& s) {
  const bool has_state = s.int64(5) > 0;
  return PatientStateRow{s.int64(0),
                         s.int64(1),
                         has_state && !s.is_null(2) ? s.text(2) : std::string(),
                         s.text(3),
                         s.int64(4),
                         has_state ? s.int64(5) : 0,
                         has_state && !s.is_null(6) ? s.blob(6) : std::string()};
}

constexpr std::string_view care_plan_columns =
    "SELECT c.id, c.patient_id, c.clinic_id, c.version, c.status, c.protocol_id, c.protocol_version, c.protocols_json, c.plan_json, c.rationale_json, "
    "c.created_at_ms, c.decided_by, coalesce(u.display_name, ''), c.decided_at_ms, c.decision_note, c.diff_json, "
    "c.edited_from FROM care_plans c LEFT JOIN users u ON u.id = c.decided_by ";

CarePlanRow care_plan_from(const Statement& s) {
  CarePlanRow r;
  r.id = s.int64(0);
  r.patient_id = s.int64(1);
  r.clinic_id = s.int64(2);
  r.version = static_cast<int>(s.int64(3));
  r.status = s.text(4);
  r.protocol_ids = s.text(5);
  r.protocol_versions = s.text(6);
  r.protocols_json = s.text(7);
  r.plan_json = s.text(8);
  r.rationale_json = s.text(9);
  r.created_at_ms = s.int64(10);
  r.decided_by = s.opt_int64(11);
  r.decided_by_name = s.text(12);
  r.decided_at_ms = s.opt_int64(13);
  if (!s.is_null(14)) r.decision_note = s.text(14);
  if (!s.is_null(15)) r.diff_json = s.text(15);
  if (auto v = s.opt_int64(16)) r.edited_from = static_cast<int>(*v);
  return r;
}

std::vector<std::string> clinic_protocols_of(Connection& db, std::int64_t clinic_id) {
  std::vector<std::string> out;
  Statement s = db.prepare("SELECT protocol_id FROM clinic_protocols WHERE clinic_id = ? ORDER BY protocol_id");
  s.bind(1, clinic_id);
  while (s.step()) out.push_back(s.text(0));
  return out;
}

std::vector<CarePlanRow> care_plans_of(Connection& db, std::int64_t patient_id) {
  std::vector<CarePlanRow> out;
  Statement s = db.prepare(std::string(care_plan_columns) + "WHERE c.patient_id = ? ORDER BY c.version DESC");
  s.bind(1, patient_id);
  while (s.step()) out.push_back(care_plan_from(s));
  return out;
}

constexpr std::string_view visit_columns =
    "SELECT v.id, v.patient_id, v.clinic_id, v.client_id, v.visited_at_ms, v.offset_min, v.kind, v.classification, "
    "v.by_user_id, COALESCE(NULLIF(u.display_name, ''), u.username, ''), v.note, v.created_at_ms "
    "FROM visits v LEFT JOIN users u ON u.id = v.by_user_id ";

VisitRow visit_from(const Statement& s) {
  VisitRow v;
  v.id = s.int64(0);
  v.patient_id = s.int64(1);
  v.clinic_id = s.int64(2);
  v.client_id = s.text(3);
  v.visited_at = {s.int64(4), static_cast<int>(s.int64(5))};
  v.kind = s.text(6);
  v.classification = s.text(7);
  v.by_user_id = s.int64(8);
  v.by_name = s.text(9);
  v.note = s.text(10);
  v.created_at_ms = s.int64(11);
  return v;
}

// A patient's visits, newest first (a list) or oldest first (a rebuild), at most `limit`.
std::vector<VisitRow> visits_of(Connection& db, std::int64_t patient_id, bool newest_first, int limit) {
  std::vector<VisitRow> out;
  Statement s = db.prepare(std::string(visit_columns) +
                           (newest_first ? "WHERE v.patient_id = ? ORDER BY v.visited_at_ms DESC, v.id DESC LIMIT ?"
                                         : "WHERE v.patient_id = ? ORDER BY v.visited_at_ms, v.id LIMIT ?"));
  s.bind_all(patient_id, limit);
  while (s.step()) out.push_back(visit_from(s));
  return out;
}

constexpr std::string_view measurement_columns =
    "SELECT m.id, m.patient_id, m.clinic_id, m.client_id, m.measured_at_ms, m.offset_min, m.kind, m.value, "
    "m.by_user_id, COALESCE(NULLIF(u.display_name, ''), u.username, ''), m.visit_id, m.created_at_ms ";

// The columns of measurement_columns from `m` (a table or subquery) with its recorder.
std::string measurement_select(std::string_view from) {
  return std::string(measurement_columns) + "FROM " + std::string(from) + " m LEFT JOIN users u ON u.id = m.by_user_id ";
}

ClinicMeasurementRow measurement_from(const Statement& s) {
  ClinicMeasurementRow r;
  r.id = s.int64(0);
  r.patient_id = s.int64(1);
  r.clinic_id = s.int64(2);
  r.client_id = s.text(3);
  r.measured_at = {s.int64(4), static_cast<int>(s.int64(5))};
  r.kind = s.text(6);
  r.value = s.real(7);
  r.by_user_id = s.int64(8);
  r.by_name = s.text(9);
  r.visit_id = s.opt_int64(10);
  r.created_at_ms = s.int64(11);
  return r;
}

constexpr std::string_view month_columns =
    "SELECT patient_id, clinic_id, month, last_contact_ms, bp_reading_id, bp_taken_ms, systolic_mmhg, diastolic_mmhg, "
    "glycemic_reading_id, glycemic_taken_ms, glycemic_kind, glycemic_value, bp_status, glycemic_status "
    "FROM patient_months ";

PatientMonthRow month_from(const Statement& s) {
  PatientMonthRow r;
  r.patient_id = s.int64(0);
  r.clinic_id = s.int64(1);
  r.month = static_cast<int>(s.int64(2));
  r.last_contact_ms = s.int64(3);
  r.bp_reading_id = s.opt_int64(4);
  r.bp_taken_ms = s.int64(5);
  r.systolic_mmhg = s.opt_real(6).value_or(0);
  r.diastolic_mmhg = s.opt_real(7).value_or(0);
  r.glycemic_reading_id = s.opt_int64(8);
  r.glycemic_taken_ms = s.int64(9);
  r.glycemic_kind = s.text(10);
  r.glycemic_value = s.opt_real(11).value_or(0);
  r.bp_status = s.text(12);
  r.glycemic_status = s.text(13);
  return r;
}

// A list of ids bound as one parameter: `x IN (SELECT value FROM json_each(?))`.
std::string json_ids(std::span<const std::int64_t> ids) {
  std::string out = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "]";
}

// One risk score; the clinic comes from the patient, so the row cannot disagree with it.
core::Status insert_risk_score(Connection& db, const StoredRiskScore& r, std::size_t index) {
  if (r.model_id.empty() || r.model_version.empty() || !(r.probability >= 0 && r.probability <= 1))
    return Error::invalid("a risk score needs a model, a version and a probability in [0, 1]",
                          {{"/" + std::to_string(index), "incomplete score"}});
  std::int64_t clinic_id = 0;
  {
    Statement s = db.prepare("SELECT clinic_id FROM patients WHERE id = ?");
    s.bind(1, r.patient_id);
    if (!s.step()) return Error::not_found("patient " + std::to_string(r.patient_id) + " not found");
    clinic_id = s.int64(0);
  }
  // A one-row INSERT ... VALUES rather than INSERT ... SELECT: SQLite opens a
  // statement journal (a savepoint a row) for a statement that may write
  // several rows and abort on a constraint, which cost batch scoring's
  // writer about half its time (docs/PERFORMANCE.md, session 6).
  db.prepare(
        "INSERT INTO risk_scores (patient_id, clinic_id, model_id, model_version, probability, band, "
        "factors_json, computed_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(r.patient_id, clinic_id, r.model_id, r.model_version, r.probability, r.band, r.factors_json,
                r.computed_at_ms)
      .run();
  return core::Unit{};
}

// One cut of the rollups: a month row joined, for patients registered in
// [registered_from_ms, registered_before_ms), bucketed as RollupCount says.
struct RollupCut {
  int month = 0;
  std::string as_of_date;
  std::int64_t registered_before_ms = 0;
  std::int64_t registered_from_ms = 0;
  std::int64_t cohort_before_ms = 0;
  std::int64_t month_start_ms = 0;
  std::int64_t risk_before_ms = 0;
  std::int64_t left_before_ms = 0;
};

// The rollup counts of several cuts in one read of each table: the clinics'
// patients, their two diagnoses, their month rows of the cuts' months (the
// covering index patient_months_clinic) and their risk scores, joined and
// counted here rather than by a correlated SQL per patient and month.
std::vector<RollupCount> rollup_scan(Connection& db, const std::vector<std::int64_t>& clinic_ids,
                                     const std::vector<RollupCut>& cuts, bool set_month) {
  std::vector<RollupCount> out;
  if (cuts.empty() || clinic_ids.empty()) return out;
  const std::string clinics = json_ids(clinic_ids);
  std::int64_t newest_end = std::numeric_limits<std::int64_t>::min();
  int first_month = cuts.front().month, last_month = cuts.front().month;
  for (const auto& c : cuts) {
    newest_end = std::max(newest_end, c.registered_before_ms);
    first_month = std::min(first_month, c.month);
    last_month = std::max(last_month, c.month);
  }
  // Texts (sexes, statuses) are kept as small numbers; 0 is the empty text.
  std::vector<std::string> words{""};
  std::unordered_map<std::string, std::uint8_t> word_ids{{"", 0}};
  auto word = [&](std::string_view w) -> std::uint8_t {
    auto it = word_ids.find(std::string(w));
    if (it != word_ids.end()) return it->second;
    if (words.size() >= 255) throw StoreError(core::Errc::internal, "rollups: too many distinct status words");
    words.emplace_back(w);
    return word_ids.emplace(std::string(w), static_cast<std::uint8_t>(words.size() - 1)).first->second;
  };
  struct P {
    std::int64_t id, clinic_id, registered_at_ms;
    std::int64_t left_at_ms;  // anonymised at; max when not
    int birth_year, birth_mmdd;
    std::uint8_t sex;
    bool htn = false, dm = false;
  };
  std::vector<P> ps;
  std::unordered_map<std::int64_t, std::uint32_t> index;
  {
    Statement s = db.prepare(
        "SELECT id, clinic_id, sex, birth_date, registered_at_ms, anonymised_at_ms FROM patients "
        "WHERE clinic_id IN (SELECT value FROM json_each(?1)) AND registered_at_ms < ?2");
    s.bind_all(clinics, newest_end);
    while (s.step()) {
      const auto b = s.view(3);  // YYYY-MM-DD (the column's CHECK)
      auto num = [&](std::size_t at, std::size_t n) {
        int v = 0;
        for (std::size_t i = at; i < at + n && i < b.size(); ++i) v = v * 10 + (b[i] - '0');
        return v;
      };
      index.emplace(s.int64(0), static_cast<std::uint32_t>(ps.size()));
      ps.push_back({s.int64(0), s.int64(1), s.int64(4), s.opt_int64(5).value_or(std::numeric_limits<std::int64_t>::max()),
                    num(0, 4), num(5, 2) * 100 + num(8, 2), word(s.view(2))});
    }
  }
  {
    Statement s = db.prepare(
        "SELECT patient_id, code FROM patient_diagnoses WHERE clinic_id IN (SELECT value FROM json_each(?1)) "
        "AND code IN ('hypertension', 'diabetes_t2')");
    s.bind_all(clinics);
    while (s.step()) {
      auto it = index.find(s.int64(0));
      if (it == index.end()) continue;
      (s.view(1) == "hypertension" ? ps[it->second].htn : ps[it->second].dm) = true;
    }
  }
  // statuses[cut][patient] = {bp, glycemic}
  std::vector<std::vector<std::array<std::uint8_t, 2>>> statuses(cuts.size(),
                                                                  std::vector<std::array<std::uint8_t, 2>>(ps.size()));
  {
    Statement s = db.prepare(
        "SELECT patient_id, month, bp_status, glycemic_status FROM patient_months "
        "WHERE clinic_id IN (SELECT value FROM json_each(?1)) AND month BETWEEN ?2 AND ?3");
    s.bind_all(clinics, first_month, last_month);
    while (s.step()) {
      auto it = index.find(s.int64(0));
      if (it == index.end()) continue;
      const int m = static_cast<int>(s.int64(1));
      for (std::size_t c = 0; c < cuts.size(); ++c)
        if (cuts[c].month == m) statuses[c][it->second] = {word(s.view(2)), word(s.view(3))};
    }
  }
  // risk[cut][patient]: the highest band (3 high, 2 moderate, 1 low, 0 other) of
  // each model's newest score before the cut's risk_before_ms.
  std::vector<std::vector<std::uint8_t>> risk(cuts.size(), std::vector<std::uint8_t>(ps.size(), 0));
  {
    Statement s = db.prepare(
        "SELECT patient_id, model_id, band, computed_at_ms FROM risk_scores "
        "WHERE clinic_id IN (SELECT value FROM json_each(?1)) ORDER BY patient_id, model_id, computed_at_ms, id");
    s.bind_all(clinics);
    std::int64_t cur_patient = 0;
    std::string cur_model;
    std::vector<std::uint8_t> newest(cuts.size(), 0);
    std::optional<std::uint32_t> cur;
    auto close_group = [&] {
      if (!cur) return;
      for (std::size_t c = 0; c < cuts.size(); ++c) risk[c][*cur] = std::max(risk[c][*cur], newest[c]);
    };
    bool any = false;
    while (s.step()) {
      const std::int64_t pid = s.int64(0);
      const auto model = s.view(1);
      if (!any || pid != cur_patient || model != cur_model) {
        close_group();
        any = true;
        cur_patient = pid;
        cur_model = std::string(model);
        std::fill(newest.begin(), newest.end(), 0);
        auto it = index.find(pid);
        cur = it == index.end() ? std::nullopt : std::optional<std::uint32_t>(it->second);
      }
      if (!cur) continue;
      const auto band = s.view(2);
      const std::uint8_t rank = band == "high" ? 3 : band == "moderate" ? 2 : band == "low" ? 1 : 0;
      const std::int64_t at = s.int64(3);
      // Ascending (computed_at, id): the last one before the cut is the newest.
      for (std::size_t c = 0; c < cuts.size(); ++c)
        if (at < cuts[c].risk_before_ms) newest[c] = rank;
    }
    close_group();
  }
  struct Key {
    std::int64_t clinic_id;
    int age_decade;
    std::uint8_t sex, registration, bp, gly, risk;
    bool htn, dm;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      std::uint64_t h = static_cast<std::uint64_t>(k.clinic_id) * 0x9E3779B97F4A7C15ULL;
      h ^= static_cast<std::uint64_t>(static_cast<std::uint32_t>(k.age_decade)) << 32;
      h ^= (static_cast<std::uint64_t>(k.sex) << 0) ^ (static_cast<std::uint64_t>(k.registration) << 8) ^
           (static_cast<std::uint64_t>(k.bp) << 16) ^ (static_cast<std::uint64_t>(k.gly) << 24) ^
           (static_cast<std::uint64_t>(k.risk) << 40) ^ (static_cast<std::uint64_t>(k.htn) << 48) ^
           (static_cast<std::uint64_t>(k.dm) << 49);
      return static_cast<std::size_t>(h * 0xBF58476D1CE4E5B9ULL);
    }
  };
  static constexpr std::array<std::string_view, 4> bands{"", "low", "moderate", "high"};
  for (std::size_t c = 0; c < cuts.size(); ++c) {
    const auto& cut = cuts[c];
    const int as_year = std::atoi(cut.as_of_date.substr(0, 4).c_str());
    const int as_mmdd = cut.as_of_date.size() >= 10
                            ? std::atoi(cut.as_of_date.substr(5, 2).c_str()) * 100 + std::atoi(cut.as_of_date.substr(8, 2).c_str())
                            : 0;
    std::unordered_map<Key, std::int64_t, KeyHash> counts;
    for (std::size_t i = 0; i < ps.size(); ++i) {
      const auto& p = ps[i];
      if (p.registered_at_ms >= cut.registered_before_ms || p.registered_at_ms < cut.registered_from_ms) continue;
      if (p.left_at_ms < cut.left_before_ms) continue;  // anonymised before this month: left care
      // Completed years on as_of_date, as the integer division of SQL (toward zero).
      const int age = (as_year - p.birth_year) - (as_mmdd < p.birth_mmdd ? 1 : 0);
      const std::uint8_t reg = p.registered_at_ms < cut.cohort_before_ms ? 0 : p.registered_at_ms < cut.month_start_ms ? 1 : 2;
      ++counts[{p.clinic_id, age / 10, p.sex, reg, statuses[c][i][0], statuses[c][i][1], risk[c][i], p.htn, p.dm}];
    }
    for (const auto& [k, n] : counts) {
      RollupCount rc;
      rc.month = set_month ? cut.month : 0;
      rc.clinic_id = k.clinic_id;
      rc.sex = words[k.sex];
      rc.age_decade = k.age_decade;
      rc.hypertension = k.htn;
      rc.diabetes = k.dm;
      rc.registration = k.registration;
      rc.bp_status = words[k.bp];
      rc.glycemic_status = words[k.gly];
      rc.risk_band = std::string(bands[k.risk]);
      rc.patients = n;
      out.push_back(std::move(rc));
    }
  }
  return out;
}

}  // namespace

core::Result<core::PatientState> saved_state(const PatientStateRow& row) {
  if (row.state_seq <= 0) return Error::not_found("patient " + std::to_string(row.patient_id) + " has no saved state");
  if (!row.state_bin.empty()) return core::PatientState::from_binary(row.state_bin);
  return core::PatientState::from_json(row.state_json);
}

namespace {

// The hook's view of the writer's open transaction.
class SqliteWriteTxn final : public WriteTxn {
 public:
  // `hook`, when set, hears of the visits this transaction saves (readings
  // reach it from insert_readings, which runs it itself).
  SqliteWriteTxn(Connection& db, JobCallbacks& after, ReadingsHook* hook = nullptr) : db_(db), after_(after), hook_(hook) {}

  Result<core::Patient> patient(std::int64_t patient_id) override { return load_patient(db_, patient_id); }

  std::vector<core::Reading> readings_of(std::int64_t patient_id) override {
    std::vector<core::Reading> out;
    Statement s = db_.prepare(std::string(reading_columns) + "WHERE patient_id = ? ORDER BY taken_at_ms, id");
    s.bind(1, patient_id);
    while (s.step()) out.push_back(reading_from(s));
    return out;
  }

  void scan_readings(std::int64_t from_patient_id, std::int64_t to_patient_id,
                     const std::function<void(const core::Reading&)>& f) override {
    Statement s = db_.prepare(
        "SELECT id, patient_id, clinic_id, kind, taken_at_ms, offset_min, systolic_mmhg, diastolic_mmhg, "
        "glucose_mmol_l, glucose_context, hba1c_percent FROM readings WHERE patient_id BETWEEN ? AND ? "
        "ORDER BY patient_id, taken_at_ms, id");
    s.bind(1, from_patient_id).bind(2, to_patient_id);
    core::Reading r;
    while (s.step()) {
      r.id = s.int64(0);
      r.patient_id = s.int64(1);
      r.clinic_id = s.int64(2);
      r.kind = parse_column(core::parse_reading_kind(s.text(3)), s, 3);
      r.taken_at = core::Instant{s.int64(4), static_cast<int>(s.int64(5))};
      r.systolic_mmhg = s.opt_real(6);
      r.diastolic_mmhg = s.opt_real(7);
      r.glucose_mmol_l = s.opt_real(8);
      r.glucose_context = s.is_null(9) ? std::nullopt
                                        : std::optional(parse_column(core::parse_glucose_context(s.text(9)), s, 9));
      r.hba1c_percent = s.opt_real(10);
      f(r);
    }
  }

  std::vector<core::Reading> readings_after(std::int64_t patient_id, std::int64_t after_seq) override {
    std::vector<core::Reading> out;
    Statement s = db_.prepare(std::string(reading_columns) +
                              "WHERE patient_id = ? AND change_seq > ? ORDER BY change_seq");
    s.bind(1, patient_id).bind(2, after_seq);
    while (s.step()) out.push_back(reading_from(s));
    return out;
  }

  std::optional<PatientStateRow> load_state(std::int64_t patient_id) override {
    Statement s = db_.prepare(std::string(state_columns) + "WHERE patient_id = ?");
    s.bind(1, patient_id);
    if (!s.step()) return std::nullopt;
    return state_from(s);
  }

  std::optional<PatientStateRow> load_state_header(std::int64_t patient_id) override {
    Statement s = db_.prepare(
        "SELECT patient_id, clinic_id, alerts_json, updated_at_ms, "
        "CASE WHEN state_json IS NULL AND state_bin IS NULL THEN 0 ELSE coalesce(state_seq, 0) END "
        "FROM patient_state WHERE patient_id = ?");
    s.bind(1, patient_id);
    if (!s.step()) return std::nullopt;
    return PatientStateRow{s.int64(0), s.int64(1), {}, s.text(2), s.int64(3), s.int64(4), {}};
  }

  std::optional<DigestRow> load_digest(std::int64_t patient_id) override {
    Statement s = db_.prepare("SELECT patient_id, digest_seq, as_of_ms, digest FROM patient_digests WHERE patient_id = ?");
    s.bind(1, patient_id);
    if (!s.step()) return std::nullopt;
    return DigestRow{s.int64(0), s.int64(1), s.int64(2), std::string(s.blob_view(3))};
  }

  void save_digest(const DigestRow& row) override {
    Statement s = db_.prepare(
        "INSERT INTO patient_digests (patient_id, digest_seq, as_of_ms, digest) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (patient_id) DO UPDATE SET digest_seq = excluded.digest_seq, as_of_ms = excluded.as_of_ms, "
        "digest = excluded.digest");
    s.bind_all(row.patient_id, row.digest_seq, row.as_of_ms);
    s.bind_blob(4, row.digest);
    s.run();
  }

  void save_state(const PatientStateRow& row) override {
    const bool has_state = !row.state_json.empty() || !row.state_bin.empty();
    Statement s = db_.prepare(
        "INSERT INTO patient_state (patient_id, clinic_id, state_json, alerts_json, updated_at_ms, state_seq, state_bin) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (patient_id) DO UPDATE SET clinic_id = excluded.clinic_id, "
        "state_json = excluded.state_json, alerts_json = excluded.alerts_json, "
        "updated_at_ms = excluded.updated_at_ms, state_seq = excluded.state_seq, state_bin = excluded.state_bin");
    s.bind_all(row.patient_id, row.clinic_id, non_empty(row.state_json), row.alerts_json, row.updated_at_ms,
               has_state ? std::optional<std::int64_t>(row.state_seq) : std::nullopt);
    if (row.state_bin.empty())
      s.bind(7, std::nullopt);
    else
      s.bind_blob(7, row.state_bin);
    s.run();
  }

  void save_alert_book(std::int64_t patient_id, std::int64_t clinic_id, const std::string& alerts_json,
                       std::int64_t at_ms) override {
    db_.prepare(
          "INSERT INTO patient_state (patient_id, clinic_id, state_json, alerts_json, updated_at_ms) "
          "VALUES (?, ?, NULL, ?, ?) ON CONFLICT (patient_id) DO UPDATE SET clinic_id = excluded.clinic_id, "
          "alerts_json = excluded.alerts_json, updated_at_ms = excluded.updated_at_ms")
        .bind_all(patient_id, clinic_id, alerts_json, at_ms)
        .run();
  }

  std::optional<AlertRow> alert(std::int64_t alert_id) override {
    Statement s = db_.prepare(std::string(alert_columns) + "WHERE id = ?");
    s.bind(1, alert_id);
    if (!s.step()) return std::nullopt;
    return alert_from(s);
  }

  std::optional<AlertRow> open_alert(std::int64_t patient_id, std::string_view signal) override {
    Statement s = db_.prepare(std::string(alert_columns) + "WHERE patient_id = ? AND signal = ? AND status <> 'resolved'");
    s.bind(1, patient_id).bind(2, signal);
    if (!s.step()) return std::nullopt;
    return alert_from(s);
  }

  std::int64_t save_alert(const AlertRow& a) override {
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

  std::int64_t append_clinic_event(const ClinicEvent& e) override {
    db_.prepare(
          "INSERT INTO clinic_events (clinic_id, patient_id, kind, alert_id, payload_json, at_ms) "
          "VALUES (?, ?, ?, ?, ?, ?)")
        .bind_all(e.clinic_id, e.patient_id, e.kind, e.alert_id, e.payload_json, e.at_ms)
        .run();
    return db_.last_insert_rowid();
  }

  std::int64_t record_change(std::int64_t patient_id, std::int64_t clinic_id, std::string_view entity,
                             std::int64_t entity_id, std::int64_t at_ms) override {
    const std::int64_t seq = store::record_change(db_, patient_id, clinic_id, entity, entity_id, at_ms);
    if (entity == "alert") db_.prepare("UPDATE alerts SET change_seq = ? WHERE id = ?").bind_all(seq, entity_id).run();
    if (entity == "care_plan")
      db_.prepare("UPDATE care_plans SET change_seq = ? WHERE id = ?").bind_all(seq, entity_id).run();
    return seq;
  }

  void append_audit(const AuditEntry& e) override { insert_audit(db_, e); }

  std::vector<CarePlanRow> care_plans(std::int64_t patient_id) override { return care_plans_of(db_, patient_id); }

  std::int64_t save_care_plan(const CarePlanRow& r) override {
    if (r.id == 0) {
      db_.prepare(
            "INSERT INTO care_plans (patient_id, clinic_id, version, status, protocol_id, protocol_version, "
            "protocols_json, plan_json, rationale_json, created_at_ms, decided_by, decided_at_ms, decision_note, "
            "diff_json, edited_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind_all(r.patient_id, r.clinic_id, r.version, r.status, r.protocol_ids, r.protocol_versions, r.protocols_json, r.plan_json,
                    r.rationale_json, r.created_at_ms, r.decided_by, r.decided_at_ms, r.decision_note, r.diff_json,
                    r.edited_from)
          .run();
      return db_.last_insert_rowid();
    }
    db_.prepare("UPDATE care_plans SET status = ?, decided_by = ?, decided_at_ms = ?, decision_note = ? WHERE id = ?")
        .bind_all(r.status, r.decided_by, r.decided_at_ms, r.decision_note, r.id)
        .run();
    if (db_.changes() == 0) throw StoreError(core::Errc::not_found, "care plan " + std::to_string(r.id) + " not found");
    return r.id;
  }

  void set_clinic_protocols(std::int64_t clinic_id, const std::vector<std::string>& protocol_ids) override {
    if (!exists(db_, "SELECT 1 FROM clinics WHERE id = ?", clinic_id))
      throw StoreError(core::Errc::not_found, "clinic " + std::to_string(clinic_id) + " not found");
    db_.prepare("DELETE FROM clinic_protocols WHERE clinic_id = ?").bind_all(clinic_id).run();
    for (const auto& id : protocol_ids)
      db_.prepare("INSERT OR IGNORE INTO clinic_protocols (clinic_id, protocol_id) VALUES (?, ?)")
          .bind_all(clinic_id, id)
          .run();
  }

  std::vector<std::string> clinic_protocols(std::int64_t clinic_id) override { return clinic_protocols_of(db_, clinic_id); }

  std::optional<VisitRow> visit_by_client_id(std::int64_t patient_id, std::string_view client_id) override {
    Statement s = db_.prepare(std::string(visit_columns) + "WHERE v.patient_id = ? AND v.client_id = ?");
    s.bind_all(patient_id, std::string(client_id));
    if (!s.step()) return std::nullopt;
    return visit_from(s);
  }

  std::vector<VisitRow> visits_of(std::int64_t patient_id) override {
    return store::visits_of(db_, patient_id, false, std::numeric_limits<int>::max());
  }

  std::int64_t save_visit(const VisitRow& v) override {
    db_.prepare(
          "INSERT INTO visits (patient_id, clinic_id, client_id, visited_at_ms, offset_min, kind, classification, "
          "by_user_id, note, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind_all(v.patient_id, v.clinic_id, v.client_id, v.visited_at.utc_ms, v.visited_at.offset_min, v.kind,
                  v.classification, v.by_user_id, v.note, v.created_at_ms)
        .run();
    const std::int64_t id = db_.last_insert_rowid();
    if (hook_) {
      VisitRow saved = v;
      saved.id = id;
      hook_->on_visit_recorded(*this, saved);
    }
    return id;
  }

  std::vector<ClinicMeasurementRow> clinic_measurements_by_client_id(std::int64_t patient_id,
                                                                     std::string_view client_id) override {
    std::vector<ClinicMeasurementRow> out;
    Statement s = db_.prepare(measurement_select("clinic_measurements") +
                              "WHERE m.patient_id = ? AND m.client_id = ? ORDER BY m.kind");
    s.bind_all(patient_id, std::string(client_id));
    while (s.step()) out.push_back(measurement_from(s));
    return out;
  }

  std::int64_t save_clinic_measurement(const ClinicMeasurementRow& r) override {
    db_.prepare(
          "INSERT INTO clinic_measurements (patient_id, clinic_id, client_id, measured_at_ms, offset_min, kind, value, "
          "by_user_id, visit_id, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind_all(r.patient_id, r.clinic_id, r.client_id, r.measured_at.utc_ms, r.measured_at.offset_min, r.kind,
                  r.value, r.by_user_id, r.visit_id, r.created_at_ms)
        .run();
    return db_.last_insert_rowid();
  }

  std::vector<PatientMonthRow> patient_months(std::int64_t patient_id, int from_month, int to_month) override {
    std::vector<PatientMonthRow> out;
    Statement s = db_.prepare(std::string(month_columns) + "WHERE patient_id = ? AND month BETWEEN ? AND ? ORDER BY month");
    s.bind_all(patient_id, from_month, to_month);
    while (s.step()) out.push_back(month_from(s));
    return out;
  }

  void save_patient_month(const PatientMonthRow& r) override {
    const bool bp = r.bp_reading_id.has_value();
    const bool gl = r.glycemic_reading_id.has_value();
    // Most saves move a row's newest contact or latest values and keep its
    // statuses: an UPDATE that sets no indexed column rewrites the row alone,
    // where a REPLACE would delete and reinsert it in both indexes.
    db_.prepare(
          "UPDATE patient_months SET last_contact_ms = ?, bp_reading_id = ?, bp_taken_ms = ?, systolic_mmhg = ?, "
          "diastolic_mmhg = ?, glycemic_reading_id = ?, glycemic_taken_ms = ?, glycemic_kind = ?, glycemic_value = ? "
          "WHERE patient_id = ? AND month = ? AND clinic_id = ? AND bp_status = ? AND glycemic_status = ?")
        .bind_all(r.last_contact_ms, r.bp_reading_id, r.bp_taken_ms,
                  bp ? std::optional<double>(r.systolic_mmhg) : std::nullopt,
                  bp ? std::optional<double>(r.diastolic_mmhg) : std::nullopt, r.glycemic_reading_id,
                  r.glycemic_taken_ms, r.glycemic_kind, gl ? std::optional<double>(r.glycemic_value) : std::nullopt,
                  r.patient_id, r.month, r.clinic_id, r.bp_status, r.glycemic_status)
        .run();
    if (db_.changes() > 0) return;
    db_.prepare(
          "INSERT OR REPLACE INTO patient_months (patient_id, clinic_id, month, last_contact_ms, bp_reading_id, "
          "bp_taken_ms, systolic_mmhg, diastolic_mmhg, glycemic_reading_id, glycemic_taken_ms, glycemic_kind, "
          "glycemic_value, bp_status, glycemic_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind_all(r.patient_id, r.clinic_id, r.month, r.last_contact_ms, r.bp_reading_id, r.bp_taken_ms,
                  bp ? std::optional<double>(r.systolic_mmhg) : std::nullopt,
                  bp ? std::optional<double>(r.diastolic_mmhg) : std::nullopt, r.glycemic_reading_id,
                  r.glycemic_taken_ms, r.glycemic_kind, gl ? std::optional<double>(r.glycemic_value) : std::nullopt,
                  r.bp_status, r.glycemic_status)
        .run();
  }

  void clear_patient_months(std::int64_t patient_id) override {
    db_.prepare("DELETE FROM patient_months WHERE patient_id = ?").bind(1, patient_id).run();
  }

  core::Status insert_risk_score(const StoredRiskScore& r) override { return store::insert_risk_score(db_, r, 0); }

  void after_commit(std::function<void()> f) override { after_.after_commit.push_back(std::move(f)); }
  void on_rollback(std::function<void()> f) override { after_.on_rollback.push_back(std::move(f)); }

 private:
  Connection& db_;
  JobCallbacks& after_;
  ReadingsHook* hook_ = nullptr;
};

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

// Health data is sensitive personal information (PIPL): the database and its
// WAL and shared-memory files are readable by the service's user only. SQLite
// gives the WAL the database's mode, so the database's own mode is what
// counts; a file found looser (an older version, a copy) is tightened.
void keep_private(const std::string& path, bool say) {
  namespace fs = std::filesystem;
  for (const auto& f : {path, path + "-wal", path + "-shm", path + "-journal"}) {
    std::error_code ec;
    const auto st = fs::status(f, ec);
    if (ec || !fs::exists(st)) continue;
    constexpr auto loose = fs::perms::group_all | fs::perms::others_all;
    if ((st.permissions() & loose) == fs::perms::none) continue;
    fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace, ec);
    if (!ec && say)
      std::fprintf(stderr, "careloop store: %s was readable by others; now by its owner only (0600)\n", f.c_str());
  }
}

class SqliteStore final : public Store {
 public:
  SqliteStore(const Options& options, Connection write_db)
      : pool_(options.path, options.read_connections, options.busy_timeout_ms),
        writer_(std::move(write_db), options.max_batch_jobs) {}

  ~SqliteStore() override { close(); }

  void add_region(NewRegion r, Completion<std::int64_t> done) override {
    write<std::int64_t>(
        [r = std::move(r)](Connection& db) -> Result<std::int64_t> {
          if (r.name.empty()) return Error::invalid("a region needs a name", {{"/name", "required"}});
          if (r.parent_id && !exists(db, "SELECT 1 FROM regions WHERE id = ?", *r.parent_id))
            return Error::not_found("parent region " + std::to_string(*r.parent_id) + " not found");
          db.prepare("INSERT INTO regions (parent_id, name, level, code) VALUES (?, ?, ?, ?)")
              .bind_all(r.parent_id, r.name, core::to_string(r.level), r.code)
              .run();
          return db.last_insert_rowid();
        },
        std::move(done));
  }

  void add_clinic(NewClinic c, Completion<std::int64_t> done) override {
    write<std::int64_t>(
        [c = std::move(c)](Connection& db) -> Result<std::int64_t> {
          if (c.name.empty()) return Error::invalid("a clinic needs a name", {{"/name", "required"}});
          if (!exists(db, "SELECT 1 FROM regions WHERE id = ?", c.region_id))
            return Error::not_found("region " + std::to_string(c.region_id) + " not found");
          db.prepare("INSERT INTO clinics (region_id, name, timezone) VALUES (?, ?, ?)")
              .bind_all(c.region_id, c.name, c.timezone)
              .run();
          return db.last_insert_rowid();
        },
        std::move(done));
  }

  void add_user(NewUser nu, Completion<std::int64_t> done) override {
    write<std::int64_t>(
        [nu = std::move(nu)](Connection& db) -> Result<std::int64_t> {
          const core::User& u = nu.user;
          if (u.username.empty()) return Error::invalid("a user needs a username", {{"/username", "required"}});
          {
            Statement s = db.prepare("SELECT 1 FROM users WHERE username = ?");
            s.bind(1, u.username);
            if (s.step()) return Error::conflict("the username '" + u.username + "' is taken");
          }
          if (u.clinic_id && !exists(db, "SELECT 1 FROM clinics WHERE id = ?", *u.clinic_id))
            return Error::not_found("clinic " + std::to_string(*u.clinic_id) + " not found");
          if (u.region_id && !exists(db, "SELECT 1 FROM regions WHERE id = ?", *u.region_id))
            return Error::not_found("region " + std::to_string(*u.region_id) + " not found");
          if (u.patient_id && !exists(db, "SELECT 1 FROM patients WHERE id = ?", *u.patient_id))
            return Error::not_found("patient " + std::to_string(*u.patient_id) + " not found");
          const std::int64_t now = core::now_utc_ms();
          db.prepare(
                "INSERT INTO users (username, role, display_name, clinic_id, region_id, patient_id, active, "
                "created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
              .bind_all(u.username, core::to_string(u.role), u.display_name, u.clinic_id, u.region_id,
                        u.patient_id, u.active, now)
              .run();
          const std::int64_t id = db.last_insert_rowid();
          if (!nu.password_hash.empty()) {
            db.prepare("INSERT INTO credentials (user_id, password_hash, updated_at_ms) VALUES (?, ?, ?)")
                .bind_all(id, nu.password_hash, now)
                .run();
          }
          return id;
        },
        std::move(done));
  }

  void set_password(std::int64_t user_id, std::string password_hash, Completion<core::Unit> done) override {
    write<core::Unit>(
        [user_id, hash = std::move(password_hash)](Connection& db) -> Result<core::Unit> {
          if (hash.empty()) return Error::invalid("empty password hash");
          if (!exists(db, "SELECT 1 FROM users WHERE id = ?", user_id))
            return Error::not_found("user " + std::to_string(user_id) + " not found");
          db.prepare(
                "INSERT INTO credentials (user_id, password_hash, updated_at_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, "
                "updated_at_ms = excluded.updated_at_ms")
              .bind_all(user_id, hash, core::now_utc_ms())
              .run();
          return core::Unit{};
        },
        std::move(done));
  }

  void add_patient(core::Patient p, Completion<std::int64_t> done) override {
    write<std::int64_t>(
        [p = std::move(p)](Connection& db) -> Result<std::int64_t> {
          if (p.name.empty()) return Error::invalid("a patient needs a name", {{"/name", "required"}});
          if (!exists(db, "SELECT 1 FROM clinics WHERE id = ?", p.clinic_id))
            return Error::not_found("clinic " + std::to_string(p.clinic_id) + " not found");
          if (!p.external_id.empty()) {
            Statement s = db.prepare("SELECT id FROM patients WHERE clinic_id = ? AND external_id = ?");
            s.bind_all(p.clinic_id, p.external_id);
            if (s.step())
              return Error::conflict("the clinic already has patient " + std::to_string(s.int64(0)) +
                                     " with record number '" + p.external_id + "'");
          }
          db.prepare(
                "INSERT INTO patients (clinic_id, name, phone, sex, birth_date, height_cm, smoking, "
                "parents_with_hypertension, family_history_diabetes, pregnant, registered_at_ms, external_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
              .bind_all(p.clinic_id, p.name, p.phone, core::to_string(p.sex), date_text(p.birth_date), p.height_cm,
                        core::to_string(p.smoking), p.parents_with_hypertension, p.family_history_diabetes,
                        p.pregnant, p.registered_at_ms ? p.registered_at_ms : core::now_utc_ms(),
                        non_empty(p.external_id))
              .run();
          const std::int64_t id = db.last_insert_rowid();
          for (const auto& d : p.diagnoses)
            db.prepare("INSERT INTO patient_diagnoses (patient_id, clinic_id, code, diagnosed_on) VALUES (?, ?, ?, ?)")
                .bind_all(id, p.clinic_id, d.code, date_text(d.diagnosed_on))
                .run();
          for (const auto& c : p.comorbidities)
            db.prepare("INSERT INTO patient_comorbidities (patient_id, clinic_id, code) VALUES (?, ?, ?)")
                .bind_all(id, p.clinic_id, c)
                .run();
          for (const auto& m : p.medications)
            db.prepare("INSERT INTO patient_medications (patient_id, clinic_id, name, dose, since) VALUES (?, ?, ?, ?, ?)")
                .bind_all(id, p.clinic_id, m.name, m.dose, date_text(m.since))
                .run();
          return id;
        },
        std::move(done));
  }

  void insert_readings(std::int64_t patient_id, std::vector<core::Reading> readings,
                       Completion<std::vector<InsertOutcome>> done) override {
    auto after = std::make_shared<JobCallbacks>();
    write<std::vector<InsertOutcome>>(
        [patient_id, readings = std::move(readings), hook = hook_, after](Connection& db) mutable
        -> Result<std::vector<InsertOutcome>> {
          std::int64_t clinic_id = 0;
          {
            Statement s = db.prepare("SELECT clinic_id, anonymised_at_ms FROM patients WHERE id = ?");
            s.bind(1, patient_id);
            if (!s.step()) return Error::not_found("patient " + std::to_string(patient_id) + " not found");
            if (!s.is_null(1)) return detail::anonymised_error(patient_id);
            clinic_id = s.int64(0);
          }
          std::vector<core::FieldError> bad;
          for (std::size_t i = 0; i < readings.size(); ++i)
            if (readings[i].client_id.empty()) bad.push_back({"/" + std::to_string(i) + "/client_id", "required"});
          if (!bad.empty()) return Error::invalid("every reading needs a client id", std::move(bad));

          const std::int64_t now = core::now_utc_ms();
          std::vector<InsertOutcome> out;
          out.reserve(readings.size());
          std::vector<core::Reading> created;
          for (auto& r : readings) {
            r.patient_id = patient_id;
            r.clinic_id = clinic_id;
            if (r.received_at_ms == 0) r.received_at_ms = now;
            // Earlier readings of this batch are already in the transaction, so
            // a client id repeated within the batch is found here too.
            if (auto dup = find_duplicate(db, r)) {
              out.push_back(*dup);
            } else {
              out.push_back(insert_reading(db, r));
              r.id = out.back().id;
              r.change_seq = out.back().change_seq;
              created.push_back(r);
            }
          }
          if (created.empty()) return out;
          if (hook) {
            SqliteWriteTxn txn(db, *after);
            hook->on_readings_created(txn, patient_id, clinic_id, created);
          } else {
            // Written without the hook: the kept state no longer covers every reading.
            db.prepare("UPDATE patient_state SET state_json = NULL, state_bin = NULL, state_seq = NULL WHERE patient_id = ?")
                .bind(1, patient_id)
                .run();
            db.prepare("DELETE FROM patient_digests WHERE patient_id = ?").bind(1, patient_id).run();
          }
          return out;
        },
        then_after_commit(after, std::move(done)), discard_actions(after));
  }

  void transact(std::function<core::Status(WriteTxn&)> fn, Completion<core::Unit> done) override {
    auto after = std::make_shared<JobCallbacks>();
    write<core::Unit>(
        [fn = std::move(fn), after, hook = hook_](Connection& db) -> Result<core::Unit> {
          SqliteWriteTxn txn(db, *after, hook.get());
          return fn(txn);
        },
        then_after_commit(after, std::move(done)), discard_actions(after));
  }

  void set_webhook(std::int64_t clinic_id, std::string url, std::string secret, AuditEntry audit,
                   Completion<ClinicWebhook> done) override {
    write<ClinicWebhook>(
        [clinic_id, url = std::move(url), secret = std::move(secret),
         audit = std::move(audit)](Connection& db) -> Result<ClinicWebhook> {
          std::vector<core::FieldError> errors;
          if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
            errors.push_back({"/url", "an http:// or https:// URL"});
          if (secret.size() < 16) errors.push_back({"/secret", "at least 16 characters"});
          if (!errors.empty()) return Error::invalid("invalid webhook", std::move(errors));
          if (!exists(db, "SELECT 1 FROM clinics WHERE id = ?", clinic_id))
            return Error::not_found("clinic " + std::to_string(clinic_id) + " not found");
          const std::int64_t now = audit.at_ms ? audit.at_ms : core::now_utc_ms();
          const auto old = load_webhook(db, clinic_id);
          if (old && old->enabled) {
            // The cursor stays: what is pending goes to the new URL, signed with the new secret.
            db.prepare(
                  "UPDATE clinic_webhooks SET url = ?, secret = ?, generation = generation + 1, attempts = 0, "
                  "next_attempt_ms = NULL, updated_at_ms = ? WHERE clinic_id = ?")
                .bind_all(url, secret, now, clinic_id)
                .run();
          } else {
            // A new (or re-enabled) webhook starts after the newest event committed before this job.
            db.prepare(
                  "INSERT INTO clinic_webhooks (clinic_id, url, secret, enabled, generation, delivered_seq, "
                  "attempts, next_attempt_ms, last_error, created_at_ms, updated_at_ms) "
                  "VALUES (?1, ?2, ?3, 1, 1, ?4, 0, NULL, '', ?5, ?5) ON CONFLICT (clinic_id) DO UPDATE SET "
                  "url = excluded.url, secret = excluded.secret, enabled = 1, generation = generation + 1, "
                  "delivered_seq = excluded.delivered_seq, attempts = 0, next_attempt_ms = NULL, last_error = '', "
                  "last_error_at_ms = NULL, updated_at_ms = excluded.updated_at_ms")
                .bind_all(clinic_id, url, secret, newest_clinic_event(db, clinic_id), now)
                .run();
          }
          insert_audit(db, audit);
          return *load_webhook(db, clinic_id);
        },
        std::move(done));
  }

  void disable_webhook(std::int64_t clinic_id, AuditEntry audit, Completion<ClinicWebhook> done) override {
    write<ClinicWebhook>(
        [clinic_id, audit = std::move(audit)](Connection& db) -> Result<ClinicWebhook> {
          db.prepare(
                "UPDATE clinic_webhooks SET enabled = 0, generation = generation + 1, next_attempt_ms = NULL, "
                "updated_at_ms = ? WHERE clinic_id = ?")
              .bind_all(audit.at_ms ? audit.at_ms : core::now_utc_ms(), clinic_id)
              .run();
          if (db.changes() == 0) return Error::not_found("clinic " + std::to_string(clinic_id) + " has no webhook");
          insert_audit(db, audit);
          return *load_webhook(db, clinic_id);
        },
        std::move(done));
  }

  void delete_webhook(std::int64_t clinic_id, AuditEntry audit, Completion<core::Unit> done) override {
    write<core::Unit>(
        [clinic_id, audit = std::move(audit)](Connection& db) -> Result<core::Unit> {
          db.prepare("DELETE FROM clinic_webhooks WHERE clinic_id = ?").bind_all(clinic_id).run();
          if (db.changes() == 0) return Error::not_found("clinic " + std::to_string(clinic_id) + " has no webhook");
          insert_audit(db, audit);
          return core::Unit{};
        },
        std::move(done));
  }

  void record_webhook_progress(WebhookProgress p, Completion<core::Unit> done) override {
    write<core::Unit>(
        [p = std::move(p)](Connection& db) -> Result<core::Unit> {
          if (p.delivered_any) {
            db.prepare(
                  "UPDATE clinic_webhooks SET delivered_seq = max(delivered_seq, ?), attempts = 0, "
                  "next_attempt_ms = NULL, last_delivered_at_ms = ? WHERE clinic_id = ? AND generation = ?")
                .bind_all(p.delivered_seq, p.at_ms, p.clinic_id, p.generation)
                .run();
          }
          if (p.error) {
            db.prepare(
                  "UPDATE clinic_webhooks SET attempts = ?, next_attempt_ms = ?, last_error = ?, "
                  "last_error_at_ms = ? WHERE clinic_id = ? AND generation = ?")
                .bind_all(p.attempts, p.next_attempt_ms, *p.error, p.at_ms, p.clinic_id, p.generation)
                .run();
          }
          return core::Unit{};
        },
        std::move(done));
  }

  void set_readings_hook(std::shared_ptr<ReadingsHook> hook) override { hook_ = std::move(hook); }

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

  void append_audit(AuditEntry e, Completion<core::Unit> done) override {
    write<core::Unit>(
        [e = std::move(e)](Connection& db) -> Result<core::Unit> {
          if (e.action.empty()) return Error::invalid("an audit entry needs an action", {{"/action", "required"}});
          insert_audit(db, e);
          return core::Unit{};
        },
        std::move(done));
  }

  void create_activation_code(std::string code_sha256, ActivationCode code, Completion<core::Unit> done) override {
    write<core::Unit>(
        [hash = std::move(code_sha256), code](Connection& db) -> Result<core::Unit> {
          if (hash.empty()) return Error::invalid("empty activation code hash");
          std::int64_t clinic_id = 0;
          {
            Statement s = db.prepare("SELECT clinic_id, anonymised_at_ms FROM patients WHERE id = ?");
            s.bind(1, code.patient_id);
            if (!s.step()) return Error::not_found("patient " + std::to_string(code.patient_id) + " not found");
            if (!s.is_null(1)) return detail::anonymised_error(code.patient_id);
            clinic_id = s.int64(0);
          }
          if (!exists(db, "SELECT 1 FROM users WHERE id = ?", code.created_by))
            return Error::not_found("user " + std::to_string(code.created_by) + " not found");
          // One live code per patient: a reissued code voids the earlier ones.
          db.prepare("DELETE FROM activation_codes WHERE patient_id = ? AND used_at_ms IS NULL")
              .bind_all(code.patient_id)
              .run();
          Statement s = db.prepare(
              "INSERT INTO activation_codes (code_sha256, patient_id, clinic_id, created_by, created_at_ms, "
              "expires_at_ms) VALUES (?, ?, ?, ?, ?, ?)");
          s.bind_blob(1, hash)
              .bind(2, code.patient_id)
              .bind(3, clinic_id)
              .bind(4, code.created_by)
              .bind(5, core::now_utc_ms())
              .bind(6, code.expires_at_ms);
          s.run();
          return core::Unit{};
        },
        std::move(done));
  }

  void activate(Activation a, Completion<core::User> done) override {
    write<core::User>(
        [a = std::move(a)](Connection& db) -> Result<core::User> {
          const std::int64_t now = core::now_utc_ms();
          std::int64_t patient_id = 0;
          {
            Statement s = db.prepare(
                "SELECT patient_id FROM activation_codes WHERE code_sha256 = ? AND used_at_ms IS NULL "
                "AND expires_at_ms > ?");
            s.bind_blob(1, a.code_sha256).bind(2, now);
            if (!s.step())
              return Error::invalid("the activation code is unknown, expired or already used",
                                    {{"/code", "unknown, expired or already used; ask the clinic for a new code"}});
            patient_id = s.int64(0);
          }
          if (a.username.empty()) return Error::invalid("a username is required", {{"/username", "required"}});
          std::optional<std::int64_t> existing;
          {
            Statement s = db.prepare("SELECT id FROM users WHERE patient_id = ? ORDER BY id LIMIT 1");
            s.bind(1, patient_id);
            if (s.step()) existing = s.int64(0);
          }
          {
            Statement s = db.prepare("SELECT id FROM users WHERE username = ?");
            s.bind(1, a.username);
            if (s.step() && (!existing || s.int64(0) != *existing))
              return Error::conflict("the username '" + a.username + "' is taken", {{"/username", "taken; choose another"}});
          }
          std::int64_t user_id = 0;
          if (existing) {
            user_id = *existing;
            db.prepare("UPDATE users SET username = ?, active = 1 WHERE id = ?").bind_all(a.username, user_id).run();
            db.prepare("UPDATE sessions SET revoked_at_ms = ? WHERE user_id = ? AND revoked_at_ms IS NULL")
                .bind_all(now, user_id)
                .run();
          } else {
            std::string name = a.display_name;
            if (name.empty()) {
              Statement s = db.prepare("SELECT name FROM patients WHERE id = ?");
              s.bind(1, patient_id);
              if (s.step()) name = s.text(0);
            }
            db.prepare(
                  "INSERT INTO users (username, role, display_name, patient_id, active, created_at_ms) "
                  "VALUES (?, 'patient', ?, ?, 1, ?)")
                .bind_all(a.username, name, patient_id, now)
                .run();
            user_id = db.last_insert_rowid();
          }
          db.prepare(
                "INSERT INTO credentials (user_id, password_hash, updated_at_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, "
                "updated_at_ms = excluded.updated_at_ms")
              .bind_all(user_id, a.password_hash, now)
              .run();
          {
            Statement s = db.prepare("UPDATE activation_codes SET used_at_ms = ?, used_by = ? WHERE code_sha256 = ?");
            s.bind(1, now).bind(2, user_id).bind_blob(3, a.code_sha256);
            s.run();
          }
          if (a.consent) {
            auto c = *a.consent;
            c.patient_id = patient_id;
            c.user_id = user_id;
            if (c.at_ms == 0) c.at_ms = now;
            if (auto stored = detail::insert_consent(db, c); !stored) return stored.error();
          }
          Statement s = db.prepare(std::string(user_columns) + "WHERE id = ?");
          s.bind(1, user_id);
          if (!s.step()) return Error::internal("the activated user vanished");
          return user_from(s);
        },
        std::move(done));
  }

  void change_password(std::int64_t user_id, std::string password_hash, std::string keep_session_sha256,
                       Completion<core::Unit> done) override {
    write<core::Unit>(
        [user_id, hash = std::move(password_hash), keep = std::move(keep_session_sha256)](Connection& db)
            -> Result<core::Unit> {
          if (hash.empty()) return Error::invalid("empty password hash");
          if (!exists(db, "SELECT 1 FROM users WHERE id = ?", user_id))
            return Error::not_found("user " + std::to_string(user_id) + " not found");
          const std::int64_t now = core::now_utc_ms();
          db.prepare(
                "INSERT INTO credentials (user_id, password_hash, updated_at_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, "
                "updated_at_ms = excluded.updated_at_ms")
              .bind_all(user_id, hash, now)
              .run();
          // Whoever else held a session (a lost phone) is logged out.
          Statement s = db.prepare(
              "UPDATE sessions SET revoked_at_ms = ? WHERE user_id = ? AND revoked_at_ms IS NULL AND token_sha256 <> ?");
          s.bind(1, now).bind(2, user_id).bind_blob(3, keep);
          s.run();
          return core::Unit{};
        },
        std::move(done));
  }

  void set_user_active(std::int64_t user_id, bool active, AuditEntry audit, Completion<core::User> done) override {
    write<core::User>(
        [user_id, active, audit = std::move(audit)](Connection& db) -> Result<core::User> {
          db.prepare("UPDATE users SET active = ? WHERE id = ?").bind_all(active, user_id).run();
          if (db.changes() == 0) return Error::not_found("user " + std::to_string(user_id) + " not found");
          // A deactivated account is signed out everywhere at once.
          if (!active)
            db.prepare("UPDATE sessions SET revoked_at_ms = ? WHERE user_id = ? AND revoked_at_ms IS NULL")
                .bind_all(core::now_utc_ms(), user_id)
                .run();
          insert_audit(db, audit);
          Statement s = db.prepare(std::string(user_columns) + "WHERE id = ?");
          s.bind(1, user_id);
          s.step();
          return user_from(s);
        },
        std::move(done));
  }

  void revoke_user_sessions(std::int64_t user_id, AuditEntry audit, Completion<std::int64_t> done) override {
    write<std::int64_t>(
        [user_id, audit = std::move(audit)](Connection& db) -> Result<std::int64_t> {
          if (!exists(db, "SELECT 1 FROM users WHERE id = ?", user_id))
            return Error::not_found("user " + std::to_string(user_id) + " not found");
          db.prepare("UPDATE sessions SET revoked_at_ms = ? WHERE user_id = ? AND revoked_at_ms IS NULL")
              .bind_all(core::now_utc_ms(), user_id)
              .run();
          const auto revoked = static_cast<std::int64_t>(db.changes());
          insert_audit(db, audit);
          return revoked;
        },
        std::move(done));
  }

  void prune(std::int64_t now_ms, RetentionPolicy policy, Completion<PruneCounts> done) override {
    write<PruneCounts>(
        [now_ms, policy](Connection& db) -> Result<PruneCounts> {
          PruneCounts n;
          const std::int64_t sessions_before = now_ms - policy.ended_sessions_ms;
          db.prepare("DELETE FROM sessions WHERE expires_at_ms < ?1 OR revoked_at_ms < ?1").bind(1, sessions_before).run();
          n.sessions = static_cast<std::int64_t>(db.changes());
          // Not before a clinic's webhook has them: the outbox must not lose an undelivered alert.
          db.prepare(
                "DELETE FROM clinic_events WHERE at_ms < ?1 AND seq <= coalesce("
                "(SELECT w.delivered_seq FROM clinic_webhooks w WHERE w.clinic_id = clinic_events.clinic_id), "
                "9223372036854775807)")
              .bind(1, now_ms - policy.clinic_events_ms)
              .run();
          n.clinic_events = static_cast<std::int64_t>(db.changes());
          return n;
        },
        std::move(done));
  }

  void touch_session(std::string token_sha256, std::int64_t now_ms, Completion<core::Unit> done) override {
    write<core::Unit>(
        [token = std::move(token_sha256), now_ms](Connection& db) -> Result<core::Unit> {
          Statement s = db.prepare("UPDATE sessions SET last_seen_ms = max(last_seen_ms, ?) WHERE token_sha256 = ?");
          s.bind(1, now_ms).bind_blob(2, token);
          s.run();
          return core::Unit{};
        },
        std::move(done));
  }

  void add_message(Message m, Completion<Message> done) override {
    write<Message>(
        [m = std::move(m)](Connection& db) mutable -> Result<Message> {
          if (m.text.empty() || m.text.size() > 8000)
            return Error::invalid("a message needs a text", {{"/text", "required, at most 2000 characters"}});
          {
            Statement s = db.prepare("SELECT clinic_id, anonymised_at_ms FROM patients WHERE id = ?");
            s.bind(1, m.patient_id);
            if (!s.step()) return Error::not_found("patient " + std::to_string(m.patient_id) + " not found");
            if (!s.is_null(1)) return detail::anonymised_error(m.patient_id);
            m.clinic_id = s.int64(0);
          }
          {
            Statement s = db.prepare("SELECT display_name FROM users WHERE id = ?");
            s.bind(1, m.from_user_id);
            if (!s.step()) return Error::not_found("user " + std::to_string(m.from_user_id) + " not found");
            m.from_display_name = s.text(0);
          }
          m.created_at_ms = core::now_utc_ms();
          db.prepare(
                "INSERT INTO messages (patient_id, clinic_id, from_user_id, text, created_at_ms) VALUES (?, ?, ?, ?, ?)")
              .bind_all(m.patient_id, m.clinic_id, m.from_user_id, m.text, m.created_at_ms)
              .run();
          m.id = db.last_insert_rowid();
          m.change_seq = record_change(db, m.patient_id, m.clinic_id, "message", m.id, m.created_at_ms);
          db.prepare("UPDATE messages SET change_seq = ? WHERE id = ?").bind_all(m.change_seq, m.id).run();
          return m;
        },
        std::move(done));
  }

  void add_risk_scores(std::vector<StoredRiskScore> scores, Completion<core::Unit> done) override {
    write<core::Unit>(
        [scores = std::move(scores)](Connection& db) -> Result<core::Unit> {
          for (std::size_t i = 0; i < scores.size(); ++i)
            if (auto st = insert_risk_score(db, scores[i], i); !st) return st.error();
          return core::Unit{};
        },
        std::move(done));
  }

  void create_session(std::string token_sha256, Session session, Completion<core::Unit> done) override {
    write<core::Unit>(
        [token = std::move(token_sha256), session](Connection& db) -> Result<core::Unit> {
          if (token.empty()) return Error::invalid("empty token hash");
          if (!exists(db, "SELECT 1 FROM users WHERE id = ?", session.user_id))
            return Error::not_found("user " + std::to_string(session.user_id) + " not found");
          Statement s = db.prepare(
              "INSERT INTO sessions (token_sha256, user_id, created_at_ms, expires_at_ms, last_seen_ms) "
              "VALUES (?1, ?2, ?3, ?4, ?3)");
          s.bind_blob(1, token).bind(2, session.user_id).bind(3, core::now_utc_ms()).bind(4, session.expires_at_ms);
          s.run();
          return core::Unit{};
        },
        std::move(done));
  }

  void revoke_session(std::string token_sha256, Completion<core::Unit> done) override {
    write<core::Unit>(
        [token = std::move(token_sha256)](Connection& db) -> Result<core::Unit> {
          {
            Statement s =
                db.prepare("UPDATE sessions SET revoked_at_ms = ? WHERE token_sha256 = ? AND revoked_at_ms IS NULL");
            s.bind(1, core::now_utc_ms()).bind_blob(2, token);
            s.run();
          }
          if (db.changes() > 0) return core::Unit{};
          // Revoking twice is not an error; revoking what never existed is.
          Statement s = db.prepare("SELECT 1 FROM sessions WHERE token_sha256 = ?");
          s.bind_blob(1, token);
          if (!s.step()) return Error::not_found("no such session");
          return core::Unit{};
        },
        std::move(done));
  }

  Result<core::Region> region(std::int64_t id) override {
    return read_result<core::Region>([&](Connection& db) -> Result<core::Region> {
      Statement s = db.prepare(std::string(region_columns) + "WHERE id = ?");
      s.bind(1, id);
      if (!s.step()) return Error::not_found("region " + std::to_string(id) + " not found");
      return region_from(s);
    });
  }

  std::vector<core::Region> regions() override {
    return read([&](Connection& db) {
      std::vector<core::Region> out;
      Statement s = db.prepare(std::string(region_columns) + "ORDER BY id");
      while (s.step()) out.push_back(region_from(s));
      return out;
    });
  }

  Result<core::Clinic> clinic(std::int64_t id) override {
    return read_result<core::Clinic>([&](Connection& db) -> Result<core::Clinic> {
      Statement s = db.prepare(std::string(clinic_columns) + "WHERE id = ?");
      s.bind(1, id);
      if (!s.step()) return Error::not_found("clinic " + std::to_string(id) + " not found");
      return clinic_from(s);
    });
  }

  std::vector<core::Clinic> clinics() override {
    return read([&](Connection& db) {
      std::vector<core::Clinic> out;
      Statement s = db.prepare(std::string(clinic_columns) + "ORDER BY id");
      while (s.step()) out.push_back(clinic_from(s));
      return out;
    });
  }

  Result<core::User> user(std::int64_t id) override {
    return read_result<core::User>([&](Connection& db) -> Result<core::User> {
      Statement s = db.prepare(std::string(user_columns) + "WHERE id = ?");
      s.bind(1, id);
      if (!s.step()) return Error::not_found("user " + std::to_string(id) + " not found");
      return user_from(s);
    });
  }

  Result<core::User> user_by_username(const std::string& username) override {
    return read_result<core::User>([&](Connection& db) -> Result<core::User> {
      // The column is COLLATE NOCASE: usernames match without regard to case.
      Statement s = db.prepare(std::string(user_columns) + "WHERE username = ?");
      s.bind(1, username);
      if (!s.step()) return Error::not_found("no user named '" + username + "'");
      return user_from(s);
    });
  }

  std::vector<core::User> users() override {
    return read([&](Connection& db) {
      std::vector<core::User> out;
      Statement s = db.prepare(std::string(user_columns) + "ORDER BY id");
      while (s.step()) out.push_back(user_from(s));
      return out;
    });
  }

  Result<std::string> password_hash(std::int64_t user_id) override {
    return read_result<std::string>([&](Connection& db) -> Result<std::string> {
      Statement s = db.prepare("SELECT password_hash FROM credentials WHERE user_id = ?");
      s.bind(1, user_id);
      if (!s.step()) return Error::not_found("user " + std::to_string(user_id) + " has no password");
      return s.text(0);
    });
  }

  Result<core::Patient> patient(std::int64_t id) override {
    return read_result<core::Patient>([&](Connection& db) -> Result<core::Patient> {
      ReadSnapshot snapshot(db);
      return load_patient(db, id);
    });
  }

  std::vector<core::Patient> patients_of_clinic(std::int64_t clinic_id) override {
    return read([&](Connection& db) {
      ReadSnapshot snapshot(db);
      std::vector<core::Patient> out;
      {
        Statement s = db.prepare(std::string(patient_columns) + "WHERE clinic_id = ? ORDER BY id");
        s.bind(1, clinic_id);
        while (s.step()) out.push_back(patient_from(s));
      }
      std::unordered_map<std::int64_t, core::Patient*> by_id;
      for (auto& p : out) by_id.emplace(p.id, &p);
      load_patient_details(db, "WHERE clinic_id = ?", clinic_id, by_id);
      return out;
    });
  }

  std::vector<core::Reading> readings(const ReadingQuery& q) override {
    return read([&](Connection& db) {
      std::vector<core::Reading> out;
      if (q.limit <= 0) return out;
      ReadSnapshot snapshot(db);
      // Keyset paging: continue after (taken_at, id) of the anchor reading.
      std::int64_t after_taken = std::numeric_limits<std::int64_t>::min();
      std::int64_t after_id = std::numeric_limits<std::int64_t>::min();
      if (q.after_id) {
        Statement s = db.prepare("SELECT taken_at_ms FROM readings WHERE id = ? AND patient_id = ?");
        s.bind_all(*q.after_id, q.patient_id);
        if (!s.step()) return out;  // an unknown anchor ends the listing
        after_taken = s.int64(0);
        after_id = *q.after_id;
      }
      // With a kind, the (patient_id, kind, taken_at_ms) index serves the order too.
      Statement s = db.prepare(std::string(reading_columns) + "WHERE patient_id = ?1 " +
                               (q.kind ? "AND kind = ?6 " : "") +
                               "AND taken_at_ms >= ?2 AND taken_at_ms < ?3 AND (taken_at_ms, id) > (?4, ?5) "
                               "ORDER BY taken_at_ms, id LIMIT ?7");
      s.bind(1, q.patient_id)
          .bind(2, q.from_ms.value_or(std::numeric_limits<std::int64_t>::min()))
          .bind(3, q.to_ms.value_or(std::numeric_limits<std::int64_t>::max()))
          .bind(4, after_taken)
          .bind(5, after_id)
          .bind(7, q.limit);
      if (q.kind) s.bind(6, core::to_string(*q.kind));
      while (s.step()) out.push_back(reading_from(s));
      return out;
    });
  }

  Result<core::Reading> reading(std::int64_t id) override {
    return read_result<core::Reading>([&](Connection& db) -> Result<core::Reading> {
      Statement s = db.prepare(std::string(reading_columns) + "WHERE id = ?");
      s.bind(1, id);
      if (!s.step()) return Error::not_found("reading " + std::to_string(id) + " not found");
      return reading_from(s);
    });
  }

  std::optional<core::User> patient_account(std::int64_t patient_id) override {
    return read([&](Connection& db) -> std::optional<core::User> {
      Statement s = db.prepare(std::string(user_columns) + "WHERE patient_id = ? ORDER BY id LIMIT 1");
      s.bind(1, patient_id);
      if (!s.step()) return std::nullopt;
      return user_from(s);
    });
  }

  std::vector<Change> changes(std::int64_t patient_id, std::int64_t after_seq, int limit) override {
    return read([&](Connection& db) {
      std::vector<Change> out;
      if (limit <= 0) return out;
      ReadSnapshot snapshot(db);
      {
        Statement s = db.prepare(
            "SELECT seq, entity, entity_id, at_ms FROM changes WHERE patient_id = ? AND seq > ? ORDER BY seq LIMIT ?");
        s.bind_all(patient_id, after_seq, limit);
        while (s.step()) {
          Change c;
          c.seq = s.int64(0);
          c.entity = s.text(1);
          c.entity_id = s.int64(2);
          c.at_ms = s.int64(3);
          out.push_back(std::move(c));
        }
      }
      for (auto& c : out) {
        if (c.entity == "reading") {
          Statement s = db.prepare(std::string(reading_columns) + "WHERE id = ?");
          s.bind(1, c.entity_id);
          if (s.step()) c.reading = reading_from(s);
        } else if (c.entity == "message") {
          Statement s = db.prepare(
              "SELECT m.id, m.patient_id, m.clinic_id, m.from_user_id, u.display_name, m.text, m.created_at_ms, "
              "m.change_seq FROM messages m JOIN users u ON u.id = m.from_user_id WHERE m.id = ?");
          s.bind(1, c.entity_id);
          if (s.step())
            c.message = Message{s.int64(0), s.int64(1), s.int64(2), s.int64(3), s.text(4), s.text(5), s.int64(6),
                                s.opt_int64(7).value_or(0)};
        } else if (c.entity == "care_plan") {
          // Only what a doctor approved ever reaches the patient.
          Statement s = db.prepare(
              "SELECT id, version, status, plan_json, decided_at_ms FROM care_plans WHERE id = ? "
              "AND status IN ('approved', 'superseded')");
          s.bind(1, c.entity_id);
          if (s.step())
            c.care_plan = CarePlanRecord{s.int64(0), static_cast<int>(s.int64(1)), s.text(2), s.text(3), s.opt_int64(4)};
        } else if (c.entity == "alert") {
          Statement s = db.prepare(
              "SELECT id, signal, tier, status, reason, opened_at_ms, advice_zh, advice_en FROM alerts WHERE id = ?");
          s.bind(1, c.entity_id);
          if (s.step())
            c.alert = AlertRecord{s.int64(0), s.text(1), s.text(2), s.text(3), s.text(4), s.int64(5), s.text(6), s.text(7)};
        }
      }
      // A change whose row the patient may not see (a proposed plan) keeps
      // its seq in the cursor but is not sent.
      return out;
    });
  }

  std::vector<StoredRiskScore> latest_risk_scores(std::int64_t patient_id) override {
    return read([&](Connection& db) {
      std::vector<StoredRiskScore> out;
      // The (patient_id, model_id, computed_at_ms) index finds each model's newest row.
      Statement s = db.prepare(
          "SELECT r.patient_id, r.model_id, r.model_version, r.probability, r.band, r.factors_json, r.computed_at_ms "
          "FROM risk_scores r WHERE r.patient_id = ?1 AND r.id = (SELECT id FROM risk_scores x WHERE "
          "x.patient_id = ?1 AND x.model_id = r.model_id ORDER BY x.computed_at_ms DESC, x.id DESC LIMIT 1) "
          "ORDER BY r.model_id");
      s.bind(1, patient_id);
      while (s.step())
        out.push_back({s.int64(0), s.text(1), s.text(2), s.real(3), s.text(4), s.text(5), s.int64(6)});
      return out;
    });
  }

  std::vector<std::int64_t> patient_ids(std::int64_t after_id, int limit) override {
    return read([&](Connection& db) {
      std::vector<std::int64_t> out;
      Statement s = db.prepare("SELECT id FROM patients WHERE id > ? ORDER BY id LIMIT ?");
      s.bind_all(after_id, limit);
      while (s.step()) out.push_back(s.int64(0));
      return out;
    });
  }

  std::optional<CarePlanRecord> approved_care_plan(std::int64_t patient_id) override {
    return read([&](Connection& db) -> std::optional<CarePlanRecord> {
      Statement s = db.prepare(
          "SELECT id, version, status, plan_json, decided_at_ms FROM care_plans WHERE patient_id = ? "
          "AND status = 'approved' ORDER BY version DESC LIMIT 1");
      s.bind(1, patient_id);
      if (!s.step()) return std::nullopt;
      return CarePlanRecord{s.int64(0), static_cast<int>(s.int64(1)), s.text(2), s.text(3), s.opt_int64(4)};
    });
  }

  std::vector<CarePlanRow> care_plans(std::int64_t patient_id) override {
    return read([&](Connection& db) { return care_plans_of(db, patient_id); });
  }

  std::vector<VisitRow> visits(std::int64_t patient_id, int limit) override {
    return read([&](Connection& db) { return visits_of(db, patient_id, true, limit); });
  }

  std::vector<std::string> clinic_protocols(std::int64_t clinic_id) override {
    return read([&](Connection& db) { return clinic_protocols_of(db, clinic_id); });
  }

  std::vector<ClinicMeasurementRow> clinic_measurements(std::int64_t patient_id, int limit) override {
    return read([&](Connection& db) {
      std::vector<ClinicMeasurementRow> out;
      Statement s = db.prepare(measurement_select("clinic_measurements") +
                               "WHERE m.patient_id = ? ORDER BY m.measured_at_ms DESC, m.id DESC LIMIT ?");
      s.bind_all(patient_id, limit);
      while (s.step()) out.push_back(measurement_from(s));
      return out;
    });
  }

  std::unordered_map<std::int64_t, ClinicMeasurementSet> latest_clinic_measurements(
      std::span<const std::int64_t> patient_ids, std::int64_t since_ms) override {
    if (patient_ids.empty()) return {};
    const IdSelection selected(patient_ids);
    return read([&](Connection& db) {
      std::unordered_map<std::int64_t, ClinicMeasurementSet> out;
      // Every row of the window in index order (clinic_measurements_latest:
      // patient, kind, time, value, id): the newest of each (patient, kind)
      // is the last but for ties in time, which the largest id breaks here.
      // Ordering by id in SQL would sort each page (the index has the value
      // before the id). Only what scoring reads, all of it in the index.
      Statement s = db.prepare("SELECT m.id, m.patient_id, m.kind, m.measured_at_ms, m.value FROM clinic_measurements m WHERE " +
                               selected.where("m.patient_id") +
                               " AND m.measured_at_ms >= ?3 ORDER BY m.patient_id, m.kind, m.measured_at_ms");
      selected.bind(s);
      s.bind(3, since_ms);
      std::int64_t at_patient = 0;
      std::vector<ClinicMeasurementRow>* latest = nullptr;  // at_patient's
      while (s.step()) {
        const std::int64_t patient = s.int64(1);
        if (patient != at_patient || !latest) {
          if (!selected.wanted(patient)) continue;
          at_patient = patient;
          latest = &out[patient].latest;
        }
        const std::string_view kind = s.view(2);
        const std::int64_t id = s.int64(0), at = s.int64(3);
        if (!latest->empty() && latest->back().kind == kind) {
          // Rows come in time order: a later one, or one as late with a larger id, is newer.
          auto& newest = latest->back();
          if (at > newest.measured_at.utc_ms || id > newest.id) {
            newest.id = id;
            newest.measured_at.utc_ms = at;
            newest.value = s.real(4);
          }
          continue;
        }
        ClinicMeasurementRow& row = latest->emplace_back();
        row.id = id;
        row.patient_id = patient;
        row.kind = kind;
        row.measured_at.utc_ms = at;
        row.value = s.real(4);
      }
      return out;
    });
  }

  std::int64_t count_readings(std::optional<std::int64_t> patient_id) override {
    return read([&](Connection& db) {
      if (!patient_id) return db.query_int64("SELECT count(*) FROM readings");
      Statement s = db.prepare("SELECT count(*) FROM readings WHERE patient_id = ?");
      s.bind(1, *patient_id);
      return s.step() ? s.int64(0) : 0;
    });
  }

  std::vector<AuditEntry> audit_log(std::optional<std::int64_t> patient_id, int limit) override {
    return read([&](Connection& db) {
      std::vector<AuditEntry> out;
      if (limit <= 0) return out;
      Statement s = db.prepare(std::string(detail::audit_columns) + (patient_id ? "WHERE patient_id = ?2 " : "") +
                               "ORDER BY id DESC LIMIT ?1");
      s.bind(1, limit);
      if (patient_id) s.bind(2, *patient_id);
      while (s.step()) out.push_back(detail::audit_from(s));
      return out;
    });
  }

  std::vector<AccessLogEntry> access_log(std::int64_t patient_id, std::optional<std::int64_t> before_id,
                                         int limit) override {
    return read([&](Connection& db) { return detail::access_log_of(db, patient_id, before_id, limit); });
  }

  std::vector<ConsentRecord> consents(std::int64_t patient_id, const std::string& purpose) override {
    return read([&](Connection& db) { return detail::consents_of(db, patient_id, purpose); });
  }

  void record_consent(ConsentRecord c, Completion<ConsentRecord> done) override {
    write<ConsentRecord>([c = std::move(c)](Connection& db) { return detail::record_consent(db, c); }, std::move(done));
  }

  void anonymise_patient(std::int64_t patient_id, AuditEntry audit, Completion<AnonymisationCounts> done) override {
    write<AnonymisationCounts>(
        [patient_id, audit = std::move(audit)](Connection& db) { return detail::anonymise_patient(db, patient_id, audit); },
        std::move(done));
  }

  Result<Session> session(const std::string& token_sha256) override {
    return read_result<Session>([&](Connection& db) -> Result<Session> {
      // A deactivated user's sessions end with the account.
      Statement s = db.prepare(
          "SELECT s.user_id, s.expires_at_ms, s.last_seen_ms FROM sessions s JOIN users u ON u.id = s.user_id "
          "WHERE s.token_sha256 = ? AND s.revoked_at_ms IS NULL AND s.expires_at_ms > ? AND u.active = 1");
      s.bind_blob(1, token_sha256).bind(2, core::now_utc_ms());
      if (!s.step()) return Error::not_found("no such session, or it has expired or been revoked");
      return Session{s.int64(0), s.int64(1), s.int64(2)};
    });
  }

  std::optional<PatientStateRow> patient_state(std::int64_t patient_id) override {
    return read([&](Connection& db) -> std::optional<PatientStateRow> {
      Statement s = db.prepare(std::string(state_columns) + "WHERE patient_id = ?");
      s.bind(1, patient_id);
      if (!s.step()) return std::nullopt;
      return state_from(s);
    });
  }

  std::vector<PatientWithDigest> patients_with_digest(std::span<const std::int64_t> ids) override {
    return read([&](Connection& db) {
      std::vector<PatientWithDigest> found;
      if (ids.empty()) return found;
      ReadSnapshot snapshot(db);
      const IdSelection selected(ids);
      std::unordered_map<std::int64_t, std::size_t> index;
      {
        // Only the columns scoring reads (store.hpp PatientWithDigest).
        Statement s = db.prepare(
            "SELECT p.id, p.clinic_id, p.sex, p.birth_date, p.height_cm, p.smoking, p.parents_with_hypertension, "
            "p.family_history_diabetes, p.pregnant, p.registered_at_ms, d.as_of_ms, d.digest, p.anonymised_at_ms "
            "FROM patients p LEFT JOIN patient_digests d ON d.patient_id = p.id WHERE " +
            selected.where("p.id"));
        selected.bind(s);
        const int as_of = 10, digest = 11;
        while (s.step()) {
          if (!selected.wanted(s.int64(0))) continue;
          PatientWithDigest p;
          auto& patient = p.patient;
          patient.id = s.int64(0);
          patient.clinic_id = s.int64(1);
          clinical_fields_from(s, 2, patient);
          patient.anonymised_at_ms = s.opt_int64(12);
          if (!s.is_null(digest)) {
            p.digest = std::string(s.blob_view(digest));
            p.as_of_ms = s.int64(as_of);
          }
          index.emplace(patient.id, found.size());
          found.push_back(std::move(p));
        }
      }
      if (found.empty()) return found;
      {
        // The diagnoses, which decide whether a model applies; not the
        // comorbidities or medications, which no model reads.
        std::unordered_map<std::int64_t, core::Patient*> by_id;
        for (auto& p : found) by_id.emplace(p.patient.id, &p.patient);
        load_diagnoses(db, "WHERE " + selected.where("patient_id"), selected, by_id, DiagnosisOrder::by_code);
      }
      std::vector<PatientWithDigest> out;
      out.reserve(found.size());
      for (auto id : ids)
        if (auto it = index.find(id); it != index.end() && found[it->second].patient.id == id) {
          out.push_back(std::move(found[it->second]));
          found[it->second].patient.id = 0;  // a repeated id comes once
        }
      return out;
    });
  }

  std::vector<PatientWithState> patients_with_state(std::span<const std::int64_t> ids, std::int64_t from_ms,
                                                    std::int64_t to_ms) override {
    return read([&](Connection& db) {
      std::vector<PatientWithState> found;
      if (ids.empty()) return found;
      ReadSnapshot snapshot(db);
      const std::string id_list = json_ids(ids);
      // The records and their saved states, in one join.
      std::unordered_map<std::int64_t, std::size_t> index;
      std::vector<std::int64_t> saved_seq;
      {
        Statement s = db.prepare(qualified_patient_columns() +
                                 ", ps.state_bin, ps.state_json, "
                                 "CASE WHEN ps.state_bin IS NULL AND ps.state_json IS NULL THEN 0 "
                                 "ELSE coalesce(ps.state_seq, 0) END "
                                 "FROM patients p LEFT JOIN patient_state ps ON ps.patient_id = p.id "
                                 "WHERE p.id IN (SELECT value FROM json_each(?1))");
        s.bind(1, id_list);
        const int bin = 14, js = 15, seq = 16;  // after patient_columns' 14
        while (s.step()) {
          PatientWithState p;
          p.patient = patient_from(s);
          std::int64_t kept_seq = s.int64(seq);
          if (kept_seq > 0) {
            auto decoded = !s.is_null(bin) ? core::PatientState::from_binary(s.blob_view(bin))
                                           : core::PatientState::from_json(s.text(js));
            // A damaged saved state is not fatal here: the patient is folded
            // from its readings instead (the writer's hook rebuilds it on its next write).
            if (decoded) {
              p.state = std::move(*decoded);
              p.from_saved = true;
            } else {
              kept_seq = 0;
            }
          }
          index.emplace(p.patient.id, found.size());
          saved_seq.push_back(kept_seq);
          found.push_back(std::move(p));
        }
      }
      if (found.empty()) return found;
      {
        std::unordered_map<std::int64_t, core::Patient*> by_id;
        for (auto& p : found) by_id.emplace(p.patient.id, &p.patient);
        load_patient_details(db, "WHERE patient_id IN (SELECT value FROM json_each(?))", id_list, by_id);
      }
      auto apply_rows = [&](Statement& s) {
        while (s.step()) {
          const auto r = state_reading_from(s);
          auto it = index.find(r.patient_id);
          if (it == index.end()) continue;
          auto& p = found[it->second];
          p.state.apply(r);
          ++p.readings_read;
        }
      };
      // Saved states: the readings stored after each one's state_seq, in arrival order.
      std::string pairs = "[", fold_ids = "[";
      for (std::size_t i = 0; i < found.size(); ++i) {
        const auto id = std::to_string(found[i].patient.id);
        if (saved_seq[i] > 0)
          pairs += (pairs.size() > 1 ? ",[" : "[") + id + "," + std::to_string(saved_seq[i]) + "]";
        else
          fold_ids += (fold_ids.size() > 1 ? "," : "") + id;
      }
      pairs += "]";
      fold_ids += "]";
      if (pairs.size() > 2) {
        Statement s = db.prepare(std::string(state_reading_columns) +
                                 "FROM json_each(?1) j JOIN readings r ON r.patient_id = j.value->>0 "
                                 "AND r.change_seq > j.value->>1 ORDER BY r.patient_id, r.change_seq");
        s.bind(1, pairs);
        apply_rows(s);
      }
      // No saved state: the readings of the window, in time order.
      if (fold_ids.size() > 2) {
        Statement s = db.prepare(std::string(state_reading_columns) +
                                 "FROM readings r WHERE r.patient_id IN (SELECT value FROM json_each(?1)) "
                                 "AND r.taken_at_ms >= ?2 AND r.taken_at_ms < ?3 ORDER BY r.patient_id, r.taken_at_ms, r.id");
        s.bind(1, fold_ids).bind(2, from_ms).bind(3, to_ms);
        apply_rows(s);
      }
      // In the order asked for.
      std::vector<PatientWithState> out;
      out.reserve(found.size());
      for (auto id : ids)
        if (auto it = index.find(id); it != index.end() && found[it->second].patient.id == id) {
          out.push_back(std::move(found[it->second]));
          found[it->second].patient.id = 0;  // a repeated id comes once
        }
      return out;
    });
  }

  Result<AlertRow> alert(std::int64_t id) override {
    return read_result<AlertRow>([&](Connection& db) -> Result<AlertRow> {
      Statement s = db.prepare(std::string(alert_columns) + "WHERE id = ?");
      s.bind(1, id);
      if (!s.step()) return Error::not_found("alert " + std::to_string(id) + " not found");
      return alert_from(s);
    });
  }

  std::vector<AlertRow> alerts(const AlertQuery& q) override {
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

  std::vector<core::Reading> readings_after(std::int64_t patient_id, std::int64_t after_seq) override {
    return read([&](Connection& db) {
      std::vector<core::Reading> out;
      Statement s = db.prepare(std::string(reading_columns) + "WHERE patient_id = ? AND change_seq > ? ORDER BY change_seq");
      s.bind(1, patient_id).bind(2, after_seq);
      while (s.step()) out.push_back(reading_from(s));
      return out;
    });
  }

  std::vector<PatientListRow> patient_list(const PatientListScope& scope) override {
    return read([&](Connection& db) {
      ReadSnapshot snapshot(db);
      std::vector<std::int64_t> clinic_ids;
      if (scope.clinic_id) {
        clinic_ids.push_back(*scope.clinic_id);
      } else {
        Statement s = db.prepare("SELECT id FROM clinics ORDER BY id");
        while (s.step()) clinic_ids.push_back(s.int64(0));
      }
      std::vector<PatientListRow> out;
      // One clinic at a time: every query below walks an index that starts with clinic_id.
      for (const auto clinic_id : clinic_ids) {
        const std::size_t first = out.size();
        std::unordered_map<std::int64_t, PatientListRow*> by_id;
        {
          // The newest reading of each patient is one probe of (patient_id, taken_at_ms).
          Statement s = db.prepare(
              "SELECT id, clinic_id, name, phone, sex, birth_date, height_cm, smoking, parents_with_hypertension, "
              "family_history_diabetes, pregnant, registered_at_ms, external_id, anonymised_at_ms, "
              "(SELECT max(taken_at_ms) FROM readings r WHERE r.patient_id = patients.id) "
              "FROM patients WHERE clinic_id = ? AND anonymised_at_ms IS NULL ORDER BY id");
          s.bind(1, clinic_id);
          while (s.step()) {
            PatientListRow row;
            row.patient = patient_from(s);
            row.last_reading_ms = s.opt_int64(14);
            out.push_back(std::move(row));
          }
        }
        for (std::size_t i = first; i < out.size(); ++i) by_id.emplace(out[i].patient.id, &out[i]);
        auto target = [&](std::int64_t id) -> PatientListRow* {
          auto it = by_id.find(id);
          return it == by_id.end() ? nullptr : it->second;
        };
        {
          Statement s = db.prepare(
              "SELECT patient_id, code, diagnosed_on FROM patient_diagnoses WHERE clinic_id = ? ORDER BY patient_id, code");
          s.bind(1, clinic_id);
          while (s.step())
            if (auto* p = target(s.int64(0))) p->patient.diagnoses.push_back({s.text(1), date_days(s.text(2))});
          Statement c = db.prepare("SELECT patient_id, code FROM patient_comorbidities WHERE clinic_id = ? ORDER BY patient_id, code");
          c.bind(1, clinic_id);
          while (c.step())
            if (auto* p = target(c.int64(0))) p->patient.comorbidities.push_back(c.text(1));
        }
        {
          Statement s = db.prepare(
              "SELECT patient_id, "
              "sum(kind = 'blood_pressure'), total(CASE WHEN kind = 'blood_pressure' THEN systolic_mmhg END), "
              "total(CASE WHEN kind = 'blood_pressure' THEN diastolic_mmhg END), "
              "sum(kind = 'glucose' AND glucose_context IS 'fasting'), "
              "total(CASE WHEN kind = 'glucose' AND glucose_context IS 'fasting' THEN glucose_mmol_l END), "
              "sum(kind = 'glucose' AND glucose_context IS NOT 'fasting'), "
              "total(CASE WHEN kind = 'glucose' AND glucose_context IS NOT 'fasting' THEN glucose_mmol_l END) "
              "FROM readings WHERE clinic_id = ? AND taken_at_ms >= ? GROUP BY patient_id");
          s.bind_all(clinic_id, scope.readings_from_ms);
          while (s.step()) {
            auto* p = target(s.int64(0));
            if (!p) continue;
            p->bp_count = static_cast<int>(s.int64(1));
            p->systolic_sum = s.real(2);
            p->diastolic_sum = s.real(3);
            p->fasting_count = static_cast<int>(s.int64(4));
            p->fasting_sum = s.real(5);
            p->nonfasting_count = static_cast<int>(s.int64(6));
            p->nonfasting_sum = s.real(7);
          }
        }
        {
          Statement s = db.prepare(
              "SELECT patient_id, id, signal, tier, status, opened_at_ms FROM alerts "
              "WHERE clinic_id = ? AND status <> 'resolved' ORDER BY patient_id, id");
          s.bind(1, clinic_id);
          while (s.step())
            if (auto* p = target(s.int64(0)))
              p->alerts.push_back({s.int64(1), s.text(2), s.text(3), s.text(4), s.int64(5)});
        }
        {
          // Each model's newest score per patient: the largest (computed_at_ms, id) of the pair.
          Statement s = db.prepare(
              "SELECT r.patient_id, r.model_id, r.band, r.probability FROM risk_scores r "
              "WHERE r.clinic_id = ?1 AND r.id = (SELECT x.id FROM risk_scores x WHERE x.patient_id = r.patient_id "
              "AND x.model_id = r.model_id ORDER BY x.computed_at_ms DESC, x.id DESC LIMIT 1)");
          s.bind(1, clinic_id);
          while (s.step())
            if (auto* p = target(s.int64(0))) p->risks.push_back({s.text(1), s.text(2), s.real(3)});
        }
      }
      return out;
    });
  }

  std::vector<std::int64_t> patients_with_unresolved_alerts(std::int64_t after_id, int limit) override {
    return ids_of("SELECT DISTINCT patient_id FROM alerts WHERE status <> 'resolved' AND patient_id > ? "
                  "ORDER BY patient_id LIMIT ?",
                  after_id, limit);
  }

  std::vector<std::int64_t> patients_with_alert_timers_due(std::int64_t now_ms, std::int64_t critical_opened_by_ms) override {
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

  std::vector<std::int64_t> patients_last_reading_between(const std::vector<core::ReadingKind>& kinds, std::int64_t from_ms,
                                                           std::int64_t to_ms, const std::string& signal) override {
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

  std::vector<std::int64_t> patients_follow_up_due_before(const std::string& date, const std::string& signal) override {
    return ids_of(
        "SELECT DISTINCT c.patient_id FROM care_plans c WHERE c.status = 'approved' AND "
        "json_valid(c.plan_json) AND json_extract(c.plan_json, '$.follow_up.due') < ? AND NOT EXISTS (SELECT 1 FROM alerts a "
        "WHERE a.patient_id = c.patient_id AND a.signal = ? AND a.status <> 'resolved') AND NOT EXISTS (SELECT 1 FROM "
        "patients p WHERE p.id = c.patient_id AND p.anonymised_at_ms IS NOT NULL) ORDER BY c.patient_id",
        date, signal);
  }

  std::string patient_list_version(std::optional<std::int64_t> clinic_id) override {
    return read([&](Connection& db) {
      ReadSnapshot snapshot(db);
      const char* sql = clinic_id
                            ? "SELECT (SELECT max(seq) FROM changes WHERE clinic_id = ?1), "
                              "(SELECT max(seq) FROM clinic_events WHERE clinic_id = ?1), "
                              "(SELECT max(id) FROM risk_scores), (SELECT max(id) FROM patients)"
                            : "SELECT (SELECT max(seq) FROM changes), (SELECT max(seq) FROM clinic_events), "
                              "(SELECT max(id) FROM risk_scores), (SELECT max(id) FROM patients)";
      Statement s = db.prepare(sql);
      if (clinic_id) s.bind(1, *clinic_id);
      std::string out;
      if (s.step())
        for (int i = 0; i < 4; ++i) out += std::to_string(s.opt_int64(i).value_or(0)) + ".";
      return out;
    });
  }

  std::vector<ClinicEvent> clinic_events(std::int64_t clinic_id, std::int64_t after_seq, int limit) override {
    return read([&](Connection& db) {
      std::vector<ClinicEvent> out;
      if (limit <= 0) return out;
      Statement s = db.prepare(std::string(clinic_event_columns) + "WHERE clinic_id = ? AND seq > ? ORDER BY seq LIMIT ?");
      s.bind_all(clinic_id, after_seq, limit);
      while (s.step()) out.push_back(clinic_event_from(s));
      return out;
    });
  }

  std::int64_t last_clinic_event_seq(std::int64_t clinic_id) override {
    return read([&](Connection& db) -> std::int64_t {
      Statement s = db.prepare("SELECT max(seq) FROM clinic_events WHERE clinic_id = ?");
      s.bind(1, clinic_id);
      return s.step() ? s.opt_int64(0).value_or(0) : 0;
    });
  }

  std::vector<RollupCount> rollup_counts(const RollupQuery& q) override {
    return read([&](Connection& db) {
      return rollup_scan(db, q.clinic_ids,
                         {{q.month, q.as_of_date, q.registered_before_ms, q.registered_from_ms, q.cohort_before_ms,
                           q.month_start_ms, q.risk_before_ms, q.left_before_ms}},
                         false);
    });
  }

  std::vector<RollupCount> rollup_counts_months(const std::vector<std::int64_t>& clinic_ids,
                                                const std::vector<RollupMonth>& months) override {
    return read([&](Connection& db) {
      std::vector<RollupCut> cuts;
      for (const auto& m : months)
        cuts.push_back({m.month, m.as_of_date, m.end_ms, std::numeric_limits<std::int64_t>::min(), m.cohort_before_ms,
                        m.month_start_ms, m.end_ms, m.left_before_ms});
      return rollup_scan(db, clinic_ids, cuts, true);
    });
  }

  std::vector<AlertActionCount> alert_action_counts(const std::vector<std::int64_t>& clinic_ids, std::int64_t from_ms,
                                                    std::int64_t to_ms) override {
    return read([&](Connection& db) {
      std::vector<AlertActionCount> out;
      Statement s = db.prepare(
          "SELECT clinic_id, signal, count(*), "
          "sum(acknowledged_at_ms IS NOT NULL AND action IS NOT NULL AND action <> 'no_action') "
          "FROM alerts WHERE clinic_id IN (SELECT value FROM json_each(?1)) AND opened_at_ms >= ?2 "
          "AND opened_at_ms < ?3 GROUP BY clinic_id, signal ORDER BY clinic_id, signal");
      s.bind_all(json_ids(clinic_ids), from_ms, to_ms);
      while (s.step()) out.push_back({s.int64(0), s.text(1), s.int64(2), s.int64(3)});
      return out;
    });
  }

  std::vector<PatientMonthRow> patient_months(std::int64_t patient_id) override {
    return read([&](Connection& db) {
      std::vector<PatientMonthRow> out;
      Statement s = db.prepare(std::string(month_columns) + "WHERE patient_id = ? ORDER BY month");
      s.bind(1, patient_id);
      while (s.step()) out.push_back(month_from(s));
      return out;
    });
  }

  std::optional<ClinicWebhook> webhook(std::int64_t clinic_id) override {
    return read([&](Connection& db) -> std::optional<ClinicWebhook> {
      ReadSnapshot snapshot(db);
      auto w = load_webhook(db, clinic_id);
      if (!w) return w;
      Statement s = db.prepare("SELECT count(*) FROM clinic_events WHERE clinic_id = ? AND seq > ?");
      s.bind_all(clinic_id, w->delivered_seq);
      w->pending_events = s.step() ? s.int64(0) : 0;
      return w;
    });
  }

  std::vector<ClinicWebhook> enabled_webhooks() override {
    return read([&](Connection& db) {
      std::vector<ClinicWebhook> out;
      Statement s = db.prepare(std::string(webhook_columns) + "WHERE enabled = 1 ORDER BY clinic_id");
      while (s.step()) out.push_back(webhook_from(s));
      return out;
    });
  }

  core::Status backup_to(const std::string& path) override {
    return read_result<core::Unit>([&](Connection& src) -> core::Status {
      std::error_code ec;
      if (std::filesystem::exists(path, ec))
        return Error::conflict("the backup target " + path + " already exists");
      try {
        Connection dst = Connection::open(path, detail::OpenMode::read_write_create, 5000);
        keep_private(path, false);  // a copy of every record: the owner's only, like the database
        // The backup object must be finished before dst closes.
        struct BackupFinisher {
          void operator()(sqlite3_backup* b) const noexcept { sqlite3_backup_finish(b); }
        };
        std::unique_ptr<sqlite3_backup, BackupFinisher> backup(sqlite3_backup_init(dst.get(), "main", src.get(), "main"));
        if (!backup) detail::check(dst.get(), sqlite3_errcode(dst.get()), "backup_init");
        // -1: every page in one step, so the copy is one consistent snapshot.
        int rc = SQLITE_OK;
        while ((rc = sqlite3_backup_step(backup.get(), -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (rc != SQLITE_DONE) detail::check(dst.get(), rc, "backup_step");
        detail::check(dst.get(), sqlite3_backup_finish(backup.release()), "backup_finish");
        return core::Unit{};
      } catch (const StoreError&) {
        // Leave nothing half-written behind.
        std::filesystem::remove(path, ec);
        std::filesystem::remove(path + "-wal", ec);
        std::filesystem::remove(path + "-shm", ec);
        throw;
      }
    });
  }

  core::Status integrity_check() override {
    return read_result<core::Unit>([&](Connection& db) -> core::Status {
      ReadSnapshot snapshot(db);
      std::string problems;
      {
        Statement s = db.prepare("PRAGMA integrity_check");
        while (s.step())
          if (const std::string line = s.text(0); line != "ok") problems += line + "\n";
      }
      {
        Statement s = db.prepare("PRAGMA foreign_key_check");
        while (s.step())
          problems += "foreign key: " + s.text(0) + " row " + std::to_string(s.int64(1)) + " -> " + s.text(2) + "\n";
      }
      if (!problems.empty()) return Error::internal("integrity check failed:\n" + problems);
      return core::Unit{};
    });
  }

  int schema_version() override {
    return read([](Connection& db) { return detail::user_version(db); });
  }

  WriterStats writer_stats() const override { return writer_.stats(); }

  void close() override {
    core::require_blocking_allowed("store::close");
    // A completion calling close() would join its own thread; it only stops the intake.
    if (writer_.on_writer_thread()) {
      writer_.stop_intake();
      return;
    }
    std::lock_guard lock(close_mutex_);
    if (closed_) return;
    writer_.stop();
    pool_.close();
    try {
      // Fold the WAL into the database so the file alone is the whole state.
      writer_.connection().exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (const StoreError& e) {
      std::fprintf(stderr, "careloop store: checkpoint at close failed: %s\n", e.what());
    }
    writer_.close_connection();
    closed_ = true;
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

}  // namespace

core::Result<std::unique_ptr<Store>> open_sqlite(const Options& options) {
  core::require_blocking_allowed("store::open_sqlite");
  if (options.path.empty()) return Error::invalid("no database path", {{"/path", "required"}});
  std::error_code ec;
  const bool existed = std::filesystem::exists(options.path, ec);
  if (!existed && !options.create_if_missing) return Error::not_found("no database at " + options.path);
  try {
    Connection db = Connection::open(
        options.path, existed ? detail::OpenMode::read_write : detail::OpenMode::read_write_create,
        options.busy_timeout_ms);
    keep_private(options.path, existed);
    detail::migrate(db);
    return std::unique_ptr<Store>(std::make_unique<SqliteStore>(options, std::move(db)));
  } catch (const StoreError& e) {
    return detail::to_error(e);
  }
}

int latest_schema_version() { return static_cast<int>(detail::migrations().size()); }

}  // namespace careloop::store
