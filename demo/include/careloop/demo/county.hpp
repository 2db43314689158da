#pragma once
// A seeded, reproducible demo county: a region tree, clinics, doctors, an
// authority, patients with hypertension and/or type 2 diabetes and 90 days of
// home readings that look real. Everything goes through the Store interface,
// the same path the server writes through.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/store/store.hpp"

namespace careloop::demo {

struct Options {
  std::uint64_t seed = 1;
  int patients = 2000;
  int clinics = 10;
  int doctors_per_clinic = 2;
  int days = 90;
  // The last day of readings, as days since 1970-01-01 (local date in the
  // clinic's time zone). Fixed for reproducibility; the CLI passes today.
  std::int64_t end_day = 0;
  int patient_logins = 10;  // demo patient accounts (one per clinic by default)
  // Recorded for each demo patient account (patient and user filled in):
  // the demo's patients are taken to have consented to processing health
  // data, as a real patient does at activation. None: the accounts have no
  // decision, and the patient page asks at the first login.
  std::optional<store::ConsentRecord> patient_consent;
  // Called with (patients done, patients total) now and then.
  std::function<void(int, int)> progress;
};

struct Login {
  std::string role;
  std::string username;
  std::string password;
  std::string note;  // "doctor, 东湖社区卫生服务中心"
};

struct Summary {
  std::int64_t region_id = 0;  // the county
  int regions = 0;
  int clinics = 0;
  int users = 0;
  int patients = 0;
  std::int64_t readings = 0;
  std::int64_t measurements = 0;  // clinic measurement values (annual health checks)
  std::vector<Login> logins;
};

// The password hasher is passed in so that demo/ does not depend on auth/.
using PasswordHasher = std::function<core::Result<std::string>(const std::string&)>;

core::Result<Summary> generate_county(store::Store& store, const Options& options, const PasswordHasher& hash);

}  // namespace careloop::demo
