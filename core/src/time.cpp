#include "careloop/core/time.hpp"

#include <chrono>
#include <cstdio>

namespace careloop::core {

std::int64_t days_from_civil(int y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

unsigned days_in_month(int y, unsigned m) {
  static constexpr unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : dm[m - 1];
}

bool valid_date(int y, int m, int d) {
  return y >= 1900 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
         static_cast<unsigned>(d) <= days_in_month(y, static_cast<unsigned>(m));
}

}  // namespace

std::optional<std::int64_t> parse_date_days(std::string_view s) {
  int y = 0, m = 0, d = 0;
  if (s.size() != 10 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, m) || s[7] != '-' ||
      !digits(s, 8, 2, d) || !valid_date(y, m, d))
    return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

std::string format_date(std::int64_t days) {
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

ParsedInstant parse_iso8601(std::string_view s) {
  auto fail = [](std::string msg) { return ParsedInstant{std::nullopt, std::move(msg)}; };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (s.size() < 16 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi))
    return fail("expected an ISO 8601 date-time such as 2026-11-25T08:30:00+08:00");
  if (!valid_date(y, mo, d)) return fail("not a real calendar date");
  if (h > 23 || mi > 59) return fail("hour or minute out of range");
  std::size_t pos = 16;
  int ms = 0;
  if (pos < s.size() && s[pos] == ':') {
    if (!digits(s, pos + 1, 2, sec) || sec > 60) return fail("seconds must be two digits 00-59");
    if (sec == 60) sec = 59;  // a leap second is kept inside its minute
    pos += 3;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      std::size_t n = 0;
      int scale = 100;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (n < 3) ms += (s[pos] - '0') * scale, scale /= 10;
        ++pos, ++n;
      }
      if (n == 0 || n > 9) return fail("fraction of a second must have 1 to 9 digits");
    }
  }
  if (pos >= s.size()) return fail("the time has no UTC offset: add 'Z' or an offset such as +08:00");
  int offset = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh = 0, om = 0;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om))
      return fail("the UTC offset must be written ±hh:mm");
    if (oh > 18 || om > 59) return fail("the UTC offset is out of range");
    offset = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return fail("unexpected text after the time; expected 'Z' or ±hh:mm");
  }
  if (pos != s.size()) return fail("unexpected text after the UTC offset");
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const std::int64_t local_ms = ((days * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL + ms;
  return ParsedInstant{Instant{local_ms - offset * 60000LL, offset}, {}};
}

std::string format_iso8601(const Instant& t) {
  const std::int64_t local = t.utc_ms + t.offset_min * 60000LL;
  std::int64_t days = local / 86400000LL;
  std::int64_t rem = local % 86400000LL;
  if (rem < 0) rem += 86400000LL, --days;
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  const auto h = rem / 3600000, mi = rem / 60000 % 60, sec = rem / 1000 % 60, ms = rem % 1000;
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lld", y, m, d,
                        static_cast<long long>(h), static_cast<long long>(mi), static_cast<long long>(sec),
                        static_cast<long long>(ms));
  if (t.offset_min == 0) {
    std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "Z");
  } else {
    const int a = t.offset_min < 0 ? -t.offset_min : t.offset_min;
    std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "%c%02d:%02d", t.offset_min < 0 ? '-' : '+',
                  a / 60, a % 60);
  }
  return buf;
}

std::string format_iso8601_utc(std::int64_t utc_ms) { return format_iso8601(Instant{utc_ms, 0}); }

std::int64_t now_utc_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace careloop::core
