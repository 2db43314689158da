#pragma once
// Shared by the store tests: a temporary directory per test, a database in
// it, the backends the contract tests run against, and a few rows to hang
// readings on (written through the Store API, never raw SQL).
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>
#include <unistd.h>

#include "careloop/core/time.hpp"
#include "careloop/store/sqlite.hpp"

namespace careloop::store::testing {

// A fresh directory per test (DuckDB's TEMP_DIR/RUN_ID/TEST_ID), so `ctest -j` is safe.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("careloop-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The value of a result that must have succeeded; fails the test with the error otherwise.
template <class T>
T must(core::Result<T> r) {
  INFO("error: " << (r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return std::move(r).value();
}

inline std::unique_ptr<SqliteStore> open_store(const std::string& path, SqliteOptions options = {}) {
  options.path = path;
  return must(open_sqlite(options));
}

// The contract suite: a test written against Store alone runs once per
// backend in this list (Catch2 runs the test once per generated value):
//   const auto backend = GENERATE(from_range(backends()));
//   INFO("backend: " << backend.name);
//   TempDir dir;
//   auto store = backend.open(dir);
// Only SQLite so far; a backend joins by adding its factory here. Tests of
// one backend's own behaviour (files, backups, its writer) open it directly.
struct Backend {
  std::string name;
  std::unique_ptr<Store> (*open)(const TempDir& dir) = nullptr;
};

inline const std::vector<Backend>& backends() {
  static const std::vector<Backend> all{
      {"sqlite", [](const TempDir& dir) -> std::unique_ptr<Store> { return open_store(dir.file("contract.db")); }},
  };
  return all;
}

struct Place {
  std::int64_t region_id = 0;
  std::int64_t clinic_id = 0;
};

inline Place add_place(Store& s) {
  Place p;
  p.region_id = must(wait_for<std::int64_t>(
      [&](auto done) { s.add_region({std::nullopt, "Haidian", core::RegionLevel::district, "110108"}, done); }));
  p.clinic_id = must(wait_for<std::int64_t>(
      [&](auto done) { s.add_clinic({p.region_id, "Zhongguancun CHC", "Asia/Shanghai"}, done); }));
  return p;
}

inline core::Patient sample_patient(std::int64_t clinic_id, std::string name = "Wang Fang") {
  core::Patient p;
  p.clinic_id = clinic_id;
  p.name = std::move(name);
  p.phone = "+86 138 0000 0000";
  p.sex = core::Sex::female;
  p.birth_date = core::days_from_civil(1958, 3, 14);
  p.height_cm = 158.5;
  p.smoking = core::Smoking::former;
  p.parents_with_hypertension = 1;
  p.family_history_diabetes = true;
  p.diagnoses = {{std::string(core::dx_hypertension), core::days_from_civil(2015, 6, 1)},
                 {std::string(core::dx_diabetes_t2), core::days_from_civil(2019, 1, 20)}};
  p.comorbidities = {"ckd"};
  p.medications = {{"amlodipine", "5 mg once daily", core::days_from_civil(2015, 6, 1)},
                   {"metformin", "500 mg twice daily", core::days_from_civil(2019, 1, 20)}};
  p.registered_at_ms = 1'700'000'000'000;
  return p;
}

// An administrator's account (no clinic, no region): the owner of test sessions.
inline std::int64_t add_admin(Store& s, std::string username) {
  NewUser u;
  u.user.username = std::move(username);
  u.user.role = core::Role::admin;
  return must(wait_for<std::int64_t>([&](auto done) { s.add_user(u, done); }));
}

inline std::int64_t add_patient(Store& s, std::int64_t clinic_id, std::string name = "Wang Fang") {
  return must(wait_for<std::int64_t>(
      [&](auto done) { s.add_patient(sample_patient(clinic_id, std::move(name)), done); }));
}

inline core::Reading bp(std::string client_id, std::int64_t taken_at_ms, double systolic, double diastolic) {
  core::Reading r;
  r.client_id = std::move(client_id);
  r.kind = core::ReadingKind::blood_pressure;
  r.taken_at = {taken_at_ms, 480};
  r.systolic_mmhg = systolic;
  r.diastolic_mmhg = diastolic;
  r.pulse_bpm = 72;
  r.source = "test";
  r.value_as_sent = systolic;
  r.unit_as_sent = "mmHg";
  return r;
}

inline std::vector<InsertOutcome> insert(Store& s, std::int64_t patient_id, std::vector<core::Reading> rs) {
  return must(wait_for<std::vector<InsertOutcome>>(
      [&](auto done) { s.insert_readings(patient_id, std::move(rs), done); }));
}

}  // namespace careloop::store::testing
