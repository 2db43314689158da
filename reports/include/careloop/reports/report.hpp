#pragma once
// Population indicators (CLINICAL §4) for a region or a clinic and a month,
// built from the month rows (patient_months) and the registry — never from
// the readings — with small counts suppressed (suppression.hpp), and written
// as JSON, CSV or a FHIR MeasureReport Bundle with the same numbers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/reports/calendar.hpp"
#include "careloop/store/store.hpp"

namespace careloop::reports {

enum class UnitType { region, clinic };
std::string_view to_string(UnitType t) noexcept;

struct UnitRef {
  UnitType type = UnitType::region;
  std::int64_t id = 0;
  std::string name;
  std::string level;  // region level, or "clinic"
};

// A published value: a count, a rate (a fraction, rounded to 4 decimals),
// suppressed, or not applicable (a rate over 0). A suppressed cell is small
// when it is a count of 1 … min_published-1 (it may be shown as "<5");
// otherwise it was hidden only to protect another, and nothing may be said
// of its size.
struct Cell {
  std::optional<double> value;
  bool suppressed = false;
  bool small = false;
};

struct Row {
  UnitRef unit;
  std::string breakdown;  // "all", "sex", "age" (indicators); "month" (trend); "quarter" (cohorts); "type" (alerts)
  std::string group;      // "all", "female", "30-39", "2026-10", "2026-Q2", "bp_critical", ...
  std::vector<Cell> cells;  // one per column of the table
};

struct Table {
  std::string name;  // indicators, trend, cohorts, alerts
  std::vector<std::string> columns;
  std::vector<Row> rows;
};

struct Report {
  UnitRef unit;
  int month = 0;
  std::string time_zone;
  std::int64_t period_start_ms = 0;  // the month in the reporting zone, [start, end)
  std::int64_t period_end_ms = 0;
  std::vector<UnitRef> path;      // the unit's ancestors, root first
  std::vector<UnitRef> children;  // drill-down: sub-regions and clinics
  Table indicators;  // the unit by sex and age band, then each child
  Table trend;       // the unit, the 12 months up to the month
  Table cohorts;     // the unit: patients registered in a quarter, at the end of the next
  Table alerts;      // the unit's alerts opened in the month, per type
};

// The smallest count published: 1 … min_published-1 are suppressed.
inline constexpr std::int64_t min_published = 5;

// Where a report is about: the unit and its ancestors' region ids (nearest
// first, for auth::Resource::region_path), or not_found.
struct Place {
  UnitRef unit;
  std::optional<std::int64_t> clinic_id;
  std::vector<std::int64_t> region_path;
};
core::Result<Place> locate(store::Directory& store, UnitType type, std::int64_t id);

// Which tables to build (all, for a published report; the benchmark times them apart).
struct Parts {
  bool trend = true;    // the 12 months up to the month (otherwise the month alone)
  bool cohorts = true;
  bool alerts = true;
};

// invalid naming /query/month when the month is after the current one.
core::Result<Report> build_report(store::Store& store, const Calendar& calendar, UnitType type, std::int64_t id,
                                  int month, std::int64_t now_utc_ms, Parts parts = {});

std::string to_json_text(const Report& r);
// One table as CSV (UTF-8, header row, one indicator per column).
std::string to_csv(const Report& r, std::string_view table);
// A FHIR R4 Bundle (collection) of MeasureReports: one per unit row of the indicators table.
std::string to_fhir(const Report& r);

// For a rate column: its numerator and denominator columns.
std::optional<std::pair<std::string, std::string>> rate_parts(std::string_view column);

// The tables a CSV can hold.
inline constexpr std::string_view csv_tables[] = {"indicators", "trend", "cohorts", "alerts"};

}  // namespace careloop::reports
