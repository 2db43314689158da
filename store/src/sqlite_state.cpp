// The state kept per patient (tables patient_state, patient_digests): the
// writer's saves and loads, and the batch reads that join records with
// their saved states (caught up with the readings after them) or digests.
#include "sqlite_store.hpp"

namespace careloop::store::detail {
namespace {

// What PatientState::apply reads of a reading, and nothing else (batch folds
// skip the client id, source, note and as-sent columns).
constexpr std::string_view state_reading_columns =
    "SELECT r.patient_id, r.kind, r.taken_at_ms, r.offset_min, r.systolic_mmhg, r.diastolic_mmhg, r.pulse_bpm, "
    "r.glucose_mmol_l, r.glucose_context, r.weight_kg, r.hba1c_percent, r.medication_status, r.change_seq ";

core::Reading state_reading_from(const Statement& s) {
  Row row(s);
  core::Reading r;
  r.patient_id = row.int64();
  r.kind = row.enumeration(core::parse_reading_kind);
  r.taken_at.utc_ms = row.int64();
  r.taken_at.offset_min = row.int32();
  r.systolic_mmhg = row.opt_real();
  r.diastolic_mmhg = row.opt_real();
  r.pulse_bpm = row.opt_real();
  r.glucose_mmol_l = row.opt_real();
  r.glucose_context = row.opt_enumeration(core::parse_glucose_context);
  r.weight_kg = row.opt_real();
  r.hba1c_percent = row.opt_real();
  r.medication_status = row.opt_enumeration(core::parse_medication_status);
  r.change_seq = row.opt_int64().value_or(0);
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

constexpr std::string_view state_columns =
    "SELECT patient_id, clinic_id, state_json, alerts_json, updated_at_ms, "
    "CASE WHEN state_json IS NULL AND state_bin IS NULL THEN 0 ELSE coalesce(state_seq, 0) END, state_bin "
    "FROM patient_state ";

PatientStateRow state_from(const Statement& s) {
  Row r(s);
  PatientStateRow row;
  row.patient_id = r.int64();
  row.clinic_id = r.int64();
  auto state_json = r.opt_text();
  row.alerts_json = r.text();
  row.updated_at_ms = r.int64();
  const std::int64_t state_seq = r.int64();
  auto state_bin = r.opt_blob();
  // A row that keeps no state (state_seq 0) has neither form, whatever is left in the columns.
  if (state_seq > 0) {
    row.state_json = std::move(state_json).value_or(std::string());
    row.state_seq = state_seq;
    row.state_bin = std::move(state_bin).value_or(std::string());
  }
  return row;
}

}  // namespace

std::optional<PatientStateRow> SqliteWriteTxn::load_state(std::int64_t patient_id) {
  Statement s = db_.prepare(std::string(state_columns) + "WHERE patient_id = ?");
  s.bind(1, patient_id);
  if (!s.step()) return std::nullopt;
  return state_from(s);
}

std::optional<PatientStateRow> SqliteWriteTxn::load_state_header(std::int64_t patient_id) {
  Statement s = db_.prepare(
      "SELECT patient_id, clinic_id, alerts_json, updated_at_ms, "
      "CASE WHEN state_json IS NULL AND state_bin IS NULL THEN 0 ELSE coalesce(state_seq, 0) END "
      "FROM patient_state WHERE patient_id = ?");
  s.bind(1, patient_id);
  if (!s.step()) return std::nullopt;
  Row r(s);
  return PatientStateRow{r.int64(), r.int64(), {}, r.text(), r.int64(), r.int64(), {}};
}

std::optional<DigestRow> SqliteWriteTxn::load_digest(std::int64_t patient_id) {
  Statement s = db_.prepare("SELECT patient_id, digest_seq, as_of_ms, digest FROM patient_digests WHERE patient_id = ?");
  s.bind(1, patient_id);
  if (!s.step()) return std::nullopt;
  Row r(s);
  return DigestRow{r.int64(), r.int64(), r.int64(), r.blob()};
}

void SqliteWriteTxn::save_digest(const DigestRow& row) {
  Statement s = db_.prepare(
      "INSERT INTO patient_digests (patient_id, digest_seq, as_of_ms, digest) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (patient_id) DO UPDATE SET digest_seq = excluded.digest_seq, as_of_ms = excluded.as_of_ms, "
      "digest = excluded.digest");
  s.bind_all(row.patient_id, row.digest_seq, row.as_of_ms);
  s.bind_blob(4, row.digest);
  s.run();
}

void SqliteWriteTxn::save_state(const PatientStateRow& row) {
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

void SqliteWriteTxn::save_alert_book(std::int64_t patient_id, std::int64_t clinic_id, const std::string& alerts_json,
                                     std::int64_t at_ms) {
  db_.prepare(
        "INSERT INTO patient_state (patient_id, clinic_id, state_json, alerts_json, updated_at_ms) "
        "VALUES (?, ?, NULL, ?, ?) ON CONFLICT (patient_id) DO UPDATE SET clinic_id = excluded.clinic_id, "
        "alerts_json = excluded.alerts_json, updated_at_ms = excluded.updated_at_ms")
      .bind_all(patient_id, clinic_id, alerts_json, at_ms)
      .run();
}

std::optional<PatientStateRow> SqliteBackend::patient_state(std::int64_t patient_id) {
  return read([&](Connection& db) -> std::optional<PatientStateRow> {
    Statement s = db.prepare(std::string(state_columns) + "WHERE patient_id = ?");
    s.bind(1, patient_id);
    if (!s.step()) return std::nullopt;
    return state_from(s);
  });
}

std::vector<PatientWithDigest> SqliteBackend::patients_with_digest(std::span<const std::int64_t> ids) {
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
      while (s.step()) {
        Row r(s);
        const std::int64_t id = r.int64();
        if (!selected.wanted(id)) continue;
        PatientWithDigest p;
        auto& patient = p.patient;
        patient.id = id;
        patient.clinic_id = r.int64();
        clinical_fields_from(r, patient);
        const auto as_of = r.opt_int64();
        if (const auto digest = r.opt_blob_view()) {
          p.digest = std::string(*digest);
          p.as_of_ms = as_of.value_or(0);
        }
        patient.anonymised_at_ms = r.opt_int64();
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

std::vector<PatientWithState> SqliteBackend::patients_with_state(std::span<const std::int64_t> ids, std::int64_t from_ms,
                                                                 std::int64_t to_ms) {
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
      while (s.step()) {
        Row r(s);
        PatientWithState p;
        p.patient = patient_from(r);
        const auto bin = r.opt_blob_view();
        const auto js = r.opt_text();  // NULL beside a binary form: the writers save one or the other
        std::int64_t kept_seq = r.int64();
        if (kept_seq > 0) {
          auto decoded = core::PatientState::from_saved(bin.value_or(std::string_view()), js.value_or(std::string()));
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

}  // namespace careloop::store::detail
