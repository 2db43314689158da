#pragma once
// The per-patient month rows reports read instead of the readings (DESIGN
// §7; definitions in reports/README.md). A reading taken in month m can change
// the rows of months m … m+11 (the 12-month "under care" window) and, for
// blood pressure and glycaemia, the "latest value in the 3 months up to M"
// of months m … m+2. Every change is a "newer wins" update, so the rows do
// not depend on the order readings arrive in: a late reading from an
// offline phone updates its own month and the ones after it exactly as if
// it had come on time.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "careloop/core/reading.hpp"
#include "careloop/core/result.hpp"
#include "careloop/reports/calendar.hpp"
#include "careloop/store/hooks.hpp"
#include "careloop/store/store.hpp"

namespace careloop::reports {

// Thresholds of CLINICAL §4 (Simple.org's and the DHIS2 HEARTS package's).
inline constexpr double controlled_systolic_below_mmhg = 140;
inline constexpr double controlled_diastolic_below_mmhg = 90;
inline constexpr double controlled_fasting_glucose_below_mmol_l = 7.0;
inline constexpr double controlled_hba1c_below_percent = 7.0;
inline constexpr int under_care_months = 12;  // the month and the 11 before it
inline constexpr int recent_months = 3;       // the month and the 2 before it

// One patient's rows, folded from readings on top of rows already stored.
// apply() only keeps, per month, what that month's own readings say (its
// newest contact, blood pressure and glycaemic value); rows() and changed()
// then spread each month onto the months whose windows hold it. Each reading
// costs one month lookup, not twelve row updates.
class MonthFold {
 public:
  MonthFold(const Calendar& calendar, std::int64_t patient_id, std::int64_t clinic_id)
      : calendar_(calendar), patient_id_(patient_id), clinic_id_(clinic_id) {}

  std::int64_t patient_id() const noexcept { return patient_id_; }
  void load(std::vector<store::PatientMonthRow> rows);
  void apply(const core::Reading& r);
  // A visit at `at_ms`: contact for that month and the 11 after it (under
  // care, no missed visit), no measurement.
  void contact(std::int64_t at_ms);
  // The rows whose values changed since load(), statuses filled in.
  std::vector<store::PatientMonthRow> changed();
  // Every row, statuses filled in.
  std::vector<store::PatientMonthRow> rows();

 private:
  store::PatientMonthRow& row(std::map<int, store::PatientMonthRow>& in, int month);
  store::PatientMonthRow with_status(store::PatientMonthRow r) const;
  void spread();

  const Calendar& calendar_;
  std::int64_t patient_id_;
  std::int64_t clinic_id_;
  std::map<int, store::PatientMonthRow> own_;  // per month: its own readings only
  std::map<int, store::PatientMonthRow> rows_;
  std::map<int, store::PatientMonthRow> loaded_;
  // The month of the last reading applied, [start, end): readings come in time order mostly.
  int cached_month_ = 0;
  std::int64_t cached_start_ms_ = 0;
  std::int64_t cached_end_ms_ = 0;
};

// The status words of a month row (they are stored, and reports count them).
std::string bp_status(const store::PatientMonthRow& r, std::int64_t window_start_ms);
std::string glycemic_status(const store::PatientMonthRow& r, std::int64_t window_start_ms);

// The hook app/ installs beside care's: keeps patient_months in the
// transaction of the readings and visits that change them.
std::shared_ptr<store::ReadingsHook> make_rollup_hook(Calendar calendar);

struct RebuildSummary {
  std::int64_t patients = 0;
  std::int64_t rows = 0;
};

// Recomputes every patient's rows from its readings (after writes that
// bypassed the hook: the demo generator, imports, a change of reporting
// zone). One write job per page of patients, so it can run beside a server;
// each page reads its patients' readings in one pass (the fold's columns only).
core::Result<RebuildSummary> rebuild(store::Store& store, const Calendar& calendar,
                                     const std::function<void(std::int64_t done)>& progress = {});

}  // namespace careloop::reports
