#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"

using namespace careloop::core;

namespace {

constexpr std::int64_t minute_ms = 60'000;
constexpr std::int64_t hour_ms = 60 * minute_ms;
constexpr std::int64_t day_ms = 24 * hour_ms;
constexpr int shanghai_min = 480;

// 2026-03-01 00:00 in Shanghai (UTC+8).
const std::int64_t t0 = days_from_civil(2026, 3, 1) * day_ms - shanghai_min * minute_ms;

Reading bp(std::int64_t utc_ms, double sys, double dia, std::optional<double> pulse = std::nullopt) {
  Reading r;
  r.kind = ReadingKind::blood_pressure;
  r.taken_at = {utc_ms, shanghai_min};
  r.systolic_mmhg = sys;
  r.diastolic_mmhg = dia;
  r.pulse_bpm = pulse;
  return r;
}

Reading glucose(std::int64_t utc_ms, double mmol_l, GlucoseContext ctx) {
  Reading r;
  r.kind = ReadingKind::glucose;
  r.taken_at = {utc_ms, shanghai_min};
  r.glucose_mmol_l = mmol_l;
  r.glucose_context = ctx;
  return r;
}

Reading dose(std::int64_t utc_ms, MedicationStatus s) {
  Reading r;
  r.kind = ReadingKind::medication;
  r.taken_at = {utc_ms, shanghai_min};
  r.medication_name = "amlodipine";
  r.medication_status = s;
  return r;
}

}  // namespace

TEST_CASE("patient state: days are local to the reading's own offset") {
  // 07:00 in Shanghai is 23:00 UTC the day before.
  CHECK(local_day(t0 + 7 * hour_ms, shanghai_min) == days_from_civil(2026, 3, 1));
  CHECK(local_day(t0 + 7 * hour_ms, 0) == days_from_civil(2026, 2, 28));
  CHECK(local_day(-1, 0) == -1);
}

TEST_CASE("patient state: window means, min, max and counts over local days") {
  PatientState s;
  for (int d = 0; d < 10; ++d) {
    s.apply(bp(t0 + d * day_ms + 7 * hour_ms, 140 + d, 90));
    s.apply(bp(t0 + d * day_ms + 19 * hour_ms, 130 + d, 80));
  }
  const std::int64_t now = t0 + 9 * day_ms + 20 * hour_ms;
  const auto today = s.today(now);
  CHECK(today == days_from_civil(2026, 3, 10));
  const Stat w7 = s.window(Metric::systolic, today, 7);
  CHECK(w7.count == 14);
  // Days 3..9: the daily means are 135 + d, so the window mean is 141.
  CHECK(*w7.mean() == Approx(141));
  CHECK(w7.min == 133);
  CHECK(w7.max == 149);
  CHECK(s.window(Metric::diastolic, today, 30).count == 20);
  const Stat w24 = s.window_24h(Metric::systolic, now);
  CHECK(w24.count == 2);  // 19:00 yesterday is outside (now − 24 h, now]
  CHECK(*w24.mean() == Approx((149 + 139) / 2.0));
  CHECK(*s.slope_per_day(Metric::systolic, today, 14) == Approx(1.0));
  CHECK_FALSE(s.window(Metric::glucose_fasting, today, 90).count);
}

TEST_CASE("patient state: late readings are folded into their own day and the ring in time order") {
  std::vector<Reading> rs;
  for (int d = 0; d < 20; ++d) rs.push_back(bp(t0 + d * day_ms + 8 * hour_ms, 120 + d, 70 + d % 5, 60 + d));
  PatientState in_order = PatientState::from_readings(rs);
  std::mt19937 rng(7);
  std::shuffle(rs.begin(), rs.end(), rng);
  PatientState shuffled = PatientState::from_readings(rs);
  const std::int64_t now = t0 + 20 * day_ms;
  const auto today = in_order.today(now);
  for (auto m : {Metric::systolic, Metric::diastolic, Metric::pulse}) {
    CHECK(in_order.window(m, today, 7) == shuffled.window(m, today, 7));
    CHECK(in_order.window(m, today, 90) == shuffled.window(m, today, 90));
  }
  CHECK(in_order.recent() == shuffled.recent());
  CHECK(in_order.latest(ReadingKind::blood_pressure) == shuffled.latest(ReadingKind::blood_pressure));
  CHECK(*shuffled.latest(ReadingKind::blood_pressure)->systolic_mmhg == 139);
  CHECK(std::is_sorted(shuffled.recent().begin(), shuffled.recent().end(),
                       [](const RecentReading& a, const RecentReading& b) { return a.utc_ms < b.utc_ms; }));
}

