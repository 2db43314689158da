#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "careloop/core/time.hpp"
#include "careloop/mobile_api/reading_json.hpp"

using namespace careloop;
using nlohmann::json;
using mobile_api::parse_reading;
using mobile_api::parse_reading_batch;

namespace {
const std::int64_t now = core::parse_iso8601("2026-11-25T12:00:00Z").instant->utc_ms;

json bp(json extra = json::object()) {
  json j{{"client_id", "0B7E4A0C-5D9E-4F8A-9C1E-2F3A4B5C6D7E"}, {"kind", "blood_pressure"},
         {"taken_at", "2026-11-25T07:30:00+08:00"}, {"systolic", 152}, {"diastolic", 94}, {"pulse", 71}, {"unit", "mmHg"}};
  j.update(extra);
  return j;
}

std::vector<core::FieldError> errors_of(const mobile_api::ParsedItem& p) {
  REQUIRE(std::holds_alternative<std::vector<core::FieldError>>(p));
  return std::get<std::vector<core::FieldError>>(p);
}
core::Reading reading_of(const mobile_api::ParsedItem& p) {
  if (auto* e = std::get_if<std::vector<core::FieldError>>(&p)) FAIL(e->front().pointer << ": " << e->front().detail);
  return std::get<core::Reading>(p);
}
}  // namespace

TEST_CASE("a blood pressure reading becomes canonical") {
  auto r = reading_of(parse_reading(bp(), "/readings/0", now));
  CHECK(r.kind == core::ReadingKind::blood_pressure);
  CHECK(r.client_id == "0b7e4a0c-5d9e-4f8a-9c1e-2f3a4b5c6d7e");
  CHECK(*r.systolic_mmhg == 152);
  CHECK(*r.diastolic_mmhg == 94);
  CHECK(*r.pulse_bpm == 71);
  CHECK(r.taken_at.offset_min == 480);
  CHECK(core::format_iso8601_utc(r.taken_at.utc_ms) == "2026-11-24T23:30:00.000Z");
}

TEST_CASE("glucose in mg/dL is converted and the sent value kept") {
  json g{{"client_id", "1b7e4a0c-5d9e-4f8a-9c1e-2f3a4b5c6d7e"}, {"kind", "glucose"}, {"taken_at", "2026-11-25T06:40:00+08:00"},
         {"value", 126}, {"unit", "mg/dL"}, {"context", "fasting"}};
  auto r = reading_of(parse_reading(g, "/readings/0", now));
  CHECK(*r.glucose_mmol_l == Approx(126 / 18.016));
  CHECK(*r.value_as_sent == 126);
  CHECK(r.unit_as_sent == "mg/dL");
  CHECK(r.glucose_context == core::GlucoseContext::fasting);
  g["value"] = 1000;  // 55.5 mmol/L after conversion
  auto e = errors_of(parse_reading(g, "/readings/4", now));
  CHECK(e.at(0).pointer == "/readings/4/value");
  g["value"] = 5.5;
  g["unit"] = "mmol/l";
  CHECK(errors_of(parse_reading(g, "/readings/4", now)).at(0).pointer == "/readings/4/unit");
}

TEST_CASE("weight, hba1c, heart rate and medication") {
  json w{{"client_id", "2b7e4a0c-5d9e-4f8a-9c1e-2f3a4b5c6d7e"}, {"kind", "weight"}, {"taken_at", "2026-11-25T06:40:00Z"},
         {"value", 154}, {"unit", "lb"}};
  CHECK(*reading_of(parse_reading(w, "/r", now)).weight_kg == Approx(69.853).epsilon(1e-4));
  json h{{"client_id", "3b7e4a0c-5d9e-4f8a-9c1e-2f3a4b5c6d7e"}, {"kind", "hba1c"}, {"taken_at", "2026-11-25T06:40:00Z"},
         {"value", 53}, {"unit", "mmol/mol"}};
  CHECK(*reading_of(parse_reading(h, "/r", now)).hba1c_percent == Approx(7.0).epsilon(1e-3));
  json hr{{"client_id", "4b7e4a0c-5d9e-4f8a-9c1e-2f3a4b5c6d7e"}, {"kind", "heart_rate"}, {"taken_at", "2026-11-25T06:40:00Z"},
          {"value", 310}};
  CHECK(errors_of(parse_reading(hr, "/r", now)).at(0).pointer == "/r/value");
  json m{{"client_id", "5b7e4a0c-5d9e-4f8a-9c1e-2f3a4b5c6d7e"}, {"kind", "medication"}, {"taken_at", "2026-11-25T06:40:00Z"},
         {"name", "amlodipine"}, {"status", "taken"}};
  CHECK(reading_of(parse_reading(m, "/r", now)).medication_status == core::MedicationStatus::taken);
  m["status"] = "maybe";
  CHECK(errors_of(parse_reading(m, "/r", now)).at(0).pointer == "/r/status");
}

