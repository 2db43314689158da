// Readings and the patient's sync feed (tables readings, changes): inserting
// a batch with its duplicates found and the readings hook run in the same
// job, reading them back, and the change feed in seq order.
#include <limits>

#include "sqlite_store.hpp"

namespace careloop::store::detail {
namespace {

core::Reading reading_from(const Statement& s) {
  Row row(s);
  core::Reading r;
  r.id = row.int64();
  r.patient_id = row.int64();
  r.clinic_id = row.int64();
  r.client_id = row.text();
  r.kind = row.enumeration(core::parse_reading_kind);
  r.taken_at.utc_ms = row.int64();
  r.taken_at.offset_min = row.int32();
  r.received_at_ms = row.int64();
  r.source = row.text();
  r.note = row.text();
  r.systolic_mmhg = row.opt_real();
  r.diastolic_mmhg = row.opt_real();
  r.pulse_bpm = row.opt_real();
  r.glucose_mmol_l = row.opt_real();
  r.glucose_context = row.opt_enumeration(core::parse_glucose_context);
  r.weight_kg = row.opt_real();
  r.hba1c_percent = row.opt_real();
  r.medication_name = row.text();
  r.medication_status = row.opt_enumeration(core::parse_medication_status);
  r.value_as_sent = row.opt_real();
  r.unit_as_sent = row.text();
  r.change_seq = row.opt_int64().value_or(0);
  return r;
}
constexpr std::string_view reading_columns =
    "SELECT id, patient_id, clinic_id, client_id, kind, taken_at_ms, offset_min, received_at_ms, source, "
    "note, systolic_mmhg, diastolic_mmhg, pulse_bpm, glucose_mmol_l, glucose_context, weight_kg, "
    "hba1c_percent, medication_name, medication_status, value_as_sent, unit_as_sent, change_seq FROM readings ";

// The outcome of one reading against what is already stored.
std::optional<InsertOutcome> find_duplicate(Connection& db, const core::Reading& r) {
  {
    Statement s = db.prepare("SELECT id, change_seq FROM readings WHERE patient_id = ? AND client_id = ?");
    s.bind_all(r.patient_id, r.client_id);
    if (s.step()) {
      Row row(s);
      return InsertOutcome{InsertStatus::duplicate, row.int64(), row.opt_int64().value_or(0)};
    }
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
  if (s.step()) {
    Row row(s);
    return InsertOutcome{InsertStatus::duplicate, row.int64(), row.opt_int64().value_or(0)};
  }
  return std::nullopt;
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

}  // namespace

// Appends to the sync feed; returns the new seq.
std::int64_t record_change(Connection& db, std::int64_t patient_id, std::int64_t clinic_id, std::string_view entity,
                           std::int64_t entity_id, std::int64_t at_ms) {
  db.prepare("INSERT INTO changes (patient_id, clinic_id, entity, entity_id, at_ms) VALUES (?, ?, ?, ?, ?)")
      .bind_all(patient_id, clinic_id, entity, entity_id, at_ms)
      .run();
  return db.last_insert_rowid();
}

std::vector<core::Reading> SqliteWriteTxn::readings_of(std::int64_t patient_id) {
  std::vector<core::Reading> out;
  Statement s = db_.prepare(std::string(reading_columns) + "WHERE patient_id = ? ORDER BY taken_at_ms, id");
  s.bind(1, patient_id);
  while (s.step()) out.push_back(reading_from(s));
  return out;
}

void SqliteWriteTxn::scan_readings(std::int64_t from_patient_id, std::int64_t to_patient_id,
                                   const std::function<void(const core::Reading&)>& f) {
  Statement s = db_.prepare(
      "SELECT id, patient_id, clinic_id, kind, taken_at_ms, offset_min, systolic_mmhg, diastolic_mmhg, "
      "glucose_mmol_l, glucose_context, hba1c_percent FROM readings WHERE patient_id BETWEEN ? AND ? "
      "ORDER BY patient_id, taken_at_ms, id");
  s.bind(1, from_patient_id).bind(2, to_patient_id);
  core::Reading r;
  while (s.step()) {
    Row row(s);
    r.id = row.int64();
    r.patient_id = row.int64();
    r.clinic_id = row.int64();
    r.kind = row.enumeration(core::parse_reading_kind);
    r.taken_at.utc_ms = row.int64();
    r.taken_at.offset_min = row.int32();
    r.systolic_mmhg = row.opt_real();
    r.diastolic_mmhg = row.opt_real();
    r.glucose_mmol_l = row.opt_real();
    r.glucose_context = row.opt_enumeration(core::parse_glucose_context);
    r.hba1c_percent = row.opt_real();
    f(r);
  }
}

std::vector<core::Reading> SqliteWriteTxn::readings_after(std::int64_t patient_id, std::int64_t after_seq) {
  std::vector<core::Reading> out;
  Statement s = db_.prepare(std::string(reading_columns) +
                            "WHERE patient_id = ? AND change_seq > ? ORDER BY change_seq");
  s.bind(1, patient_id).bind(2, after_seq);
  while (s.step()) out.push_back(reading_from(s));
  return out;
}

std::int64_t SqliteWriteTxn::record_change(std::int64_t patient_id, std::int64_t clinic_id, std::string_view entity,
                                           std::int64_t entity_id, std::int64_t at_ms) {
  const std::int64_t seq = detail::record_change(db_, patient_id, clinic_id, entity, entity_id, at_ms);
  if (entity == "alert") db_.prepare("UPDATE alerts SET change_seq = ? WHERE id = ?").bind_all(seq, entity_id).run();
  if (entity == "care_plan")
    db_.prepare("UPDATE care_plans SET change_seq = ? WHERE id = ?").bind_all(seq, entity_id).run();
  return seq;
}

void SqliteBackend::insert_readings(std::int64_t patient_id, std::vector<core::Reading> readings,
                                    Completion<std::vector<InsertOutcome>> done) {
  auto after = std::make_shared<JobCallbacks>();
  write<std::vector<InsertOutcome>>(
      [patient_id, readings = std::move(readings), hook = hook_, after](Connection& db) mutable
      -> Result<std::vector<InsertOutcome>> {
        std::int64_t clinic_id = 0;
        {
          Statement s = db.prepare("SELECT clinic_id, anonymised_at_ms FROM patients WHERE id = ?");
          s.bind(1, patient_id);
          if (!s.step()) return Error::not_found("patient " + std::to_string(patient_id) + " not found");
          Row r(s);
          clinic_id = r.int64();
          if (r.opt_int64()) return anonymised_error(patient_id);
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

std::vector<core::Reading> SqliteBackend::readings(const ReadingQuery& q) {
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
      after_taken = Row(s).int64();
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

Result<core::Reading> SqliteBackend::reading(std::int64_t id) {
  return read_result<core::Reading>([&](Connection& db) -> Result<core::Reading> {
    Statement s = db.prepare(std::string(reading_columns) + "WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return Error::not_found("reading " + std::to_string(id) + " not found");
    return reading_from(s);
  });
}

std::vector<Change> SqliteBackend::changes(std::int64_t patient_id, std::int64_t after_seq, int limit) {
  return read([&](Connection& db) {
    std::vector<Change> out;
    if (limit <= 0) return out;
    ReadSnapshot snapshot(db);
    {
      Statement s = db.prepare(
          "SELECT seq, entity, entity_id, at_ms FROM changes WHERE patient_id = ? AND seq > ? ORDER BY seq LIMIT ?");
      s.bind_all(patient_id, after_seq, limit);
      while (s.step()) {
        Row r(s);
        Change c;
        c.seq = r.int64();
        c.entity = r.text();
        c.entity_id = r.int64();
        c.at_ms = r.int64();
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
        if (s.step()) {
          Row r(s);
          c.message = Message{r.int64(), r.int64(), r.int64(), r.int64(), r.text(), r.text(), r.int64(),
                              r.opt_int64().value_or(0)};
        }
      } else if (c.entity == "care_plan") {
        // Only what a doctor approved ever reaches the patient.
        Statement s = db.prepare(
            "SELECT id, version, status, plan_json, decided_at_ms FROM care_plans WHERE id = ? "
            "AND status IN ('approved', 'superseded')");
        s.bind(1, c.entity_id);
        if (s.step()) {
          Row r(s);
          c.care_plan = CarePlanRecord{r.int64(), r.int32(), r.text(), r.text(), r.opt_int64()};
        }
      } else if (c.entity == "alert") {
        Statement s = db.prepare(
            "SELECT id, signal, tier, status, reason, opened_at_ms, advice_zh, advice_en FROM alerts WHERE id = ?");
        s.bind(1, c.entity_id);
        if (s.step()) {
          Row r(s);
          c.alert = AlertRecord{r.int64(), r.text(), r.text(), r.text(), r.text(), r.int64(), r.text(), r.text()};
        }
      }
    }
    // A change whose row the patient may not see (a proposed plan) keeps
    // its seq in the cursor but is not sent.
    return out;
  });
}

std::int64_t SqliteBackend::count_readings(std::optional<std::int64_t> patient_id) {
  return read([&](Connection& db) {
    if (!patient_id) return db.query_int64("SELECT count(*) FROM readings");
    Statement s = db.prepare("SELECT count(*) FROM readings WHERE patient_id = ?");
    s.bind(1, *patient_id);
    return s.step() ? Row(s).int64() : 0;
  });
}

std::vector<core::Reading> SqliteBackend::readings_after(std::int64_t patient_id, std::int64_t after_seq) {
  return read([&](Connection& db) {
    std::vector<core::Reading> out;
    Statement s = db.prepare(std::string(reading_columns) + "WHERE patient_id = ? AND change_seq > ? ORDER BY change_seq");
    s.bind(1, patient_id).bind(2, after_seq);
    while (s.step()) out.push_back(reading_from(s));
    return out;
  });
}

}  // namespace careloop::store::detail