TEST_CASE("patient state: only 100 local days are kept, older late readings only count") {
  PatientState s;
  s.apply(bp(t0, 150, 95));
  s.apply(bp(t0 + 120 * day_ms, 130, 85));
  CHECK(s.days().size() == 1);
  s.apply(bp(t0 + 5 * day_ms, 160, 100));  // 115 days before the newest: too old
  CHECK(s.readings_older_than_retained() == 1);
  CHECK(s.days().size() == 1);
  s.apply(bp(t0 + 30 * day_ms, 125, 80));  // 90 days before the newest: kept
  CHECK(s.days().size() == 2);
  CHECK(s.readings_applied() == 4);
}

TEST_CASE("patient state: the raw ring keeps the newest readings") {
  PatientState s;
  for (std::size_t i = 0; i < PatientState::recent_capacity + 10; ++i)
    s.apply(bp(t0 + static_cast<std::int64_t>(i) * hour_ms, 120, 80));
  CHECK(s.recent().size() == PatientState::recent_capacity);
  CHECK(s.recent().front().utc_ms == t0 + 10 * hour_ms);
  s.apply(bp(t0, 200, 120));  // older than everything in a full ring
  CHECK(s.recent().front().utc_ms == t0 + 10 * hour_ms);
}

TEST_CASE("patient state: glucose is split fasting / non-fasting with time in range") {
  PatientState s;
  s.apply(glucose(t0 + 7 * hour_ms, 7.4, GlucoseContext::fasting));
  s.apply(glucose(t0 + 9 * hour_ms, 11.0, GlucoseContext::after_meal));
  s.apply(glucose(t0 + 11 * hour_ms, 6.0, GlucoseContext::before_meal));
  s.apply(glucose(t0 + 22 * hour_ms, 3.5, GlucoseContext::bedtime));
  const auto today = s.today(t0 + 23 * hour_ms);
  CHECK(s.window(Metric::glucose_fasting, today, 7).count == 1);
  CHECK(s.window(Metric::glucose_nonfasting, today, 7).count == 3);
  CHECK(s.window(Metric::glucose_nonfasting, today, 7).min == 3.5);
  CHECK(s.glucose_in_range(today, 7) == std::pair<std::int32_t, std::int32_t>{2, 4});
}

TEST_CASE("patient state: medication log adherence counters") {
  PatientState s;
  for (int d = 0; d < 10; ++d) s.apply(dose(t0 + d * day_ms + 8 * hour_ms, d % 5 == 0 ? MedicationStatus::missed : MedicationStatus::taken));
  const auto log = s.medication_log(local_day(t0 + 9 * day_ms, shanghai_min), 30);
  CHECK(log.first == 8);
  CHECK(log.second == 2);
  CHECK_FALSE(s.latest(ReadingKind::medication).has_value());
  CHECK_FALSE(s.last_reading_ms().has_value());
}

TEST_CASE("patient state: JSON round trip is exact and rejects damage") {
  PatientState s;
  for (int d = 0; d < 40; ++d) {
    s.apply(bp(t0 + d * day_ms + 8 * hour_ms, 120.5 + d, 80, 70));
    s.apply(glucose(t0 + d * day_ms + 7 * hour_ms, 6.1 + d * 0.01, GlucoseContext::fasting));
    s.apply(dose(t0 + d * day_ms + 9 * hour_ms, MedicationStatus::taken));
  }
  const std::string text = s.to_json();
  auto back = PatientState::from_json(text);
  REQUIRE(back.ok());
  CHECK(*back == s);
  CHECK(back->to_json() == text);
  CHECK_FALSE(PatientState::from_json("{").ok());
  CHECK_FALSE(PatientState::from_json(R"({"v":2})").ok());
  CHECK(PatientState::from_json(R"({"v":1})").error().message.find("patient state") == 0);
}

