#pragma once
// Instants are UTC milliseconds since the Unix epoch plus the offset, in
// minutes, that the reading was taken in (DESIGN §4, Time).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace careloop::core {

struct Instant {
  std::int64_t utc_ms = 0;
  int offset_min = 0;  // local time = utc + offset
  friend bool operator==(const Instant&, const Instant&) = default;
};

// Parses RFC 3339 / ISO 8601 extended date-times: YYYY-MM-DDThh:mm[:ss[.fff]]
// followed by 'Z' or ±hh:mm. A date-time without an offset is an error;
// the message says what is wrong.
struct ParsedInstant {
  std::optional<Instant> instant;
  std::string error;
};
ParsedInstant parse_iso8601(std::string_view text);

// Formats as YYYY-MM-DDThh:mm:ss.fff±hh:mm (or Z when the offset is 0).
std::string format_iso8601(const Instant& t);
std::string format_iso8601_utc(std::int64_t utc_ms);

std::int64_t now_utc_ms();

// Days since 1970-01-01 for a civil date, and back (Howard Hinnant's algorithms).
std::int64_t days_from_civil(int y, unsigned m, unsigned d) noexcept;
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) noexcept;

// Parses YYYY-MM-DD; nullopt when malformed or not a real date.
std::optional<std::int64_t> parse_date_days(std::string_view text);
std::string format_date(std::int64_t days);

}  // namespace careloop::core
