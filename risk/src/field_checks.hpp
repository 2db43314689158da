#pragma once
// Input checks shared by the scores: each failed check adds one FieldError,
// so a caller sees every problem with its input at once.
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"

namespace careloop::risk::detail {

using Errors = std::vector<core::FieldError>;

inline std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

inline std::string field_pointer(std::string_view name) { return "/" + std::string(name); }

// Written as !(in range) so that NaN fails every check.
inline void require_positive(Errors& errors, std::string_view name, double v, std::string_view unit) {
  if (!(std::isfinite(v) && v > 0))
    errors.push_back({field_pointer(name), "must be a positive number of " + std::string(unit) + "; got " + number(v)});
}

// min <= v < max_exclusive
inline void require_in(Errors& errors, std::string_view name, double v, double min, double max_exclusive,
                       std::string_view unit, std::string_view why) {
  if (!(v >= min && v < max_exclusive))
    errors.push_back({field_pointer(name), "must be at least " + number(min) + " and below " + number(max_exclusive) +
                                               " " + std::string(unit) + " (" + std::string(why) + "); got " + number(v)});
}

// min <= v <= max
inline void require_between(Errors& errors, std::string_view name, double v, double min, double max,
                            std::string_view unit, std::string_view why) {
  if (!(v >= min && v <= max))
    errors.push_back({field_pointer(name), "must be " + number(min) + "–" + number(max) +
                                               (unit.empty() ? "" : " " + std::string(unit)) + " (" +
                                               std::string(why) + "); got " + number(v)});
}

}  // namespace careloop::risk::detail
