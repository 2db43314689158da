// Risk scores (table risk_scores): stored with the patient's clinic, and
// each model's newest score of a patient.
#include "sqlite_store.hpp"

namespace careloop::store::detail {
namespace {

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
    clinic_id = Row(s).int64();
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

}  // namespace

core::Status SqliteWriteTxn::insert_risk_score(const StoredRiskScore& r) {
  return detail::insert_risk_score(db_, r, 0);
}

void SqliteBackend::add_risk_scores(std::vector<StoredRiskScore> scores, Completion<core::Unit> done) {
  write<core::Unit>(
      [scores = std::move(scores)](Connection& db) -> Result<core::Unit> {
        for (std::size_t i = 0; i < scores.size(); ++i)
          if (auto st = insert_risk_score(db, scores[i], i); !st) return st.error();
        return core::Unit{};
      },
      std::move(done));
}

std::vector<StoredRiskScore> SqliteBackend::latest_risk_scores(std::int64_t patient_id) {
  return read([&](Connection& db) {
    std::vector<StoredRiskScore> out;
    // The (patient_id, model_id, computed_at_ms) index finds each model's newest row.
    Statement s = db.prepare(
        "SELECT r.patient_id, r.model_id, r.model_version, r.probability, r.band, r.factors_json, r.computed_at_ms "
        "FROM risk_scores r WHERE r.patient_id = ?1 AND r.id = (SELECT id FROM risk_scores x WHERE "
        "x.patient_id = ?1 AND x.model_id = r.model_id ORDER BY x.computed_at_ms DESC, x.id DESC LIMIT 1) "
        "ORDER BY r.model_id");
    s.bind(1, patient_id);
    while (s.step()) {
      Row r(s);
      out.push_back({r.int64(), r.text(), r.text(), r.real(), r.text(), r.text(), r.int64()});
    }
    return out;
  });
}

}  // namespace careloop::store::detail
