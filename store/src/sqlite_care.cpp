// Care records (tables care_plans, clinic_protocols, visits,
// clinic_measurements): care plan versions, a clinic's protocol choice,
// follow-up visits and clinic measurements, written in the writer's
// transaction and read by staff and scoring.
#include <limits>

#include "sqlite_store.hpp"

namespace careloop::store::detail {
namespace {

constexpr std::string_view care_plan_columns =
    "SELECT c.id, c.patient_id, c.clinic_id, c.version, c.status, c.protocol_id, c.protocol_version, c.protocols_json, c.plan_json, c.rationale_json, "
    "c.created_at_ms, c.decided_by, coalesce(u.display_name, ''), c.decided_at_ms, c.decision_note, c.diff_json, "
    "c.edited_from FROM care_plans c LEFT JOIN users u ON u.id = c.decided_by ";

CarePlanRow care_plan_from(const Statement& s) {
  Row row(s);
  CarePlanRow r;
  r.id = row.int64();
  r.patient_id = row.int64();
  r.clinic_id = row.int64();
  r.version = row.int32();
  r.status = row.text();
  r.protocol_ids = row.text();
  r.protocol_versions = row.text();
  r.protocols_json = row.text();
  r.plan_json = row.text();
  r.rationale_json = row.text();
  r.created_at_ms = row.int64();
  r.decided_by = row.opt_int64();
  r.decided_by_name = row.text();
  r.decided_at_ms = row.opt_int64();
  r.decision_note = row.opt_text();
  r.diff_json = row.opt_text();
  if (auto v = row.opt_int64()) r.edited_from = static_cast<int>(*v);
  return r;
}

std::vector<std::string> clinic_protocols_of(Connection& db, std::int64_t clinic_id) {
  std::vector<std::string> out;
  Statement s = db.prepare("SELECT protocol_id FROM clinic_protocols WHERE clinic_id = ? ORDER BY protocol_id");
  s.bind(1, clinic_id);
  while (s.step()) out.push_back(Row(s).text());
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
  Row r(s);
  VisitRow v;
  v.id = r.int64();
  v.patient_id = r.int64();
  v.clinic_id = r.int64();
  v.client_id = r.text();
  v.visited_at.utc_ms = r.int64();
  v.visited_at.offset_min = r.int32();
  v.kind = r.text();
  v.classification = r.text();
  v.by_user_id = r.int64();
  v.by_name = r.text();
  v.note = r.text();
  v.created_at_ms = r.int64();
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
  Row row(s);
  ClinicMeasurementRow r;
  r.id = row.int64();
  r.patient_id = row.int64();
  r.clinic_id = row.int64();
  r.client_id = row.text();
  r.measured_at.utc_ms = row.int64();
  r.measured_at.offset_min = row.int32();
  r.kind = row.text();
  r.value = row.real();
  r.by_user_id = row.int64();
  r.by_name = row.text();
  r.visit_id = row.opt_int64();
  r.created_at_ms = row.int64();
  return r;
}

}  // namespace

std::vector<CarePlanRow> SqliteWriteTxn::care_plans(std::int64_t patient_id) { return care_plans_of(db_, patient_id); }

std::int64_t SqliteWriteTxn::save_care_plan(const CarePlanRow& r) {
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

void SqliteWriteTxn::set_clinic_protocols(std::int64_t clinic_id, const std::vector<std::string>& protocol_ids) {
  if (!exists(db_, "SELECT 1 FROM clinics WHERE id = ?", clinic_id))
    throw StoreError(core::Errc::not_found, "clinic " + std::to_string(clinic_id) + " not found");
  db_.prepare("DELETE FROM clinic_protocols WHERE clinic_id = ?").bind_all(clinic_id).run();
  for (const auto& id : protocol_ids)
    db_.prepare("INSERT OR IGNORE INTO clinic_protocols (clinic_id, protocol_id) VALUES (?, ?)")
        .bind_all(clinic_id, id)
        .run();
}

std::vector<std::string> SqliteWriteTxn::clinic_protocols(std::int64_t clinic_id) {
  return clinic_protocols_of(db_, clinic_id);
}

std::optional<VisitRow> SqliteWriteTxn::visit_by_client_id(std::int64_t patient_id, std::string_view client_id) {
  Statement s = db_.prepare(std::string(visit_columns) + "WHERE v.patient_id = ? AND v.client_id = ?");
  s.bind_all(patient_id, std::string(client_id));
  if (!s.step()) return std::nullopt;
  return visit_from(s);
}

std::vector<VisitRow> SqliteWriteTxn::visits_of(std::int64_t patient_id) {
  return detail::visits_of(db_, patient_id, false, std::numeric_limits<int>::max());
}

std::int64_t SqliteWriteTxn::save_visit(const VisitRow& v) {
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

std::vector<ClinicMeasurementRow> SqliteWriteTxn::clinic_measurements_by_client_id(std::int64_t patient_id,
                                                                                   std::string_view client_id) {
  std::vector<ClinicMeasurementRow> out;
  Statement s = db_.prepare(measurement_select("clinic_measurements") +
                            "WHERE m.patient_id = ? AND m.client_id = ? ORDER BY m.kind");
  s.bind_all(patient_id, std::string(client_id));
  while (s.step()) out.push_back(measurement_from(s));
  return out;
}

std::int64_t SqliteWriteTxn::save_clinic_measurement(const ClinicMeasurementRow& r) {
  db_.prepare(
        "INSERT INTO clinic_measurements (patient_id, clinic_id, client_id, measured_at_ms, offset_min, kind, value, "
        "by_user_id, visit_id, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(r.patient_id, r.clinic_id, r.client_id, r.measured_at.utc_ms, r.measured_at.offset_min, r.kind,
                r.value, r.by_user_id, r.visit_id, r.created_at_ms)
      .run();
  return db_.last_insert_rowid();
}

std::optional<CarePlanRecord> SqliteBackend::approved_care_plan(std::int64_t patient_id) {
  return read([&](Connection& db) -> std::optional<CarePlanRecord> {
    Statement s = db.prepare(
        "SELECT id, version, status, plan_json, decided_at_ms FROM care_plans WHERE patient_id = ? "
        "AND status = 'approved' ORDER BY version DESC LIMIT 1");
    s.bind(1, patient_id);
    if (!s.step()) return std::nullopt;
    Row r(s);
    return CarePlanRecord{r.int64(), r.int32(), r.text(), r.text(), r.opt_int64()};
  });
}

std::vector<CarePlanRow> SqliteBackend::care_plans(std::int64_t patient_id) {
  return read([&](Connection& db) { return care_plans_of(db, patient_id); });
}

std::vector<VisitRow> SqliteBackend::visits(std::int64_t patient_id, int limit) {
  return read([&](Connection& db) { return visits_of(db, patient_id, true, limit); });
}

std::vector<std::string> SqliteBackend::clinic_protocols(std::int64_t clinic_id) {
  return read([&](Connection& db) { return clinic_protocols_of(db, clinic_id); });
}

std::vector<ClinicMeasurementRow> SqliteBackend::clinic_measurements(std::int64_t patient_id, int limit) {
  return read([&](Connection& db) {
    std::vector<ClinicMeasurementRow> out;
    Statement s = db.prepare(measurement_select("clinic_measurements") +
                             "WHERE m.patient_id = ? ORDER BY m.measured_at_ms DESC, m.id DESC LIMIT ?");
    s.bind_all(patient_id, limit);
    while (s.step()) out.push_back(measurement_from(s));
    return out;
  });
}

std::unordered_map<std::int64_t, ClinicMeasurementSet> SqliteBackend::latest_clinic_measurements(
    std::span<const std::int64_t> patient_ids, std::int64_t since_ms) {
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
      Row r(s);
      const std::int64_t id = r.int64();
      const std::int64_t patient = r.int64();
      if (patient != at_patient || !latest) {
        if (!selected.wanted(patient)) continue;
        at_patient = patient;
        latest = &out[patient].latest;
      }
      const std::string_view kind = r.view();
      const std::int64_t at = r.int64();
      if (!latest->empty() && latest->back().kind == kind) {
        // Rows come in time order: a later one, or one as late with a larger id, is newer.
        auto& newest = latest->back();
        if (at > newest.measured_at.utc_ms || id > newest.id) {
          newest.id = id;
          newest.measured_at.utc_ms = at;
          newest.value = r.real();
        }
        continue;
      }
      ClinicMeasurementRow& row = latest->emplace_back();
      row.id = id;
      row.patient_id = patient;
      row.kind = kind;
      row.measured_at.utc_ms = at;
      row.value = r.real();
    }
    return out;
  });
}

}  // namespace careloop::store::detail
