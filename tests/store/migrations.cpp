// store/src/migrations.cpp: from empty, from every earlier version, and a
// database from the future.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "fixture.hpp"
#include "migrations.hpp"
#include "sqlite_handle.hpp"

using namespace careloop;
using namespace careloop::store;
using namespace careloop::store::testing;
using detail::Connection;
using detail::OpenMode;

namespace {

std::set<std::string> strict_tables(Connection& db) {
  std::set<std::string> out;
  auto s = db.prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND strict = 1");
  while (s.step()) out.insert(s.text(0));
  return out;
}

// Rows written with the SQL of version k only, as an older build would have.
void fill_version(Connection& db, int k) {
  if (k >= 1) {
    db.exec(
        "INSERT INTO regions (id, name, level, code) VALUES (1, 'Beijing', 'province', '11');"
        "INSERT INTO clinics (id, region_id, name) VALUES (1, 1, 'Old clinic');"
        "INSERT INTO patients (id, clinic_id, name, sex, birth_date, registered_at_ms) "
        "  VALUES (1, 1, 'Li Lei', 'male', '1960-02-29', 1600000000000);"
        "INSERT INTO patient_diagnoses VALUES (1, 1, 'hypertension', '2010-05-01');"
        "INSERT INTO patient_medications (patient_id, clinic_id, name, dose, since) "
        "  VALUES (1, 1, 'amlodipine', '5 mg', '2010-05-01');"
        "INSERT INTO users (id, username, role, clinic_id, created_at_ms) VALUES (1, 'dr.zhang', 'doctor', 1, 1);"
        "INSERT INTO credentials VALUES (1, '$argon2id$v=19$old', 1);");
  }
  if (k >= 2) {
    db.exec(
        "INSERT INTO readings (id, patient_id, clinic_id, client_id, kind, taken_at_ms, received_at_ms, "
        "  systolic_mmhg, diastolic_mmhg) VALUES (1, 1, 1, 'old-uuid', 'blood_pressure', 1600000000000, "
        "  1600000000000, 150, 95);"
        "INSERT INTO changes (patient_id, clinic_id, entity, entity_id, at_ms) VALUES (1, 1, 'reading', 1, 1);"
        "UPDATE readings SET change_seq = 1 WHERE id = 1;"
        "INSERT INTO sessions (token_sha256, user_id, created_at_ms, expires_at_ms, revoked_at_ms) "
        "  VALUES (x'0102', 1, 1, 9999999999999, NULL);");
  }
}

}  // namespace

TEST_CASE("a new database is migrated to the latest schema, every table STRICT") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  CHECK(store->schema_version() == latest_schema_version());
  CHECK(latest_schema_version() >= 3);
  CHECK(store->integrity_check().ok());
  store->close();

  auto db = Connection::open(dir.file("care.db"), OpenMode::read_only, 1000);
  const auto tables = strict_tables(db);
  for (const char* t : {"regions", "clinics", "users", "credentials", "sessions", "activation_codes", "patients",
                        "patient_diagnoses", "patient_comorbidities", "patient_medications", "readings", "changes",
                        "alerts", "care_plans", "risk_scores", "audit_log", "consents"}) {
    INFO(t);
    CHECK(tables.count(t) == 1);
  }
  CHECK(detail::user_version(db) == latest_schema_version());
  auto journal = db.prepare("PRAGMA journal_mode");
  REQUIRE(journal.step());
  CHECK(journal.text(0) == "wal");
}

TEST_CASE("every earlier schema version migrates to the latest and keeps its data") {
  for (int k = 1; k < latest_schema_version(); ++k) {
    DYNAMIC_SECTION("from version " << k) {
      TempDir dir;
      const auto path = dir.file("care.db");
      {
        auto db = Connection::open(path, OpenMode::read_write_create, 1000);
        detail::migrate(db, k);
        REQUIRE(detail::user_version(db) == k);
        fill_version(db, k);
      }

      auto store = open_store(path);
      CHECK(store->schema_version() == latest_schema_version());
      CHECK(store->integrity_check().ok());

      const auto patient = must(store->patient(1));
      CHECK(patient.name == "Li Lei");
      CHECK(patient.birth_date == core::days_from_civil(1960, 2, 29));
      CHECK(!patient.anonymised_at_ms);
      REQUIRE(patient.diagnoses.size() == 1);
      CHECK(patient.diagnoses[0].code == "hypertension");
      REQUIRE(patient.medications.size() == 1);
      CHECK(must(store->user_by_username("DR.ZHANG")).id == 1);
      CHECK(must(store->password_hash(1)) == "$argon2id$v=19$old");

      if (k >= 2) {
        CHECK(store->count_readings(1) == 1);
        CHECK(must(store->session(std::string("\x01\x02", 2))).user_id == 1);
        // The old reading still deduplicates a retried upload.
        const auto again = insert(*store, 1, {bp("old-uuid", 1600000000000, 150, 95)});
        CHECK(again[0].status == InsertStatus::duplicate);
        CHECK(again[0].id == 1);
      }
      // The new build writes on the migrated file, and its sequence continues.
      const auto out = insert(*store, 1, {bp("new-uuid", 1700000000000, 128, 82)});
      CHECK(out[0].status == InsertStatus::created);
      CHECK(out[0].change_seq == (k >= 2 ? 2 : 1));
    }
  }
}

TEST_CASE("migrating one step at a time reaches the same schema as migrating at once") {
  TempDir dir;
  auto stepwise = Connection::open(dir.file("a.db"), OpenMode::read_write_create, 1000);
  for (int k = 1; k <= latest_schema_version(); ++k) detail::migrate(stepwise, k);
  auto at_once = Connection::open(dir.file("b.db"), OpenMode::read_write_create, 1000);
  detail::migrate(at_once);

  auto schema = [](Connection& db) {
    std::string out;
    auto s = db.prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name");
    while (s.step()) out += s.text(0) + " " + s.text(1) + ": " + s.text(2) + "\n";
    return out;
  };
  CHECK(schema(stepwise) == schema(at_once));
}

TEST_CASE("a database from a newer build is refused with a clear error") {
  TempDir dir;
  const auto path = dir.file("care.db");
  {
    auto db = Connection::open(path, OpenMode::read_write_create, 1000);
    detail::migrate(db);
    db.exec(("PRAGMA user_version = " + std::to_string(latest_schema_version() + 1)).c_str());
  }
  Options options;
  options.path = path;
  auto opened = open_sqlite(options);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().code == core::Errc::invalid);
  CHECK_THAT(opened.error().message, Catch::Contains("newer"));

  // Refusing must not have touched the file.
  auto db = Connection::open(path, OpenMode::read_only, 1000);
  CHECK(detail::user_version(db) == latest_schema_version() + 1);
}

TEST_CASE("a missing database is not created unless asked") {
  TempDir dir;
  Options options;
  options.path = dir.file("absent.db");
  options.create_if_missing = false;
  auto opened = open_sqlite(options);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().code == core::Errc::not_found);
  CHECK_FALSE(std::filesystem::exists(options.path));
}
