#include "migrations.hpp"

#include <array>
#include <string>

namespace careloop::store::detail {
namespace {

// No WITHOUT ROWID tables: SQLite 3.40's integrity_check reports false
// "NULL value" errors on them (Debian 12 ships 3.40.1).
//
// Rows that belong to a patient reference (patient_id, clinic_id) together,
// so a row's clinic_id always is its patient's clinic, and moving a patient
// to another clinic carries the rows along (ON UPDATE CASCADE).

constexpr std::string_view migration_1 = R"sql(
CREATE TABLE regions (
  id        INTEGER PRIMARY KEY,
  parent_id INTEGER REFERENCES regions(id),
  name      TEXT NOT NULL,
  level     TEXT NOT NULL CHECK (level IN ('province', 'city', 'district', 'community')),
  code      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX regions_parent ON regions(parent_id);

CREATE TABLE clinics (
  id        INTEGER PRIMARY KEY,
  region_id INTEGER NOT NULL REFERENCES regions(id),
  name      TEXT NOT NULL,
  timezone  TEXT NOT NULL DEFAULT 'Asia/Shanghai'
) STRICT;
CREATE INDEX clinics_region ON clinics(region_id);

CREATE TABLE patients (
  id                        INTEGER PRIMARY KEY,
  clinic_id                 INTEGER NOT NULL REFERENCES clinics(id),
  name                      TEXT NOT NULL,
  phone                     TEXT NOT NULL DEFAULT '',
  sex                       TEXT NOT NULL CHECK (sex IN ('female', 'male')),
  birth_date                TEXT NOT NULL CHECK (birth_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
  height_cm                 REAL CHECK (height_cm > 0),
  smoking                   TEXT NOT NULL DEFAULT 'never' CHECK (smoking IN ('never', 'former', 'current')),
  parents_with_hypertension INTEGER NOT NULL DEFAULT 0 CHECK (parents_with_hypertension BETWEEN 0 AND 2),
  family_history_diabetes   INTEGER NOT NULL DEFAULT 0 CHECK (family_history_diabetes IN (0, 1)),
  pregnant                  INTEGER NOT NULL DEFAULT 0 CHECK (pregnant IN (0, 1)),
  registered_at_ms          INTEGER NOT NULL,
  external_id               TEXT,
  UNIQUE (id, clinic_id)
) STRICT;
CREATE INDEX patients_clinic ON patients(clinic_id);
-- The clinic's own record number identifies a patient within the clinic (imports are idempotent).
CREATE UNIQUE INDEX patients_external_id ON patients(clinic_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE patient_diagnoses (
  patient_id   INTEGER NOT NULL,
  clinic_id    INTEGER NOT NULL,
  code         TEXT NOT NULL,
  diagnosed_on TEXT NOT NULL,
  PRIMARY KEY (patient_id, code),
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX patient_diagnoses_clinic ON patient_diagnoses(clinic_id, code);

CREATE TABLE patient_comorbidities (
  patient_id INTEGER NOT NULL,
  clinic_id  INTEGER NOT NULL,
  code       TEXT NOT NULL,
  PRIMARY KEY (patient_id, code),
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX patient_comorbidities_clinic ON patient_comorbidities(clinic_id);

CREATE TABLE patient_medications (
  id         INTEGER PRIMARY KEY,
  patient_id INTEGER NOT NULL,
  clinic_id  INTEGER NOT NULL,
  name       TEXT NOT NULL,
  dose       TEXT NOT NULL DEFAULT '',
  since      TEXT NOT NULL,
  until      TEXT,
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX patient_medications_patient ON patient_medications(patient_id);
CREATE INDEX patient_medications_clinic ON patient_medications(clinic_id);

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
  role          TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'authority', 'admin')),
  display_name  TEXT NOT NULL DEFAULT '',
  clinic_id     INTEGER REFERENCES clinics(id),
  region_id     INTEGER REFERENCES regions(id),
  patient_id    INTEGER REFERENCES patients(id),
  active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX users_clinic ON users(clinic_id) WHERE clinic_id IS NOT NULL;
CREATE INDEX users_patient ON users(patient_id) WHERE patient_id IS NOT NULL;

CREATE TABLE credentials (
  user_id       INTEGER PRIMARY KEY REFERENCES users(id),
  password_hash TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
)sql";

constexpr std::string_view migration_2_readings = R"sql(
CREATE TABLE readings (
  id                INTEGER PRIMARY KEY,
  patient_id        INTEGER NOT NULL,
  clinic_id         INTEGER NOT NULL,
  client_id         TEXT NOT NULL CHECK (client_id <> ''),
  kind              TEXT NOT NULL CHECK (kind IN ('blood_pressure', 'glucose', 'weight', 'heart_rate', 'hba1c', 'medication')),
  taken_at_ms       INTEGER NOT NULL,
  offset_min        INTEGER NOT NULL DEFAULT 0 CHECK (offset_min BETWEEN -1080 AND 1080),
  received_at_ms    INTEGER NOT NULL,
  source            TEXT NOT NULL DEFAULT '',
  note              TEXT NOT NULL DEFAULT '',
  systolic_mmhg     REAL,
  diastolic_mmhg    REAL,
  pulse_bpm         REAL,
  glucose_mmol_l    REAL,
  glucose_context   TEXT CHECK (glucose_context IN ('fasting', 'before_meal', 'after_meal', 'bedtime', 'random')),
  weight_kg         REAL,
  hba1c_percent     REAL,
  medication_name   TEXT NOT NULL DEFAULT '',
  medication_status TEXT CHECK (medication_status IN ('taken', 'missed')),
  value_as_sent     REAL,
  unit_as_sent      TEXT NOT NULL DEFAULT '',
  change_seq        INTEGER,
  UNIQUE (patient_id, client_id),
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
-- The same reading sent again under another client id (content duplicate).
CREATE INDEX readings_content ON readings(patient_id, kind, taken_at_ms);
CREATE INDEX readings_patient_time ON readings(patient_id, taken_at_ms);
CREATE INDEX readings_clinic_time ON readings(clinic_id, taken_at_ms);
)sql";

constexpr std::string_view migration_2_rest = R"sql(
-- Every row a client may pull gets the next seq; sync cursors are seqs, never times.
CREATE TABLE changes (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  patient_id INTEGER NOT NULL,
  clinic_id  INTEGER NOT NULL,
  entity     TEXT NOT NULL,
  entity_id  INTEGER NOT NULL,
  at_ms      INTEGER NOT NULL,
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX changes_patient ON changes(patient_id, seq);
CREATE INDEX changes_clinic ON changes(clinic_id, seq);

CREATE TABLE audit_log (
  id            INTEGER PRIMARY KEY,
  at_ms         INTEGER NOT NULL,
  actor_user_id INTEGER NOT NULL,
  action        TEXT NOT NULL,
  patient_id    INTEGER,
  clinic_id     INTEGER,
  detail        TEXT NOT NULL DEFAULT '',
  remote_addr   TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_log_patient ON audit_log(patient_id, id) WHERE patient_id IS NOT NULL;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Tokens and activation codes are stored only as their SHA-256.
CREATE TABLE sessions (
  token_sha256  BLOB PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES users(id),
  created_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  revoked_at_ms INTEGER
) STRICT;
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE activation_codes (
  code_sha256   BLOB PRIMARY KEY,
  patient_id    INTEGER NOT NULL,
  clinic_id     INTEGER NOT NULL,
  created_by    INTEGER NOT NULL REFERENCES users(id),
  created_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  used_at_ms    INTEGER,
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX activation_codes_patient ON activation_codes(patient_id);
)sql";

constexpr std::string_view migration_3 = R"sql(
CREATE TABLE alerts (
  id                 INTEGER PRIMARY KEY,
  patient_id         INTEGER NOT NULL,
  clinic_id          INTEGER NOT NULL,
  signal             TEXT NOT NULL,
  tier               TEXT NOT NULL,
  status             TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'snoozed', 'resolved')),
  opened_at_ms       INTEGER NOT NULL,
  updated_at_ms      INTEGER NOT NULL,
  count              INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
  latest_value_json  TEXT NOT NULL DEFAULT '{}',
  rule_id            TEXT NOT NULL,
  reason             TEXT NOT NULL DEFAULT '',
  acknowledged_by    INTEGER REFERENCES users(id),
  acknowledged_at_ms INTEGER,
  action             TEXT,
  note               TEXT,
  snoozed_until_ms   INTEGER,
  resolved_at_ms     INTEGER,
  escalated_at_ms    INTEGER,
  change_seq         INTEGER,
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX alerts_clinic_status ON alerts(clinic_id, status, opened_at_ms);
CREATE INDEX alerts_patient ON alerts(patient_id, signal, status);

CREATE TABLE care_plans (
  id               INTEGER PRIMARY KEY,
  patient_id       INTEGER NOT NULL,
  clinic_id        INTEGER NOT NULL,
  version          INTEGER NOT NULL CHECK (version >= 1),
  status           TEXT NOT NULL CHECK (status IN ('proposed', 'approved', 'rejected', 'superseded')),
  protocol_id      TEXT NOT NULL,
  protocol_version TEXT NOT NULL,
  plan_json        TEXT NOT NULL,
  rationale_json   TEXT NOT NULL DEFAULT '[]',
  created_at_ms    INTEGER NOT NULL,
  decided_by       INTEGER REFERENCES users(id),
  decided_at_ms    INTEGER,
  decision_note    TEXT,
  change_seq       INTEGER,
  UNIQUE (patient_id, version),
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX care_plans_clinic_status ON care_plans(clinic_id, status);

CREATE TABLE risk_scores (
  id             INTEGER PRIMARY KEY,
  patient_id     INTEGER NOT NULL,
  clinic_id      INTEGER NOT NULL,
  model_id       TEXT NOT NULL,
  model_version  TEXT NOT NULL,
  probability    REAL NOT NULL CHECK (probability BETWEEN 0 AND 1),
  band           TEXT NOT NULL,
  factors_json   TEXT NOT NULL DEFAULT '[]',
  computed_at_ms INTEGER NOT NULL,
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX risk_scores_patient ON risk_scores(patient_id, model_id, computed_at_ms);
CREATE INDEX risk_scores_clinic ON risk_scores(clinic_id, model_id);
)sql";

// Messages from the clinic to a patient (they reach the phone through the
// sync feed). Activation codes gain the user they activated.
constexpr std::string_view migration_4 = R"sql(
CREATE TABLE messages (
  id            INTEGER PRIMARY KEY,
  patient_id    INTEGER NOT NULL,
  clinic_id     INTEGER NOT NULL,
  from_user_id  INTEGER NOT NULL REFERENCES users(id),
  text          TEXT NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
  created_at_ms INTEGER NOT NULL,
  change_seq    INTEGER,
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX messages_patient ON messages(patient_id, id);
ALTER TABLE activation_codes ADD COLUMN used_by INTEGER REFERENCES users(id);
)sql";

// The writer's per-patient state (core::PatientState and the alert book, as
// JSON) and the clinic's durable event sequence (SSE Last-Event-ID). An
// event keeps the clinic it was raised in: the history of a clinic's stream
// does not move with a patient, so its keys are two plain foreign keys.
constexpr std::string_view migration_5 = R"sql(
CREATE TABLE patient_state (
  patient_id    INTEGER PRIMARY KEY,
  clinic_id     INTEGER NOT NULL,
  state_json    TEXT,
  alerts_json   TEXT NOT NULL DEFAULT '',
  updated_at_ms INTEGER NOT NULL,
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX patient_state_clinic ON patient_state(clinic_id);

ALTER TABLE alerts ADD COLUMN protocol_id TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN protocol_version TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN reason_en TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN advice_zh TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN advice_en TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN resolved_by INTEGER REFERENCES users(id);
CREATE INDEX alerts_clinic_id ON alerts(clinic_id, status, id);
-- One alert per patient per signal while it is not resolved (CLINICAL §3).
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts(patient_id, signal) WHERE status <> 'resolved';

CREATE TABLE clinic_events (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  clinic_id    INTEGER NOT NULL REFERENCES clinics(id),
  patient_id   INTEGER NOT NULL REFERENCES patients(id),
  kind         TEXT NOT NULL,
  alert_id     INTEGER REFERENCES alerts(id),
  payload_json TEXT NOT NULL DEFAULT '{}',
  at_ms        INTEGER NOT NULL
) STRICT;
CREATE INDEX clinic_events_clinic ON clinic_events(clinic_id, seq);
CREATE INDEX clinic_events_patient ON clinic_events(patient_id);
)sql";

// The kept state is saved lazily (care/README.md): state_seq is the highest
// readings.change_seq folded into state_json, and loading applies the
// patient's readings after it, found through readings_patient_seq. A state
// saved before this migration has no state_seq and is rebuilt once.
constexpr std::string_view migration_6 = R"sql(
ALTER TABLE patient_state ADD COLUMN state_seq INTEGER;
CREATE INDEX readings_patient_seq ON readings(patient_id, change_seq);
)sql";

// Migration 7 rebuilds readings with the same columns, but its value lists
// as OR chains: SQLite 3.40 evaluates `CHECK (kind IN (...))` by building a
// temporary b-tree of the list for every row inserted, which was most of an
// insert's cost (bench/ingest: 110,000 → 41,000 instructions per row).
constexpr std::string_view readings_v7_body = R"sql( (
  id                INTEGER PRIMARY KEY,
  patient_id        INTEGER NOT NULL,
  clinic_id         INTEGER NOT NULL,
  client_id         TEXT NOT NULL CHECK (client_id <> ''),
  kind              TEXT NOT NULL CHECK (kind = 'blood_pressure' OR kind = 'glucose' OR kind = 'weight' OR
                                         kind = 'heart_rate' OR kind = 'hba1c' OR kind = 'medication'),
  taken_at_ms       INTEGER NOT NULL,
  offset_min        INTEGER NOT NULL DEFAULT 0 CHECK (offset_min BETWEEN -1080 AND 1080),
  received_at_ms    INTEGER NOT NULL,
  source            TEXT NOT NULL DEFAULT '',
  note              TEXT NOT NULL DEFAULT '',
  systolic_mmhg     REAL,
  diastolic_mmhg    REAL,
  pulse_bpm         REAL,
  glucose_mmol_l    REAL,
  glucose_context   TEXT CHECK (glucose_context = 'fasting' OR glucose_context = 'before_meal' OR
                                glucose_context = 'after_meal' OR glucose_context = 'bedtime' OR
                                glucose_context = 'random'),
  weight_kg         REAL,
  hba1c_percent     REAL,
  medication_name   TEXT NOT NULL DEFAULT '',
  medication_status TEXT CHECK (medication_status = 'taken' OR medication_status = 'missed'),
  value_as_sent     REAL,
  unit_as_sent      TEXT NOT NULL DEFAULT '',
  change_seq        INTEGER,
  UNIQUE (patient_id, client_id),
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
)sql";

constexpr std::string_view readings_v7_indexes = R"sql(
-- The same reading sent again under another client id (content duplicate).
CREATE INDEX readings_content ON readings(patient_id, kind, taken_at_ms);
CREATE INDEX readings_patient_time ON readings(patient_id, taken_at_ms);
CREATE INDEX readings_clinic_time ON readings(clinic_id, taken_at_ms);
CREATE INDEX readings_patient_seq ON readings(patient_id, change_seq);
)sql";

const std::string& migration_7() {
  static const std::string sql = "CREATE TABLE readings_v7" + std::string(readings_v7_body) +
                                 "INSERT INTO readings_v7 SELECT * FROM readings;\n"
                                 "DROP TABLE readings;\n"
                                 "ALTER TABLE readings_v7 RENAME TO readings;\n" +
                                 std::string(readings_v7_indexes);
  return sql;
}

// Care plan versions (care/README.md): the protocols that made a version,
// the doctor's edit as an RFC 6902 patch from the proposal it came from, and
// at most one proposed and one approved version per patient. A clinic's
// choice of protocols: no rows = the deployment's whole set.
constexpr std::string_view migration_care_plans = R"sql(
ALTER TABLE care_plans ADD COLUMN protocols_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE care_plans ADD COLUMN diff_json TEXT;
ALTER TABLE care_plans ADD COLUMN edited_from INTEGER;
CREATE UNIQUE INDEX care_plans_one_proposed ON care_plans(patient_id) WHERE status = 'proposed';
CREATE UNIQUE INDEX care_plans_one_approved ON care_plans(patient_id) WHERE status = 'approved';

CREATE TABLE clinic_protocols (
  clinic_id   INTEGER NOT NULL REFERENCES clinics(id),
  protocol_id TEXT NOT NULL CHECK (protocol_id <> ''),
  PRIMARY KEY (clinic_id, protocol_id)
) STRICT;
)sql";

// Per-patient month rows that reports read instead of the readings (DESIGN
// §7); reports/ computes them in the writer's transaction. A missing row is
// a month without any reading in the 12 months up to it.
constexpr std::string_view migration_patient_months = R"sql(
CREATE TABLE patient_months (
  patient_id          INTEGER NOT NULL,
  clinic_id           INTEGER NOT NULL,
  month               INTEGER NOT NULL,
  last_contact_ms     INTEGER NOT NULL,
  bp_reading_id       INTEGER,
  bp_taken_ms         INTEGER NOT NULL DEFAULT 0,
  systolic_mmhg       REAL,
  diastolic_mmhg      REAL,
  glycemic_reading_id INTEGER,
  glycemic_taken_ms   INTEGER NOT NULL DEFAULT 0,
  glycemic_kind       TEXT NOT NULL DEFAULT '' CHECK (glycemic_kind = '' OR glycemic_kind = 'fasting_glucose' OR
                                                      glycemic_kind = 'hba1c'),
  glycemic_value      REAL,
  bp_status           TEXT NOT NULL CHECK (bp_status = 'controlled' OR bp_status = 'uncontrolled' OR
                                           bp_status = 'no_bp' OR bp_status = 'missed_visit'),
  glycemic_status     TEXT NOT NULL CHECK (glycemic_status = 'controlled' OR glycemic_status = 'uncontrolled' OR
                                           glycemic_status = 'no_glycemic' OR glycemic_status = 'missed_visit'),
  PRIMARY KEY (patient_id, month),
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX patient_months_clinic ON patient_months(clinic_id, month);
)sql";

// The alert schedule (care/) finds the alerts whose timers may have run out
// without scanning resolved ones: open critical alerts not yet escalated, by
// when they opened, and snoozes by when they end.
constexpr std::string_view migration_alert_timers = R"sql(
CREATE INDEX alerts_escalation_due ON alerts(opened_at_ms) WHERE status = 'open' AND tier = 'critical' AND escalated_at_ms IS NULL;
CREATE INDEX alerts_snooze_due ON alerts(snoozed_until_ms) WHERE status = 'snoozed';
)sql";

// A clinic's webhook and its delivery cursor (webhooks/README.md). The
// clinic's event sequence (clinic_events) is the outbox: delivered_seq is the
// highest seq the receiver acknowledged with a 2xx, so delivery resumes after
// it across restarts. The secret is kept as given: signing needs it. A new
// generation per setting keeps a delivery begun under an older setting from
// writing its failure onto the new one.
constexpr std::string_view migration_webhooks = R"sql(
CREATE TABLE clinic_webhooks (
  clinic_id           INTEGER PRIMARY KEY REFERENCES clinics(id),
  url                 TEXT NOT NULL CHECK (url LIKE 'http://%' OR url LIKE 'https://%'),
  secret              TEXT NOT NULL CHECK (length(secret) >= 16),
  enabled             INTEGER NOT NULL DEFAULT 1 CHECK (enabled = 0 OR enabled = 1),
  generation          INTEGER NOT NULL DEFAULT 1,
  delivered_seq       INTEGER NOT NULL DEFAULT 0,
  attempts            INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms     INTEGER,
  last_error          TEXT NOT NULL DEFAULT '',
  last_error_at_ms    INTEGER,
  last_delivered_at_ms INTEGER,
  created_at_ms       INTEGER NOT NULL,
  updated_at_ms       INTEGER NOT NULL
) STRICT;
)sql";

// The kept state in core::PatientState's binary form (patient_state_binary.cpp):
// written by the hook instead of state_json, read by batch work (scoring,
// reviews, plans) with one query a page. Rows saved before keep their JSON
// until the hook next saves them; readers take the blob first.
constexpr std::string_view migration_state_bin = R"sql(
ALTER TABLE patient_state ADD COLUMN state_bin BLOB;
)sql";

// The rollups read a month's rows by clinic (reports/, rollup_counts): the
// index carries the columns they count, so the read never visits the table.
constexpr std::string_view migration_patient_months_covering = R"sql(
DROP INDEX patient_months_clinic;
CREATE INDEX patient_months_clinic ON patient_months(clinic_id, month, patient_id, bp_status, glycemic_status);
)sql";

