#pragma once
// Named facts about one patient at one instant, each with its quantity and
// canonical unit, read from core::PatientState, the patient's record and a
// small context the caller supplies (visits, risk bands). A protocol refers to
// facts by name; the loader turns names into indexes, so evaluation reads a
// flat array. A fact without data is NaN ("no data").
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/domain.hpp"
#include "careloop/core/patient_state.hpp"
#include "careloop/core/reading.hpp"

namespace careloop::protocols {

// What a number measures; decides which units a threshold may be written in.
enum class Quantity : std::uint8_t {
  pressure,        // mmHg
  pressure_slope,  // mmHg/day
  glucose,         // mmol/L (mg/dL accepted)
  mass,            // kg (g, lb accepted)
  hba1c,           // % NGSP (mmol/mol IFCC accepted)
  percent,         // %
  heart_rate,      // /min
  days,            // days (weeks accepted)
  years,           // years
  bmi,             // kg/m2
  count,           // a plain number
  boolean,         // true / false
};
std::string_view canonical_unit(Quantity q) noexcept;
std::string_view to_string(Quantity q) noexcept;

// Converts `value` written in `unit` to the canonical unit of `q`;
// nullopt when the unit does not measure that quantity.
std::optional<double> to_canonical(Quantity q, double value, std::string_view unit) noexcept;

// Which readings a fact is computed from: an alert's evidence key is the
// number of readings applied in the domains its rule reads, so a repeat is
// counted once per new reading, not once per evaluation.
enum class Domain : std::uint8_t { none, blood_pressure, glucose, heart_rate, weight, hba1c, medication };
inline constexpr std::size_t domain_count = 7;

using FactId = std::uint16_t;
inline constexpr std::size_t max_facts = 256;

struct FactDef {
  std::string name;
  Quantity quantity;
  std::string description;
  Domain domain = Domain::none;
};

// Facts the engine sets per protocol before evaluating its rules.
struct EngineFacts {
  FactId target_first;  // first of the target.* facts, in TargetKey order
  FactId ladder_current_step;
  FactId ladder_days_at_step;
};

// Every fact, in index order. Built once; names are unique.
std::span<const FactDef> fact_registry() noexcept;
std::optional<FactId> find_fact(std::string_view name) noexcept;
const EngineFacts& engine_facts() noexcept;

// Series facts: a handful of values (per day or per reading) that a
// "count_of" condition counts over.
using SeriesId = std::uint8_t;
inline constexpr std::size_t series_capacity = 16;
std::span<const FactDef> series_registry() noexcept;
std::optional<SeriesId> find_series(std::string_view name) noexcept;

struct Series {
  std::array<double, series_capacity> values{};
  std::uint8_t size = 0;
  void push(double v) noexcept {
    if (size < series_capacity) values[size++] = v;
  }
};
inline constexpr std::size_t max_series = 8;

// Targets a protocol's parameter groups may set, each readable as a fact.
enum class TargetKey : std::uint8_t {
  bp_office_systolic_lt,
  bp_office_diastolic_lt,
  bp_home_systolic_lt,
  bp_home_diastolic_lt,
  glucose_fasting_gte,
  glucose_fasting_lt,
  glucose_nonfasting_lt,
  hba1c_lt,
  bmi_lt,
};
inline constexpr std::size_t target_count = 9;
std::string_view to_string(TargetKey k) noexcept;  // "bp.office_systolic_lt", ...
std::optional<TargetKey> parse_target_key(std::string_view s) noexcept;
Quantity quantity_of(TargetKey k) noexcept;

// Comorbidity codes the facts know (core::Patient::comorbidities).
std::span<const std::string_view> known_comorbidities() noexcept;
// Drug classes the facts know ("medication.on.<class>").
std::span<const std::string_view> known_drug_classes() noexcept;
// The class of a generic drug name ("amlodipine" → "ccb"); nullopt if unknown.
std::optional<std::string_view> drug_class(std::string_view drug) noexcept;
// The leading number of a dose text in mg ("5 mg once daily" → 5).
std::optional<double> dose_mg(std::string_view dose) noexcept;

// A current medication as the ladders see it.
struct CurrentDrug {
  std::string name;
  std::string drug_class;  // empty when unknown
  std::optional<double> dose_mg;
  std::int64_t since_day = 0;  // local day it was started or last changed
};

// What the caller knows beyond readings and the patient record.
struct RiskBand {
  std::string model_id;
  double probability = 0;  // 0–1
  bool high = false;
};
struct SnapshotContext {
  int consecutive_uncontrolled_visits = 0;
  std::vector<RiskBand> risk;
  // Day of the last medication change; when unset, the latest "since" of the
  // patient's medications.
  std::optional<std::int64_t> last_medication_change_day;
};

struct Snapshot {
  std::array<double, max_facts> values;
  std::array<Series, max_series> series{};
  std::vector<CurrentDrug> drugs;
  std::int64_t now_ms = 0;
  std::int64_t today = 0;         // local day
  std::array<std::int64_t, domain_count> evidence{};  // readings applied per domain

  Snapshot() { values.fill(std::nan("")); }
  double get(std::string_view fact) const;  // NaN when unknown or no data
  void set(std::string_view fact, double v);  // for tests; ignores unknown names
};

// Builds the facts at `now_ms`. `trigger` is the reading being written (the
// in-transaction path): the "*.reading.*" facts describe it; without a
// trigger they describe the latest reading of the kind.
Snapshot make_snapshot(const core::PatientState& state, const core::Patient& patient, const SnapshotContext& ctx,
                       std::int64_t now_ms, const core::Reading* trigger = nullptr);

}  // namespace careloop::protocols
