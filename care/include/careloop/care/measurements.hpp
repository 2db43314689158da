#pragma once
// Clinic measurements (the annual health check of the national basic public
// health service: waist, lipids, a lab fasting glucose, weight, height; kinds
// and ranges in core/clinic_measurement.hpp). The clinic records the values
// measured together under one client id, optionally with the visit they were
// taken at; the risk models read the newest of each kind (scoring/).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "careloop/core/result.hpp"
#include "careloop/core/time.hpp"
#include "careloop/store/common.hpp"

namespace careloop::care {

struct MeasurementValue {
  std::string kind;     // "waist_cm", ...
  double value = 0;     // in the kind's canonical unit
  std::string pointer;  // where it was in the request, for errors ("/values/waist_cm")
};

struct MeasurementInput {
  std::int64_t patient_id = 0;
  std::string client_id;  // the recording app's id: a resend returns the stored record
  core::Instant measured_at;
  std::vector<MeasurementValue> values;  // at least one, one per kind
  std::optional<std::int64_t> visit_id;  // a visit of the same patient
  std::int64_t by_user_id = 0;
  std::string remote_addr;  // for the audit entry
};

struct RecordedMeasurements {
  std::vector<store::ClinicMeasurementRow> rows;  // by kind
  bool created = false;  // false: the client id was stored already (a resend)
};

// Checks the fields against `now_ms` (nothing measured in the future beyond
// 5 minutes of clock skew, nor before 1900): /client_id, /measured_at,
// /values (none), each value's pointer (unknown kind, repeated kind, outside
// its plausible range or not finite).
core::Status check_measurements(const MeasurementInput& m, std::int64_t now_ms);

// Stores the values and an audit entry in one write job. A client id already
// stored for the patient returns those rows (created = false) when they are
// the same record (same time, visit, kinds and values), and a conflict when
// not. Errors: invalid (check_measurements; /visit_id naming no visit of the
// patient), not_found (no such patient), conflict.
void record_measurements(store::Transactions& st, MeasurementInput m, store::Completion<RecordedMeasurements> done);

// One stored value as the clinic API shows it, with its unit and LOINC code.
nlohmann::json measurement_json(const store::ClinicMeasurementRow& r);
// A record (the rows of one client id) as the POST answers it.
nlohmann::json measurement_record_json(const std::vector<store::ClinicMeasurementRow>& rows);

}  // namespace careloop::care
