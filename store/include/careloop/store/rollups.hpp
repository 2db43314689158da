#pragma once
// What reports/ reads and keeps: month rows (hooks.hpp PatientMonthRow,
// written through a WriteTxn) and counts over them, never the readings.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "careloop/store/common.hpp"

namespace careloop::store {

// What reports/ reads: patients counted by the keys an indicator is cut by,
// with their month row (patient_months) — never the readings (DESIGN §7).
struct RollupQuery {
  std::vector<std::int64_t> clinic_ids;
  int month = 0;                       // the patient_months row joined (year * 12 + month - 1)
  std::string as_of_date;              // YYYY-MM-DD: ages are taken on this day
  std::int64_t registered_before_ms = 0;  // only patients registered before this (the month's end)
  std::int64_t registered_from_ms = 0;    // ... and from this on (0: any)
  std::int64_t cohort_before_ms = 0;   // registered before this: registration 0 (the ≥ 3 months cohort)
  std::int64_t month_start_ms = 0;     // registered from this on: registration 2 (this month); between: 1
  std::int64_t risk_before_ms = 0;     // risk scores computed before this count
  // Patients anonymised before this (the month's start) have left care and
  // are not counted; 0: everyone is. A record anonymised during a month is
  // counted in that month and every month before, as it was.
  std::int64_t left_before_ms = 0;
};

// Several months in one pass over the patients (a trend): per month, patients
// registered before its end, cut as RollupQuery's buckets.
struct RollupMonth {
  int month = 0;
  std::string as_of_date;
  std::int64_t end_ms = 0;           // registered before this; risk scores computed before this
  std::int64_t cohort_before_ms = 0;
  std::int64_t month_start_ms = 0;
  std::int64_t left_before_ms = 0;   // as RollupQuery's
};

struct RollupCount {
  int month = 0;  // rollup_counts_months only
  std::int64_t clinic_id = 0;
  std::string sex;
  int age_decade = 0;  // completed years / 10 on as_of_date
  bool hypertension = false;
  bool diabetes = false;
  int registration = 0;         // 0: before cohort_before_ms; 1: before month_start_ms; 2: this month
  std::string bp_status;        // the month row's, empty without a row
  std::string glycemic_status;  // likewise
  std::string risk_band;        // the highest band of the newest score of each model; empty: none
  std::int64_t patients = 0;
};

struct AlertActionCount {
  std::int64_t clinic_id = 0;
  std::string signal;
  std::int64_t alerts = 0;  // opened in the interval
  std::int64_t acted = 0;   // ... and acknowledged with an action other than no_action
};

class Rollups : public virtual Transactions {
 public:
  ~Rollups() override = default;

  // Patients of the clinics counted per RollupCount key (reports/).
  virtual std::vector<RollupCount> rollup_counts(const RollupQuery& q) = 0;
  // The same for several months at once, each count tagged with its month.
  virtual std::vector<RollupCount> rollup_counts_months(const std::vector<std::int64_t>& clinic_ids,
                                                        const std::vector<RollupMonth>& months) = 0;
  // Alerts of the clinics opened in [from_ms, to_ms), per clinic and signal.
  virtual std::vector<AlertActionCount> alert_action_counts(const std::vector<std::int64_t>& clinic_ids,
                                                            std::int64_t from_ms, std::int64_t to_ms) = 0;
  // Every month row of a patient, ascending (tests and rebuild checks).
  virtual std::vector<PatientMonthRow> patient_months(std::int64_t patient_id) = 0;
};

}  // namespace careloop::store
