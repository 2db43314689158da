#pragma once
// Calendar months of the reporting time zone (DESIGN §4, Time): which month
// an instant falls in, and the instant a month starts. Months are counted as
// year * 12 + (month - 1), so month arithmetic is integer arithmetic.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "careloop/core/result.hpp"

namespace careloop::reports {

inline constexpr std::string_view default_time_zone = "Asia/Shanghai";

class Calendar {
 public:
  // An IANA zone name ("Asia/Shanghai"); invalid naming the zone when unknown.
  static core::Result<Calendar> in_zone(const std::string& zone_name);

  const std::string& zone_name() const noexcept { return name_; }
  int month_of(std::int64_t utc_ms) const;
  std::int64_t month_start_ms(int month) const;
  std::int64_t month_end_ms(int month) const { return month_start_ms(month + 1); }
  // The month that holds this instant (the reporting zone's "now").
  int current_month(std::int64_t now_utc_ms) const { return month_of(now_utc_ms); }

 private:
  struct Zone;
  Calendar(std::string name, std::shared_ptr<const Zone> zone) : name_(std::move(name)), zone_(std::move(zone)) {}
  std::string name_;
  std::shared_ptr<const Zone> zone_;
};

inline int month_index(int year, int month) { return year * 12 + (month - 1); }
inline int year_of(int month) { return month / 12; }
inline int month_number(int month) { return month % 12 + 1; }

// "2026-10" ↔ month index; nullopt for anything else.
std::optional<int> parse_month(std::string_view text);
std::string format_month(int month);
// The month's last day, YYYY-MM-DD.
std::string last_day(int month);
// "2026-Q3" for a quarter's first month.
std::string format_quarter(int first_month);

}  // namespace careloop::reports