const std::string& migration_2() {
  static const std::string sql = std::string(migration_2_readings) + std::string(migration_2_rest);
  return sql;
}

}  // namespace

// Follow-up visits (CLINICAL §2 follow-up; §4 "a visit or reading"): what
// clears a plan's follow-up due date and counts as contact in the reports.
constexpr std::string_view migration_visits = R"sql(
CREATE TABLE visits (
  id             INTEGER PRIMARY KEY,
  patient_id     INTEGER NOT NULL,
  clinic_id      INTEGER NOT NULL,
  client_id      TEXT NOT NULL CHECK (length(client_id) BETWEEN 1 AND 64),
  visited_at_ms  INTEGER NOT NULL,
  offset_min     INTEGER NOT NULL CHECK (offset_min BETWEEN -900 AND 900),
  kind           TEXT NOT NULL CHECK (kind = 'clinic' OR kind = 'home' OR kind = 'phone'),
  classification TEXT NOT NULL CHECK (classification = 'controlled' OR classification = 'uncontrolled' OR
                                      classification = 'adverse_reaction' OR classification = 'complication'),
  by_user_id     INTEGER NOT NULL REFERENCES users(id),
  note           TEXT NOT NULL DEFAULT '',
  created_at_ms  INTEGER NOT NULL,
  UNIQUE (patient_id, client_id),
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX visits_patient_time ON visits(patient_id, visited_at_ms);
)sql";

