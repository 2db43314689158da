// Patient records (tables patients, patient_diagnoses, patient_comorbidities,
// patient_medications): adding them and reading them back with their details.
// The record's row mapper is shared with the batch reads of kept state and
// the patient list.
#include "sqlite_store.hpp"

namespace careloop::store::detail {
namespace {

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

}  // namespace

// The record's clinical fields, from the next eight columns: sex,
// birth_date, height_cm, smoking, parents_with_hypertension,
// family_history_diabetes, pregnant, registered_at_ms.
void clinical_fields_from(Row& row, core::Patient& p) {
  p.sex = row.enumeration(core::parse_sex);
  p.birth_date = date_days(row.view());
  p.height_cm = row.opt_real();
  p.smoking = row.enumeration(core::parse_smoking);
  p.parents_with_hypertension = row.int32();
  p.family_history_diabetes = row.boolean();
  p.pregnant = row.boolean();
  p.registered_at_ms = row.int64();
}

core::Patient patient_from(Row& row) {
  core::Patient p;
  p.id = row.int64();
  p.clinic_id = row.int64();
  p.name = row.text();
  p.phone = row.text();
  clinical_fields_from(row, p);
  p.external_id = row.opt_text().value_or(std::string());
  p.anonymised_at_ms = row.opt_int64();
  return p;
}

core::Patient patient_from(const Statement& s) {
  Row row(s);
  return patient_from(row);
}
const std::string_view patient_columns =
    "SELECT id, clinic_id, name, phone, sex, birth_date, height_cm, smoking, parents_with_hypertension, "
    "family_history_diabetes, pregnant, registered_at_ms, external_id, anonymised_at_ms FROM patients ";

Result<core::Patient> SqliteWriteTxn::patient(std::int64_t patient_id) { return load_patient(db_, patient_id); }

void SqliteBackend::add_patient(core::Patient p, Completion<std::int64_t> done) {
  write<std::int64_t>(
      [p = std::move(p)](Connection& db) -> Result<std::int64_t> {
        if (p.name.empty()) return Error::invalid("a patient needs a name", {{"/name", "required"}});
        if (!exists(db, "SELECT 1 FROM clinics WHERE id = ?", p.clinic_id))
          return Error::not_found("clinic " + std::to_string(p.clinic_id) + " not found");
        if (!p.external_id.empty()) {
          Statement s = db.prepare("SELECT id FROM patients WHERE clinic_id = ? AND external_id = ?");
          s.bind_all(p.clinic_id, p.external_id);
          if (s.step())
            return Error::conflict("the clinic already has patient " + std::to_string(Row(s).int64()) +
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

Result<core::Patient> SqliteBackend::patient(std::int64_t id) {
  return read_result<core::Patient>([&](Connection& db) -> Result<core::Patient> {
    ReadSnapshot snapshot(db);
    return load_patient(db, id);
  });
}

std::vector<core::Patient> SqliteBackend::patients_of_clinic(std::int64_t clinic_id) {
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

std::vector<std::int64_t> SqliteBackend::patient_ids(std::int64_t after_id, int limit) {
  return read([&](Connection& db) {
    std::vector<std::int64_t> out;
    Statement s = db.prepare("SELECT id FROM patients WHERE id > ? ORDER BY id LIMIT ?");
    s.bind_all(after_id, limit);
    while (s.step()) out.push_back(Row(s).int64());
    return out;
  });
}

}  // namespace careloop::store::detail
