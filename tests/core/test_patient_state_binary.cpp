// The binary form of PatientState: exact round trips (against the JSON form
// and against a fresh fold of the same readings), a fixed little-endian
// header, and refusal of every truncation, every single-byte change and
// structurally bad bodies that carry a valid checksum.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"

using namespace careloop::core;

namespace {

constexpr std::int64_t minute_ms = 60'000;
constexpr std::int64_t day_ms = 24 * 60 * minute_ms;
const std::int64_t t0 = days_from_civil(2026, 1, 1) * day_ms;

// Readings of every kind over `days` days, a few of them late (out of time order), in two offsets.
std::vector<Reading> history(std::uint64_t seed, int days) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Reading> out;
  for (int d = 0; d < days; ++d) {
    const int per_day = static_cast<int>(u(rng) * 5);
    for (int i = 0; i < per_day; ++i) {
      Reading r;
      const bool late = u(rng) < 0.05;
      r.taken_at = {t0 + (late ? d - 3 : d) * day_ms + static_cast<std::int64_t>(u(rng) * day_ms),
                    u(rng) < 0.8 ? 480 : -300};
      r.kind = static_cast<ReadingKind>(static_cast<int>(u(rng) * 6));
      switch (r.kind) {
        case ReadingKind::blood_pressure:
          r.systolic_mmhg = 100 + u(rng) * 80;
          r.diastolic_mmhg = 60 + u(rng) * 40;
          if (u(rng) < 0.5) r.pulse_bpm = 50 + u(rng) * 50;
          break;
        case ReadingKind::glucose:
          r.glucose_mmol_l = 3 + u(rng) * 12;
          if (u(rng) < 0.7) r.glucose_context = u(rng) < 0.5 ? GlucoseContext::fasting : GlucoseContext::after_meal;
          break;
        case ReadingKind::weight: r.weight_kg = 50 + u(rng) * 50; break;
        case ReadingKind::heart_rate: r.pulse_bpm = 50 + u(rng) * 60; break;
        case ReadingKind::hba1c: r.hba1c_percent = 5 + u(rng) * 5; break;
        case ReadingKind::medication:
          r.medication_name = "metformin";
          r.medication_status = u(rng) < 0.8 ? MedicationStatus::taken : MedicationStatus::missed;
          break;
      }
      out.push_back(r);
    }
  }
  return out;
}

// The standard CRC-32, bit by bit, independent of the implementation's table.
std::uint32_t reference_crc32(std::string_view bytes) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

std::uint32_t le32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

// Rewrites the length and checksum fields so a changed body passes them.
std::string reseal(std::string blob) {
  const auto length = static_cast<std::uint32_t>(blob.size());
  const std::uint32_t crc = reference_crc32(std::string_view(blob).substr(16));
  for (std::size_t i = 0; i < 4; ++i) {
    blob[8 + i] = static_cast<char>((length >> (8 * i)) & 0xFF);
    blob[12 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  }
  return blob;
}

}  // namespace

TEST_CASE("patient state binary: round trip equals the state, its JSON round trip and a fresh fold") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const auto readings = history(seed, 150);  // more than the 100 retained days: some only count
    const auto s = PatientState::from_readings(readings);
    REQUIRE(s.readings_applied() == static_cast<std::int64_t>(readings.size()));
    REQUIRE(s.recent().size() == PatientState::recent_capacity);
    const std::string blob = s.to_binary();
    auto back = PatientState::from_binary(blob);
    REQUIRE(back.ok());
    CHECK(*back == s);
    CHECK(*back == PatientState::from_json(s.to_json()).value());
    CHECK(*back == PatientState::from_readings(readings));
    CHECK(back->to_binary() == blob);
    CHECK(blob.size() < s.to_json().size());
    // A decoded state goes on folding exactly like the original.
    auto more = history(seed + 100, 3);
    for (auto& r : more) r.taken_at.utc_ms += 150 * day_ms;
    PatientState a = s, b = *back;
    for (const auto& r : more) a.apply(r), b.apply(r);
    CHECK(a == b);
  }
  const PatientState empty;
  CHECK(PatientState::from_binary(empty.to_binary()).value() == empty);
}

