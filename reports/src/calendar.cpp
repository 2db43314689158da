#include "careloop/reports/calendar.hpp"

#include <chrono>
#include <cstdio>

#include <date/tz.h>

#include "careloop/core/time.hpp"

namespace careloop::reports {

struct Calendar::Zone {
  const date::time_zone* tz = nullptr;
};

core::Result<Calendar> Calendar::in_zone(const std::string& zone_name) {
  try {
    const date::time_zone* tz = date::locate_zone(zone_name);
    return Calendar(zone_name, std::make_shared<const Zone>(Zone{tz}));
  } catch (const std::exception& e) {
    return core::Error::invalid("unknown time zone '" + zone_name + "'", {{"/time_zone", e.what()}});
  }
}

int Calendar::month_of(std::int64_t utc_ms) const {
  using namespace std::chrono;
  const auto local = zone_->tz->to_local(sys_time<milliseconds>(milliseconds(utc_ms)));
  const auto ymd = date::year_month_day(date::floor<date::days>(local));
  return month_index(static_cast<int>(ymd.year()), static_cast<int>(static_cast<unsigned>(ymd.month())));
}

std::int64_t Calendar::month_start_ms(int month) const {
  using namespace std::chrono;
  const date::local_days first{date::year(year_of(month)) / date::month(static_cast<unsigned>(month_number(month))) / 1};
  // A zone whose midnight is skipped (a DST change at 00:00) starts the month at the first instant after.
  const auto sys = zone_->tz->to_sys(date::local_time<milliseconds>(first.time_since_epoch()), date::choose::earliest);
  return sys.time_since_epoch().count();
}

std::optional<int> parse_month(std::string_view text) {
  if (text.size() != 7 || text[4] != '-') return std::nullopt;
  int y = 0, m = 0;
  for (int i = 0; i < 4; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    y = y * 10 + (text[i] - '0');
  }
  for (int i = 5; i < 7; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    m = m * 10 + (text[i] - '0');
  }
  if (m < 1 || m > 12 || y < 1900) return std::nullopt;
  return month_index(y, m);
}

std::string format_month(int month) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d", year_of(month), month_number(month));
  return buf;
}

std::string last_day(int month) {
  const std::int64_t next_first = core::days_from_civil(year_of(month + 1), static_cast<unsigned>(month_number(month + 1)), 1);
  return core::format_date(next_first - 1);
}

std::string format_quarter(int first_month) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-Q%d", year_of(first_month), (month_number(first_month) - 1) / 3 + 1);
  return buf;
}

}  // namespace careloop::reports