// State digests for batch risk scoring (store/hooks.hpp DigestRow): one small
// blob a patient, read in one pass by score --all instead of the full state.
constexpr std::string_view migration_patient_digests = R"sql(
CREATE TABLE patient_digests (
  patient_id  INTEGER PRIMARY KEY REFERENCES patients(id),
  digest_seq  INTEGER NOT NULL,
  as_of_ms    INTEGER NOT NULL,
  digest      BLOB NOT NULL
) STRICT;
)sql";

// Clinic measurements (the annual health check: waist, lipids, lab fasting
// glucose, ...; core/clinic_measurement.hpp names the kinds and units): one
// row per value, several values recorded together share a client_id. The
// kind is checked by the application (core's list), not here, so adding a
// kind needs no migration.
constexpr std::string_view migration_clinic_measurements = R"sql(
CREATE TABLE clinic_measurements (
  id             INTEGER PRIMARY KEY,
  patient_id     INTEGER NOT NULL,
  clinic_id      INTEGER NOT NULL,
  client_id      TEXT NOT NULL CHECK (length(client_id) BETWEEN 1 AND 64),
  measured_at_ms INTEGER NOT NULL,
  offset_min     INTEGER NOT NULL CHECK (offset_min BETWEEN -900 AND 900),
  kind           TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
  value          REAL NOT NULL,
  by_user_id     INTEGER NOT NULL REFERENCES users(id),
  visit_id       INTEGER REFERENCES visits(id),
  created_at_ms  INTEGER NOT NULL,
  UNIQUE (patient_id, client_id, kind),
  FOREIGN KEY (patient_id, clinic_id) REFERENCES patients(id, clinic_id) ON UPDATE CASCADE
) STRICT;
CREATE INDEX clinic_measurements_latest ON clinic_measurements(patient_id, kind, measured_at_ms);
CREATE INDEX clinic_measurements_visit ON clinic_measurements(visit_id) WHERE visit_id IS NOT NULL;
)sql";