TEST_CASE("patient state binary: fixed little-endian header") {
  PatientState s;
  Reading r;
  r.kind = ReadingKind::weight;
  r.taken_at = {t0, 480};
  r.weight_kg = 70.5;
  s.apply(r);
  const std::string blob = s.to_binary();
  REQUIRE(blob.size() > 16);
  CHECK(blob.substr(0, 4) == "CLPS");
  CHECK(blob[4] == 1);  // version 1, little-endian u16
  CHECK(blob[5] == 0);
  CHECK(blob[6] == 0);  // flags
  CHECK(blob[7] == 0);
  CHECK(le32(blob, 8) == blob.size());
  CHECK(le32(blob, 12) == reference_crc32(std::string_view(blob).substr(16)));
  // The body starts with the last offset, i32 little-endian: 480 = 0x01E0.
  CHECK(static_cast<unsigned char>(blob[16]) == 0xE0);
  CHECK(static_cast<unsigned char>(blob[17]) == 0x01);
}

TEST_CASE("patient state binary: every truncation, extension and single-byte change is refused") {
  const std::string blob = PatientState::from_readings(history(7, 60)).to_binary();
  for (std::size_t n = 0; n < blob.size(); ++n) {
    auto got = PatientState::from_binary(std::string_view(blob).substr(0, n));
    REQUIRE_FALSE(got.ok());
    CHECK(got.error().code == Errc::invalid);
    CHECK(got.error().message.rfind("patient state (binary", 0) == 0);
  }
  CHECK_FALSE(PatientState::from_binary(blob + std::string(1, '\0')).ok());
  CHECK(PatientState::from_binary(blob + "x").error().message.find("trailing bytes") != std::string::npos);
  CHECK(PatientState::from_binary(blob.substr(0, blob.size() - 1)).error().message.find("truncated") !=
        std::string::npos);
  for (std::size_t i = 0; i < blob.size(); ++i)
    for (unsigned flip : {0x01u, 0x80u, 0xFFu}) {
      std::string bad = blob;
      bad[i] = static_cast<char>(static_cast<unsigned char>(bad[i]) ^ flip);
      INFO("byte " << i << " xor " << flip);
      REQUIRE_FALSE(PatientState::from_binary(bad).ok());
    }
  CHECK(PatientState::from_binary(std::string(blob).replace(0, 4, "CLPX")).error().message.find("magic") !=
        std::string::npos);
  std::string v2 = blob;
  v2[4] = 2;
  CHECK(PatientState::from_binary(v2).error().message.find("version 2") != std::string::npos);
  std::string body_flip = blob;
  body_flip[40] = static_cast<char>(body_flip[40] ^ 0x10);
  CHECK(PatientState::from_binary(body_flip).error().message.find("checksum") != std::string::npos);
}

