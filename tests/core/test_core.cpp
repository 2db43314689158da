#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "careloop/core/domain.hpp"
#include "careloop/core/plausibility.hpp"
#include "careloop/core/reading.hpp"
#include "careloop/core/time.hpp"
#include "careloop/core/units.hpp"

using namespace careloop::core;

TEST_CASE("glucose, weight and HbA1c convert to canonical units") {
  CHECK(glucose_to_mmol_l(126, GlucoseUnit::mg_dl) == Approx(6.9938).epsilon(1e-4));
  CHECK(glucose_to_mmol_l(7.0, GlucoseUnit::mmol_l) == 7.0);
  CHECK(mmol_l_to_mg_dl(glucose_to_mmol_l(180, GlucoseUnit::mg_dl)) == Approx(180));
  CHECK(weight_to_kg(154, WeightUnit::lb) == Approx(69.853).epsilon(1e-4));
  CHECK(weight_to_kg(70500, WeightUnit::g) == Approx(70.5));
  // 53 mmol/mol IFCC is 7.0 % NGSP by the master equation.
  CHECK(hba1c_to_percent(53, Hba1cUnit::mmol_mol) == Approx(7.0004).epsilon(1e-4));
  CHECK(parse_glucose_unit("mg/dL") == GlucoseUnit::mg_dl);
  CHECK_FALSE(parse_glucose_unit("mg/dl").has_value());
  CHECK_FALSE(parse_weight_unit("stone").has_value());
}

TEST_CASE("ISO 8601 date-times need an offset and keep it") {
  auto t = parse_iso8601("2026-11-25T08:30:00+08:00");
  REQUIRE(t.instant);
  CHECK(t.instant->offset_min == 480);
  CHECK(format_iso8601_utc(t.instant->utc_ms) == "2026-11-25T00:30:00.000Z");
  CHECK(format_iso8601(*t.instant) == "2026-11-25T08:30:00.000+08:00");

  auto z = parse_iso8601("2026-03-01T23:59:59.5Z");
  REQUIRE(z.instant);
  CHECK(z.instant->utc_ms % 1000 == 500);
  auto neg = parse_iso8601("2026-01-01T00:00-05:30");
  REQUIRE(neg.instant);
  CHECK(neg.instant->offset_min == -330);
  CHECK(format_iso8601(*neg.instant) == "2026-01-01T00:00:00.000-05:30");

  CHECK_FALSE(parse_iso8601("2026-11-25T08:30:00").instant);  // no offset
  CHECK(parse_iso8601("2026-11-25T08:30:00").error.find("offset") != std::string::npos);
  CHECK_FALSE(parse_iso8601("2026-02-30T08:30:00Z").instant);
  CHECK_FALSE(parse_iso8601("2026-11-25 08:30:00Z").instant);
  CHECK_FALSE(parse_iso8601("2026-11-25T24:00:00Z").instant);
  CHECK_FALSE(parse_iso8601("2026-11-25T08:30:00+25:00").instant);
  CHECK_FALSE(parse_iso8601("2026-11-25T08:30:00Zjunk").instant);
  CHECK_FALSE(parse_iso8601("").instant);
}

TEST_CASE("civil dates round-trip") {
  for (std::int64_t d = -800; d < 30000; d += 37) CHECK(parse_date_days(format_date(d)) == d);
  CHECK(parse_date_days("2024-02-29") == days_from_civil(2024, 2, 29));
  CHECK_FALSE(parse_date_days("2023-02-29"));
  CHECK(format_date(0) == "1970-01-01");
}

TEST_CASE("plausibility names the field and the range") {
  Reading r;
  r.kind = ReadingKind::blood_pressure;
  r.systolic_mmhg = 310;
  r.diastolic_mmhg = 90;
  r.taken_at = {1'000'000, 0};
  auto e = check_plausibility(r, "/readings/2", 2'000'000);
  REQUIRE(e.size() == 1);
  CHECK(e[0].pointer == "/readings/2/systolic");
  CHECK(e[0].detail.find("50–300") != std::string::npos);

  r.systolic_mmhg = 80;
  r.diastolic_mmhg = 90;
  e = check_plausibility(r, "/r", 2'000'000);
  REQUIRE(e.size() == 1);
  CHECK(e[0].detail.find("higher than diastolic") != std::string::npos);

  r.systolic_mmhg = 120;
  r.diastolic_mmhg = 80;
  CHECK(check_plausibility(r, "/r", 2'000'000).empty());
  // Ten minutes of clock skew are allowed, eleven are not.
  r.taken_at.utc_ms = 2'000'000 + 10 * 60'000;
  CHECK(check_plausibility(r, "/r", 2'000'000).empty());
  r.taken_at.utc_ms = 2'000'000 + 11 * 60'000;
  CHECK(check_plausibility(r, "/r", 2'000'000).at(0).pointer == "/r/taken_at");

  Reading g;
  g.kind = ReadingKind::glucose;
  g.glucose_mmol_l = 0.4;
  CHECK(check_plausibility(g, "/g", 0).at(0).pointer == "/g/value");
  g.glucose_mmol_l = 55;
  CHECK(check_plausibility(g, "/g", 0).empty());
  Reading w;
  w.kind = ReadingKind::weight;
  w.weight_kg = 1.9;
  CHECK(check_plausibility(w, "/w", 0).size() == 1);
  Reading h;
  h.kind = ReadingKind::hba1c;
  h.hba1c_percent = 20.1;
  CHECK(check_plausibility(h, "/h", 0).size() == 1);
}

TEST_CASE("enum names round-trip") {
  for (auto k : {ReadingKind::blood_pressure, ReadingKind::glucose, ReadingKind::weight, ReadingKind::heart_rate,
                 ReadingKind::hba1c, ReadingKind::medication})
    CHECK(parse_reading_kind(to_string(k)) == k);
  for (auto r : {Role::patient, Role::doctor, Role::authority, Role::admin}) CHECK(parse_role(to_string(r)) == r);
  CHECK_FALSE(parse_reading_kind("Blood_Pressure"));
  CHECK(parse_region_level("community") == RegionLevel::community);
}
