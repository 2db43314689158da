#pragma once
// Shared by the protocol tests: the library, and readings as a phone sends them.
#include <string>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"
#include "careloop/core/units.hpp"
#include "careloop/protocols/engine.hpp"
#include "careloop/protocols/protocol.hpp"

namespace careloop::protocols::test {

inline constexpr std::int64_t minute_ms = 60'000;
inline constexpr std::int64_t hour_ms = 60 * minute_ms;
inline constexpr std::int64_t day_ms = 24 * hour_ms;
inline constexpr int shanghai_min = 480;

// The library, loaded once; a failure to load fails every test that uses it.
inline const LoadResult& library() {
  static const LoadResult r = load_directory(CARELOOP_PROTOCOL_DIR);
  return r;
}
inline const Protocol& protocol(std::string_view id) {
  for (const auto& p : library().protocols)
    if (p.id == id) return p;
  throw std::runtime_error("protocol not in the library: " + std::string(id));
}

inline std::int64_t at(const char* iso) { return core::parse_iso8601(iso).instant.value().utc_ms; }

inline core::Reading bp(std::int64_t utc_ms, double sys, double dia, std::optional<double> pulse = std::nullopt) {
  core::Reading r;
  r.kind = core::ReadingKind::blood_pressure;
  r.taken_at = {utc_ms, shanghai_min};
  r.systolic_mmhg = sys;
  r.diastolic_mmhg = dia;
  r.pulse_bpm = pulse;
  return r;
}
inline core::Reading glucose(std::int64_t utc_ms, double value, core::GlucoseUnit unit, core::GlucoseContext ctx) {
  core::Reading r;
  r.kind = core::ReadingKind::glucose;
  r.taken_at = {utc_ms, shanghai_min};
  r.glucose_mmol_l = core::glucose_to_mmol_l(value, unit);
  r.glucose_context = ctx;
  return r;
}

inline core::Patient patient(int age_years, core::Sex sex, std::vector<std::string> dx, std::int64_t today_day) {
  core::Patient p;
  p.sex = sex;
  int y = 0;
  unsigned m = 0, d = 0;
  core::civil_from_days(today_day, y, m, d);
  p.birth_date = core::days_from_civil(y - age_years, 1, 1);
  for (auto& c : dx) p.diagnoses.push_back({std::move(c), 0});
  p.height_cm = 165;
  return p;
}

}  // namespace careloop::protocols::test
