#pragma once
// Care records: care plan versions, a clinic's protocol choice, follow-up
// visits and clinic measurements (written through a WriteTxn).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <span>
#include <unordered_map>

#include "careloop/store/common.hpp"

namespace careloop::store {

// A care plan version as the patient's app sees it (approved ones only).
struct CarePlanRecord {
  std::int64_t id = 0;
  int version = 0;
  std::string status;
  std::string plan_json;
  std::optional<std::int64_t> decided_at_ms;
};

class CareRecords : public virtual Transactions {
 public:
  ~CareRecords() override = default;

  // The newest approved care plan of a patient.
  virtual std::optional<CarePlanRecord> approved_care_plan(std::int64_t patient_id) = 0;
  // Every care plan version of a patient, newest first (staff only: proposals included).
  virtual std::vector<CarePlanRow> care_plans(std::int64_t patient_id) = 0;
  // A patient's recorded visits, newest first (at most `limit`).
  virtual std::vector<VisitRow> visits(std::int64_t patient_id, int limit) = 0;
  // The protocol ids a clinic chose, sorted; empty: it chose none (the deployment's set applies).
  virtual std::vector<std::string> clinic_protocols(std::int64_t clinic_id) = 0;
  // A patient's clinic measurements, newest first (measured_at, then id), at most `limit`.
  virtual std::vector<ClinicMeasurementRow> clinic_measurements(std::int64_t patient_id, int limit) = 0;
  // For each patient of `patient_ids` that has any measured at or after
  // `since_ms`: the newest value of each kind measured at or after since_ms
  // (ties on measured_at: the higher id), by kind. Patients without one are
  // absent from the map. One query for the whole span (scoring reads a page
  // of patients at once; an ascending run of ids is read as a range). Only
  // the rows' id, patient_id, kind, value and measured_at.utc_ms are filled
  // (from the covering index clinic_measurements_latest).
  virtual std::unordered_map<std::int64_t, ClinicMeasurementSet> latest_clinic_measurements(
      std::span<const std::int64_t> patient_ids, std::int64_t since_ms) = 0;
};

}  // namespace careloop::store
