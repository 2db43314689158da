#include "careloop/core/plausibility.hpp"

#include <cmath>
#include <cstdio>

namespace careloop::core {
namespace {

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void check(std::vector<FieldError>& out, std::string_view pointer, const PlausibleRange& range,
           const std::optional<double>& value, std::string_view field) {
  if (!value) return;
  if (!std::isfinite(*value) || *value < range.min || *value > range.max) {
    out.push_back({std::string(pointer) + "/" + std::string(field),
                   std::string(field) + " " + format_number(*value) + " " + std::string(range.unit) +
                       " is outside the plausible range " + format_number(range.min) + "–" +
                       format_number(range.max) + " " + std::string(range.unit)});
  }
}

}  // namespace

std::vector<FieldError> check_plausibility(const Reading& r, std::string_view pointer, std::int64_t now_ms) {
  std::vector<FieldError> out;
  switch (r.kind) {
    case ReadingKind::blood_pressure:
      check(out, pointer, systolic_range, r.systolic_mmhg, "systolic");
      check(out, pointer, diastolic_range, r.diastolic_mmhg, "diastolic");
      check(out, pointer, pulse_range, r.pulse_bpm, "pulse");
      if (out.empty() && r.systolic_mmhg && r.diastolic_mmhg && *r.systolic_mmhg <= *r.diastolic_mmhg)
        out.push_back({std::string(pointer) + "/systolic", "systolic must be higher than diastolic"});
      break;
    case ReadingKind::heart_rate: check(out, pointer, pulse_range, r.pulse_bpm, "value"); break;
    case ReadingKind::glucose: check(out, pointer, glucose_range, r.glucose_mmol_l, "value"); break;
    case ReadingKind::weight: check(out, pointer, weight_range, r.weight_kg, "value"); break;
    case ReadingKind::hba1c: check(out, pointer, hba1c_range, r.hba1c_percent, "value"); break;
    case ReadingKind::medication: break;
  }
  if (r.taken_at.utc_ms > now_ms + max_future_skew_ms)
    out.push_back({std::string(pointer) + "/taken_at", "taken_at is more than 10 minutes in the future"});
  return out;
}

}  // namespace careloop::core