TEST_CASE("each wrong field is named by JSON pointer") {
  CHECK(errors_of(parse_reading(bp({{"systolic", "152"}}), "/readings/1", now)).at(0).pointer == "/readings/1/systolic");
  CHECK(errors_of(parse_reading(bp({{"systolic", nullptr}}), "/readings/1", now)).at(0).detail == "systolic is required");
  CHECK(errors_of(parse_reading(bp({{"systolic", 1e300}}), "/x", now)).at(0).pointer == "/x/systolic");
  CHECK(errors_of(parse_reading(bp({{"systolic", true}}), "/x", now)).at(0).pointer == "/x/systolic");
  CHECK(errors_of(parse_reading(bp({{"client_id", "not-a-uuid"}}), "/x", now)).at(0).pointer == "/x/client_id");
  CHECK(errors_of(parse_reading(bp({{"kind", "cholesterol"}}), "/x", now)).at(0).pointer == "/x/kind");
  auto no_offset = errors_of(parse_reading(bp({{"taken_at", "2026-11-25T07:30:00"}}), "/x", now));
  CHECK(no_offset.at(0).pointer == "/x/taken_at");
  CHECK(no_offset.at(0).detail.find("offset") != std::string::npos);
  CHECK(errors_of(parse_reading(bp({{"taken_at", "2026-11-25T12:11:00Z"}}), "/x", now)).at(0).pointer == "/x/taken_at");
  CHECK(errors_of(parse_reading(bp({{"unit", "kPa"}}), "/x", now)).at(0).pointer == "/x/unit");
  CHECK(errors_of(parse_reading(bp({{"note", std::string(501, 'a')}}), "/x", now)).at(0).pointer == "/x/note");
  CHECK(errors_of(parse_reading(json::array(), "/x", now)).at(0).pointer == "/x");
  CHECK(errors_of(parse_reading(bp({{"systolic", 90}, {"diastolic", 95}}), "/x", now)).at(0).pointer == "/x/systolic");
}

TEST_CASE("a batch keeps its order and refuses only its bad items") {
  json body{{"readings", {bp(), bp({{"systolic", 400}}), 42}}};
  auto b = parse_reading_batch(body, now);
  REQUIRE(b.ok());
  REQUIRE(b->items.size() == 3);
  CHECK(std::holds_alternative<core::Reading>(b->items[0]));
  CHECK(errors_of(b->items[1]).at(0).pointer == "/readings/1/systolic");
  CHECK(errors_of(b->items[2]).at(0).pointer == "/readings/2");
  CHECK(b->client_ids[0] == "0B7E4A0C-5D9E-4F8A-9C1E-2F3A4B5C6D7E");

  json many{{"readings", json::array()}};
  for (int i = 0; i < 501; ++i) many["readings"].push_back(bp());
  auto too_many = parse_reading_batch(many, now);
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.error().fields.at(0).pointer == "/readings");
  CHECK_FALSE(parse_reading_batch(json::array(), now).ok());
  CHECK_FALSE(parse_reading_batch(json{{"readings", json::array()}}, now).ok());
  CHECK_FALSE(parse_reading_batch(json{{"readings", "x"}}, now).ok());
}
