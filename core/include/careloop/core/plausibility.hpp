#pragma once
// Plausibility ranges for home readings, in canonical units. The one place
// they are written (mobile-api/README.md lists them for client developers).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/reading.hpp"
#include "careloop/core/result.hpp"

namespace careloop::core {

struct PlausibleRange {
  std::string_view field;
  double min;
  double max;
  std::string_view unit;
};

inline constexpr PlausibleRange systolic_range{"systolic", 50, 300, "mmHg"};
inline constexpr PlausibleRange diastolic_range{"diastolic", 20, 200, "mmHg"};
inline constexpr PlausibleRange pulse_range{"pulse", 20, 300, "/min"};
inline constexpr PlausibleRange glucose_range{"value", 0.5, 55, "mmol/L"};
inline constexpr PlausibleRange weight_range{"value", 2, 400, "kg"};
inline constexpr PlausibleRange hba1c_range{"value", 3, 20, "%"};

// Readings taken more than this far in the future are refused (clock skew allowance).
inline constexpr std::int64_t max_future_skew_ms = 10 * 60 * 1000;

// Checks a reading in canonical units. `pointer` is the JSON pointer of the
// reading in the request (e.g. "/readings/3"); errors name fields below it.
std::vector<FieldError> check_plausibility(const Reading& r, std::string_view pointer, std::int64_t now_ms);

}  // namespace careloop::core
