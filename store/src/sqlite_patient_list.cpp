// The clinic's patient list: each patient with its newest reading, reading
// means, open alerts and newest risk scores, read in a few grouped queries
// per clinic, and the key that says when the list may have changed.
#include "sqlite_store.hpp"

namespace careloop::store::detail {

std::vector<PatientListRow> SqliteBackend::patient_list(const PatientListScope& scope) {
  return read([&](Connection& db) {
    ReadSnapshot snapshot(db);
    std::vector<std::int64_t> clinic_ids;
    if (scope.clinic_id) {
      clinic_ids.push_back(*scope.clinic_id);
    } else {
      Statement s = db.prepare("SELECT id FROM clinics ORDER BY id");
      while (s.step()) clinic_ids.push_back(Row(s).int64());
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
          Row r(s);
          PatientListRow row;
          row.patient = patient_from(r);
          row.last_reading_ms = r.opt_int64();
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
        while (s.step()) {
          Row r(s);
          if (auto* p = target(r.int64())) p->patient.diagnoses.push_back({r.text(), date_days(r.view())});
        }
        Statement c = db.prepare("SELECT patient_id, code FROM patient_comorbidities WHERE clinic_id = ? ORDER BY patient_id, code");
        c.bind(1, clinic_id);
        while (c.step()) {
          Row r(c);
          if (auto* p = target(r.int64())) p->patient.comorbidities.push_back(r.text());
        }
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
          Row r(s);
          auto* p = target(r.int64());
          if (!p) continue;
          p->bp_count = r.int32();
          p->systolic_sum = r.real();
          p->diastolic_sum = r.real();
          p->fasting_count = r.int32();
          p->fasting_sum = r.real();
          p->nonfasting_count = r.int32();
          p->nonfasting_sum = r.real();
        }
      }
      {
        Statement s = db.prepare(
            "SELECT patient_id, id, signal, tier, status, opened_at_ms FROM alerts "
            "WHERE clinic_id = ? AND status <> 'resolved' ORDER BY patient_id, id");
        s.bind(1, clinic_id);
        while (s.step()) {
          Row r(s);
          if (auto* p = target(r.int64())) p->alerts.push_back({r.int64(), r.text(), r.text(), r.text(), r.int64()});
        }
      }
      {
        // Each model's newest score per patient: the largest (computed_at_ms, id) of the pair.
        Statement s = db.prepare(
            "SELECT r.patient_id, r.model_id, r.band, r.probability FROM risk_scores r "
            "WHERE r.clinic_id = ?1 AND r.id = (SELECT x.id FROM risk_scores x WHERE x.patient_id = r.patient_id "
            "AND x.model_id = r.model_id ORDER BY x.computed_at_ms DESC, x.id DESC LIMIT 1)");
        s.bind(1, clinic_id);
        while (s.step()) {
          Row r(s);
          if (auto* p = target(r.int64())) p->risks.push_back({r.text(), r.text(), r.real()});
        }
      }
    }
    return out;
  });
}

std::string SqliteBackend::patient_list_version(std::optional<std::int64_t> clinic_id) {
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
    if (s.step()) {
      Row r(s);
      for (int i = 0; i < 4; ++i) out += std::to_string(r.opt_int64().value_or(0)) + ".";
    }
    return out;
  });
}

}  // namespace careloop::store::detail