TEST_CASE("patient state binary: a bad body with a valid checksum is refused, random bodies never crash") {
  PatientState s;
  Reading r;
  r.kind = ReadingKind::glucose;
  r.taken_at = {t0, 480};
  r.glucose_mmol_l = 6.2;
  s.apply(r);
  const std::string blob = s.to_binary();
  // Layout of this state: header 16, scalars 4+8+8+48+8 = 76 → day count at 92, day at 94, mask at 102.
  CHECK(PatientState::from_binary(reseal(blob)).ok());  // resealing alone changes nothing
  std::string bad_metric = blob;
  bad_metric[102] = static_cast<char>(0x40);  // bit 6: no such metric
  CHECK(PatientState::from_binary(reseal(bad_metric)).error().message.find("unknown metric") != std::string::npos);
  std::string two_days = blob;
  two_days[92] = 2;  // says two days, holds one: the rest is read as a day and found wanting
  CHECK_FALSE(PatientState::from_binary(reseal(two_days)).ok());
  std::string no_latest = blob.substr(0, blob.size() - 1);  // drops the last byte of the latest reading
  CHECK(PatientState::from_binary(reseal(no_latest)).error().message.find("truncated or corrupt") != std::string::npos);
  // The single recent reading's kind byte follows its time (8) and offset (4).
  // The day: i64 day, mask, the one stat (varint count, form byte, three f64: 6.2 is not whole), three varints.
  const std::size_t day_end = 94 + 8 + 1 + (1 + 1 + 24) + 3;
  const std::size_t kind_at = day_end + 2 + 8 + 4;
  REQUIRE(static_cast<unsigned char>(blob[kind_at]) == static_cast<unsigned>(ReadingKind::glucose));
  std::string bad_kind = blob;
  bad_kind[kind_at] = 9;
  CHECK(PatientState::from_binary(reseal(bad_kind)).error().message.find("unknown reading kind") != std::string::npos);

  std::mt19937_64 rng(42);
  const std::string big = PatientState::from_readings(history(9, 40)).to_binary();
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string garbled = big;
    const int changes = 1 + static_cast<int>(rng() % 8);
    for (int c = 0; c < changes; ++c) garbled[16 + rng() % (garbled.size() - 16)] = static_cast<char>(rng());
    if (rng() % 4 == 0) garbled.resize(16 + rng() % (garbled.size() - 16));
    auto got = PatientState::from_binary(reseal(garbled));
    if (!got.ok()) {
      ++refused;
      CHECK(got.error().message.rfind("patient state (binary", 0) == 0);
    } else {
      // Whatever is accepted is a well-formed state: it encodes and decodes again (NaN
      // values may hide in it, so bytes are compared, not states).
      const std::string again = got->to_binary();
      CHECK(PatientState::from_binary(again).value().to_binary() == again);
    }
  }
  CHECK(refused > 0);
}

TEST_CASE("patient state binary: whole numbers (blood pressure, pulse) take half the bytes and stay exact") {
  PatientState bp, glucose_only;
  for (int d = 0; d < 90; ++d) {
    Reading r;
    r.kind = ReadingKind::blood_pressure;
    r.taken_at = {t0 + d * day_ms + 7 * 60 * minute_ms, 480};
    r.systolic_mmhg = 120 + d % 17;
    r.diastolic_mmhg = 80 + d % 9;
    r.pulse_bpm = 70 + d % 5;
    bp.apply(r);
    Reading g;
    g.kind = ReadingKind::glucose;
    g.taken_at = r.taken_at;
    g.glucose_mmol_l = 5.9 + (d % 7) * 0.1;
    g.glucose_context = GlucoseContext::fasting;
    glucose_only.apply(g);
  }
  const auto bp_blob = bp.to_binary();
  const auto glucose_blob = glucose_only.to_binary();
  CHECK(PatientState::from_binary(bp_blob).value() == bp);
  CHECK(PatientState::from_binary(glucose_blob).value() == glucose_only);
  // Three whole-number metrics a day cost less than one fractional one.
  CHECK(bp_blob.size() < glucose_blob.size() * 3 / 2);
  // -0.0, fractions and values beyond i32 are kept as doubles, exactly.
  PatientState odd;
  for (double v : {-0.0, 2.5, 3e9, -3e9, 1e-300}) {
    Reading w;
    w.kind = ReadingKind::weight;
    w.taken_at = {t0, 480};
    w.weight_kg = v;
    odd.apply(w);
  }
  const auto back = PatientState::from_binary(odd.to_binary()).value();
  CHECK(back == odd);
  CHECK(std::signbit(*back.recent().front().weight_kg) == std::signbit(*odd.recent().front().weight_kg));
}
