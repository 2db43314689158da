#pragma once
// The per-patient rolling state the store's writer keeps beside the readings
// (DESIGN §7): per-day aggregates for the last 100 local days, the latest
// reading of each kind and a short ring of recent raw readings. The writer
// calls apply() inside the write transaction; protocols read windows from it
// without scanning readings.
//
// Days are *local* calendar days, each reading counted on the day of its own
// UTC offset (a 07:00 fasting glucose in Shanghai belongs to that morning, not
// to the previous UTC day). A window of N days is the N local days ending with
// today, where today is computed with the patient's most recent offset.
// 24-hour windows are exact (from the raw ring), longer windows are per day.
//
// Late readings (an offline phone syncing days later, out of order) are
// folded into their own day and inserted into the ring in time order; a
// reading older than the retained 100 days changes only the counters.
// apply() assumes each reading is new: the store filters duplicate client ids.
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/reading.hpp"
#include "careloop/core/result.hpp"

namespace careloop::core {

enum class Metric : std::uint8_t { systolic, diastolic, pulse, glucose_fasting, glucose_nonfasting, weight };
inline constexpr std::size_t metric_count = 6;
std::string_view to_string(Metric m) noexcept;

// Count, sum, min and max of one metric over some span.
struct Stat {
  std::int32_t count = 0;
  double sum = 0;
  double min = 0;
  double max = 0;

  void add(double v) noexcept;
  void merge(const Stat& o) noexcept;
  std::optional<double> mean() const noexcept;
  friend bool operator==(const Stat&, const Stat&) = default;
};

// Glucose inside 3.9–10.0 mmol/L counts as "in range" (the consensus
// time-in-range band, applied here to capillary readings).
inline constexpr double glucose_range_low_mmol_l = 3.9;
inline constexpr double glucose_range_high_mmol_l = 10.0;

struct DayBucket {
  std::int64_t day = 0;  // local days since 1970-01-01
  std::array<Stat, metric_count> stats{};
  std::int32_t glucose_in_range = 0;
  std::int32_t medication_taken = 0;
  std::int32_t medication_missed = 0;
  friend bool operator==(const DayBucket&, const DayBucket&) = default;
};

// One raw reading, compacted. Only the fields of its kind are set.
struct RecentReading {
  std::int64_t utc_ms = 0;
  int offset_min = 0;
  ReadingKind kind = ReadingKind::blood_pressure;
  bool fasting = false;  // glucose taken with context "fasting"
  std::optional<double> systolic_mmhg, diastolic_mmhg, pulse_bpm, glucose_mmol_l, weight_kg, hba1c_percent;
  friend bool operator==(const RecentReading&, const RecentReading&) = default;
};

// One metric's window that a digest keeps (PatientState::digest).
struct KeptWindow {
  Metric metric;
  int days;
};

// Only GlucoseContext::fasting counts as fasting; before-meal, after-meal,
// bedtime, random and a missing context count as non-fasting.
bool is_fasting(const Reading& r) noexcept;

// Local day of an instant in its own offset.
std::int64_t local_day(std::int64_t utc_ms, int offset_min) noexcept;

class PatientState {
 public:
  static constexpr int retained_days = 100;
  static constexpr std::size_t recent_capacity = 64;

  // Folds one new reading in. O(log days + ring size), no allocation once warm.
  void apply(const Reading& r);
  static PatientState from_readings(const std::vector<Reading>& readings);

  // Today's local day at `now_ms`, in the offset of the most recent reading.
  std::int64_t today(std::int64_t now_ms) const noexcept;
  // The N local days ending with `today` (inclusive).
  Stat window(Metric m, std::int64_t today, int days) const noexcept;
  // Exact: readings taken in (now − 24 h, now].
  Stat window_24h(Metric m, std::int64_t now_ms) const noexcept;
  // Least-squares slope of the daily means over the N days ending today, per
  // day; nullopt with fewer than 3 days of data.
  std::optional<double> slope_per_day(Metric m, std::int64_t today, int days) const noexcept;
  // Glucose readings in 3.9–10.0 mmol/L and all glucose readings, over N days.
  std::pair<std::int32_t, std::int32_t> glucose_in_range(std::int64_t today, int days) const noexcept;
  // Medication doses logged taken and missed, over N days.
  std::pair<std::int32_t, std::int32_t> medication_log(std::int64_t today, int days) const noexcept;
  // The day bucket of a local day, if any reading fell on it.
  const DayBucket* day(std::int64_t local_day) const noexcept;

  const std::vector<DayBucket>& days() const noexcept { return days_; }
  // Oldest first, at most recent_capacity readings (all kinds but medication).
  const std::vector<RecentReading>& recent() const noexcept { return recent_; }
  const std::optional<RecentReading>& latest(ReadingKind k) const noexcept;
  std::optional<std::int64_t> last_reading_ms() const noexcept;  // any kind but medication
  int last_offset_min() const noexcept { return last_offset_min_; }
  std::int64_t readings_applied() const noexcept { return applied_; }
  // Readings of one kind applied so far: a key that changes with each new reading.
  std::int64_t readings_applied(ReadingKind k) const noexcept { return applied_by_kind_[static_cast<std::size_t>(k)]; }
  std::int64_t readings_older_than_retained() const noexcept { return too_old_; }

  // A small state for batch readers that need a few windowed means (risk
  // scoring reads one a patient): only the kept metrics' day statistics, of
  // the `days` + 1 local days ending with today(now_ms) — no raw ring, no
  // latest readings, no glucose-in-range or medication counts. For every kept
  // (metric, days) and every today >= today(now_ms) - 1, digest.window(metric,
  // today, days) equals window(metric, today, days), today() included (the
  // offset is kept), and applying later readings to both keeps it so.
  PatientState digest(std::span<const KeptWindow> keep, std::int64_t now_ms) const;

  // Compact JSON for the store (one blob per patient) and back.
  std::string to_json() const;
  static Result<PatientState> from_json(std::string_view text);
  // Compact binary form (patient_state_binary.cpp: versioned header, fixed
  // little-endian layout, length and CRC-32 checked): what the writer stores
  // and batch work reads. from_binary refuses a truncated or corrupt blob
  // (Errc::invalid saying what is wrong); from_binary(to_binary()) == *this.
  std::string to_binary() const;
  static Result<PatientState> from_binary(std::string_view bytes);
  // A state as a store saved it: the binary form when there is one, else the
  // JSON form of rows saved before the binary form existed.
  static Result<PatientState> from_saved(std::string_view binary, std::string_view json);

  friend bool operator==(const PatientState&, const PatientState&) = default;

 private:
  DayBucket* bucket_for(std::int64_t day);
  void add_recent(const RecentReading& rr);

  std::vector<DayBucket> days_;          // sorted by day, at most retained_days span
  std::vector<RecentReading> recent_;    // sorted by utc_ms
  std::array<std::optional<RecentReading>, 6> latest_{};  // by ReadingKind
  int last_offset_min_ = 0;
  std::int64_t last_offset_at_ms_ = std::numeric_limits<std::int64_t>::min();
  std::int64_t applied_ = 0;
  std::array<std::int64_t, 6> applied_by_kind_{};
  std::int64_t too_old_ = 0;
};

}  // namespace careloop::core
