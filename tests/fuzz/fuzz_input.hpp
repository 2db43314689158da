#pragma once
// What the fuzzers share: request bytes parsed as JSON the way the server's
// parse_json_body does (nesting capped at 64, parse errors are a refusal,
// not a crash), and the fixed "now" the parsers judge the future against.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "careloop/core/time.hpp"

namespace careloop::fuzz {

// Mirrors server::max_json_depth; the server library itself (Beast) is not
// linked into the fuzzers.
inline constexpr int max_json_depth = 64;

// A discarded value when the bytes are not JSON the server would accept.
inline nlohmann::json parse_body(const std::uint8_t* data, std::size_t size) {
  bool too_deep = false;
  auto guard = [&too_deep](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    using E = nlohmann::json::parse_event_t;
    if ((event == E::object_start || event == E::array_start) && depth >= max_json_depth) too_deep = true;
    return !too_deep;
  };
  auto j = nlohmann::json::parse(data, data + size, guard, /*allow_exceptions=*/false);
  if (too_deep) return nlohmann::json(nlohmann::json::value_t::discarded);
  return j;
}

inline std::int64_t fixed_now_ms() {
  static const std::int64_t now = core::parse_iso8601("2026-11-01T00:00:00Z").instant->utc_ms;
  return now;
}

// A broken invariant: abort so libFuzzer keeps the input.
#define CARELOOP_FUZZ_ASSERT(cond)                                                            \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)

}  // namespace careloop::fuzz