TEST_CASE("patient state: a digest answers its kept windows exactly as the state does, before and after new readings") {
  const KeptWindow keep[] = {{Metric::systolic, 30}, {Metric::diastolic, 30}, {Metric::glucose_fasting, 90},
                             {Metric::weight, 90}};
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> kind(0, 4), minute(0, 24 * 60 - 1), late(0, 9), back_days(1, 120);
  std::uniform_real_distribution<double> unit(0, 1);
  auto random_reading = [&](std::int64_t day_start) {
    std::int64_t t = day_start + minute(rng) * minute_ms;
    if (late(rng) == 0) t -= back_days(rng) * day_ms;  // an offline phone's late reading
    const int offset = unit(rng) < 0.9 ? shanghai_min : -300;  // a trip abroad now and then
    Reading r;
    switch (kind(rng)) {
      case 0: r = bp(t, 100 + 80 * unit(rng), 60 + 40 * unit(rng), 70); break;
      case 1: r = glucose(t, 4 + 8 * unit(rng), GlucoseContext::fasting); break;
      case 2: r = glucose(t, 5 + 8 * unit(rng), GlucoseContext::after_meal); break;
      case 3: r.kind = ReadingKind::weight, r.weight_kg = 60 + 30 * unit(rng); break;
      default: r = dose(t, MedicationStatus::taken); break;
    }
    r.taken_at = {t, offset};
    return r;
  };
  int checked = 0;
  for (int patient = 0; patient < 20; ++patient) {
    PatientState full;
    std::int64_t day = t0;
    // Some history, then a digest cut at a "now", then more readings applied to both.
    const int history_days = 20 + patient * 9;
    for (int d = 0; d < history_days; ++d, day += day_ms)
      for (int n = static_cast<int>(unit(rng) * 4); n > 0; --n) full.apply(random_reading(day));
    const std::int64_t cut_now = day + 9 * hour_ms;
    PatientState digest = full.digest(keep, cut_now);
    const std::int64_t cut_today = full.today(cut_now);
    CHECK(digest.recent().empty());
    CHECK(digest.days().size() <= full.days().size());
    REQUIRE(PatientState::from_binary(digest.to_binary()).value() == digest);
    for (int d = 0; d < 15; ++d, day += day_ms) {
      for (int n = static_cast<int>(unit(rng) * 3); n > 0; --n) {
        const Reading r = random_reading(day);
        full.apply(r);
        digest.apply(r);
      }
      const std::int64_t now = day + 20 * hour_ms;
      REQUIRE(digest.today(now) == full.today(now));
      for (std::int64_t today = cut_today - 1; today <= full.today(now) + 2; ++today)
        for (const auto& k : keep) {
          INFO("patient " << patient << " today " << today << " metric " << to_string(k.metric));
          const Stat a = digest.window(k.metric, today, k.days), b = full.window(k.metric, today, k.days);
          REQUIRE(a.count == b.count);
          REQUIRE(a.sum == Approx(b.sum));
          ++checked;
        }
    }
  }
  CHECK(checked > 5000);
  // Two days before the cut, a 30-day window would reach a day the digest dropped.
  PatientState full;
  for (int d = 0; d < 40; ++d) full.apply(bp(t0 + d * day_ms + hour_ms, 120 + d, 80));
  const std::int64_t now = t0 + 39 * day_ms + 2 * hour_ms;
  const auto digest = full.digest(keep, now);
  CHECK(digest.window(Metric::systolic, full.today(now) - 2, 30).count + 1 ==
        full.window(Metric::systolic, full.today(now) - 2, 30).count);
  CHECK(digest.to_binary().size() < full.to_binary().size() / 2);
}
