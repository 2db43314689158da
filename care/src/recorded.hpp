#pragma once
// Checks shared by what the clinic records (visits.cpp, measurements.cpp):
// the recording app's client id and the time the record is for.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/core/time.hpp"

namespace careloop::care::detail {

inline constexpr std::int64_t future_skew_ms = 5 * 60'000;
inline constexpr std::int64_t oldest_record_ms = -2'208'988'800'000;  // 1900-01-01

// A lower-case UUID, or up to 64 of a-z, 0-9 and '-': the resend key.
inline void check_client_id(const std::string& id, std::vector<core::FieldError>& errors) {
  const bool ok = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
  if (!ok) errors.push_back({"/client_id", "a lower-case UUID (or up to 64 of a-z, 0-9 and '-') is required"});
}

// Not in the future (5 minutes of clock skew allowed) and not before 1900.
inline void check_recorded_at(const core::Instant& at, std::int64_t now_ms, const std::string& pointer,
                              std::vector<core::FieldError>& errors) {
  if (at.utc_ms > now_ms + future_skew_ms) errors.push_back({pointer, "is in the future"});
  if (at.utc_ms < oldest_record_ms) errors.push_back({pointer, "is before 1900"});
}

}  // namespace careloop::care::detail
