// reports/src/calendar.cpp: months of the reporting time zone.
#include <catch2/catch.hpp>

#include "careloop/core/time.hpp"
#include "careloop/reports/calendar.hpp"

using namespace careloop;

namespace {
std::int64_t utc(const char* iso) { return core::parse_iso8601(iso).instant->utc_ms; }
}  // namespace

TEST_CASE("a month of Asia/Shanghai starts at 16:00 UTC the day before") {
  auto cal = reports::Calendar::in_zone("Asia/Shanghai");
  REQUIRE(cal);
  const int oct = reports::month_index(2026, 10);
  CHECK(cal->month_start_ms(oct) == utc("2026-09-30T16:00:00Z"));
  CHECK(cal->month_of(utc("2026-09-30T16:00:00Z")) == oct);
  CHECK(cal->month_of(utc("2026-09-30T15:59:59.999Z")) == oct - 1);
  CHECK(cal->month_end_ms(oct) == utc("2026-10-31T16:00:00Z"));
}

TEST_CASE("a zone with daylight saving time: the month starts at local midnight in the offset of the day") {
  auto cal = reports::Calendar::in_zone("Europe/Berlin");
  REQUIRE(cal);
  CHECK(cal->month_start_ms(reports::month_index(2026, 7)) == utc("2026-06-30T22:00:00Z"));
  CHECK(cal->month_start_ms(reports::month_index(2026, 1)) == utc("2025-12-31T23:00:00Z"));
}

TEST_CASE("an unknown zone is refused") {
  auto cal = reports::Calendar::in_zone("Mars/Olympus_Mons");
  REQUIRE_FALSE(cal);
  CHECK(cal.error().code == core::Errc::invalid);
}

TEST_CASE("months are written and read as YYYY-MM") {
  CHECK(reports::parse_month("2026-10") == reports::month_index(2026, 10));
  CHECK(reports::format_month(reports::month_index(2026, 1) - 1) == "2025-12");
  CHECK_FALSE(reports::parse_month("2026-13"));
  CHECK_FALSE(reports::parse_month("2026-1"));
  CHECK_FALSE(reports::parse_month("26-10-01"));
  CHECK(reports::last_day(reports::month_index(2028, 2)) == "2028-02-29");
  CHECK(reports::format_quarter(reports::month_index(2026, 7)) == "2026-Q3");
}