// Scoring's read of the newest values (Store::latest_clinic_measurements)
// from the index alone: the value joins the key.
constexpr std::string_view migration_clinic_measurements_covering = R"sql(
DROP INDEX clinic_measurements_latest;
CREATE INDEX clinic_measurements_latest ON clinic_measurements(patient_id, kind, measured_at_ms, value);
)sql";

// When a session was last used: staff sessions end after an idle time
// (mobile-api's Config::staff_idle_ms), counted from here.
constexpr std::string_view migration_session_activity = R"sql(
ALTER TABLE sessions ADD COLUMN last_seen_ms INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_ms = created_at_ms;
)sql";

// Privacy (issue 15, items 16 and 17). A patient's consent decisions, kept
// for ever (PIPL Art. 29 separate consent; Art. 15 withdrawal does not undo
// what was done before it): the newest decision of a purpose wins. A record
// anonymised by an admin keeps its rows without identity (PIPL Art. 47).
constexpr std::string_view migration_privacy = R"sql(
CREATE TABLE consents (
  id          INTEGER PRIMARY KEY,
  patient_id  INTEGER NOT NULL REFERENCES patients(id),
  user_id     INTEGER NOT NULL REFERENCES users(id),
  purpose     TEXT NOT NULL CHECK (length(purpose) BETWEEN 1 AND 64),
  version     TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 64),
  text_sha256 TEXT NOT NULL CHECK (length(text_sha256) = 64),
  decision    TEXT NOT NULL CHECK (decision = 'granted' OR decision = 'withdrawn'),
  at_ms       INTEGER NOT NULL,
  remote_addr TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX consents_patient ON consents(patient_id, purpose, id);
CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
BEGIN SELECT RAISE(ABORT, 'consents are append-only'); END;
ALTER TABLE patients ADD COLUMN anonymised_at_ms INTEGER;
)sql";

std::span<const std::string_view> migrations() {
  static const std::array<std::string_view, 19> all{migration_1, migration_2(), migration_3, migration_4, migration_5,
                                                     migration_6, migration_7(), migration_care_plans,
                                                     migration_patient_months, migration_alert_timers, migration_webhooks,
                                                     migration_state_bin, migration_visits,
                                                     migration_patient_months_covering, migration_patient_digests,
                                                     migration_clinic_measurements, migration_clinic_measurements_covering,
                                                     migration_session_activity, migration_privacy};
  return all;
}

std::string_view readings_ddl() {
  static const std::string ddl = "CREATE TABLE readings" + std::string(readings_v7_body) + std::string(readings_v7_indexes);
  return ddl;
}

int user_version(Connection& db) { return static_cast<int>(db.query_int64("PRAGMA user_version")); }

void migrate(Connection& db, int target) {
  const auto all = migrations();
  const int latest = static_cast<int>(all.size());
  if (target <= 0 || target > latest) target = latest;
  const int current = user_version(db);
  if (current > latest) {
    throw StoreError(core::Errc::invalid,
                     "the database has schema version " + std::to_string(current) +
                         ", newer than this build of CareLoop understands (" + std::to_string(latest) +
                         "); run a newer CareLoop");
  }
  if (current >= target) return;

  // Foreign keys cannot be switched inside a transaction, and a migration
  // that rebuilds a table must not cascade; foreign_key_check below holds
  // each migration to the same rules instead.
  db.exec("PRAGMA foreign_keys = OFF");
  try {
    for (int v = current + 1; v <= target; ++v) {
      db.exec("BEGIN IMMEDIATE");
      try {
        const std::string sql(all[static_cast<std::size_t>(v - 1)]);
        db.exec(sql.c_str());
        if (db.query_int64("SELECT count(*) FROM pragma_foreign_key_check") != 0)
          throw StoreError(core::Errc::internal, "migration " + std::to_string(v) + " broke a foreign key");
        db.exec(("PRAGMA user_version = " + std::to_string(v)).c_str());
        db.exec("COMMIT");
      } catch (...) {
        if (db.in_transaction()) db.exec("ROLLBACK");
        throw;
      }
    }
  } catch (...) {
    db.exec("PRAGMA foreign_keys = ON");
    throw;
  }
  db.exec("PRAGMA foreign_keys = ON");
}

}  // namespace careloop::store::detail
