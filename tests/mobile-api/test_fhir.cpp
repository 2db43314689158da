#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "careloop/core/time.hpp"
#include "careloop/mobile_api/fhir.hpp"

using namespace careloop;
using namespace careloop::mobile_api;
using nlohmann::json;

namespace {
const std::int64_t now = core::parse_iso8601("2026-11-25T12:00:00Z").instant->utc_ms;

json quantity(double v, const char* code) { return {{"value", v}, {"system", "http://unitsofmeasure.org"}, {"code", code}}; }
json loinc(const char* code) { return {{"coding", {{{"system", "http://loinc.org"}, {"code", code}}}}}; }

json observation(const char* code, json extra) {
  json o{{"resourceType", "Observation"},
         {"status", "final"},
         {"identifier", {{{"system", "urn:omron:device-123"}, {"value", "reading-42"}}}},
         {"code", loinc(code)},
         {"subject", {{"reference", "Patient/7"}}},
         {"effectiveDateTime", "2026-11-25T07:30:00+08:00"}};
  o.update(extra);
  return o;
}

json bp_panel(const char* code = "85354-9", double sys = 150, double dia = 95) {
  return observation(code, {{"component",
                             {{{"code", loinc("8480-6")}, {"valueQuantity", quantity(sys, "mm[Hg]")}},
                              {{"code", loinc("8462-4")}, {"valueQuantity", quantity(dia, "mm[Hg]")}},
                              {{"code", loinc("8867-4")}, {"valueQuantity", quantity(70, "/min")}}}}});
}

fhir::ParsedObservation ok(const fhir::ObservationResult& r) {
  if (auto* e = std::get_if<std::vector<core::FieldError>>(&r)) FAIL(e->front().pointer << ": " << e->front().detail);
  return std::get<fhir::ParsedObservation>(r);
}
std::vector<core::FieldError> bad(const fhir::ObservationResult& r) {
  REQUIRE(std::holds_alternative<std::vector<core::FieldError>>(r));
  return std::get<std::vector<core::FieldError>>(r);
}
}  // namespace

TEST_CASE("FHIR: a BP panel with components, new and old panel codes") {
  for (const char* code : {"85354-9", "55284-4"}) {
    auto p = ok(fhir::parse_observation(bp_panel(code), "", now));
    CHECK(p.reading.kind == core::ReadingKind::blood_pressure);
    CHECK(*p.reading.systolic_mmhg == 150);
    CHECK(*p.reading.diastolic_mmhg == 95);
    CHECK(*p.reading.pulse_bpm == 70);
    CHECK(p.subject_patient_id == 7);
  }
  auto missing = observation("85354-9", {{"component", {{{"code", loinc("8480-6")}, {"valueQuantity", quantity(150, "mm[Hg]")}}}}});
  CHECK(bad(fhir::parse_observation(missing, "", now)).at(0).detail.find("diastolic") != std::string::npos);
  auto kpa = bp_panel();
  kpa["component"][0]["valueQuantity"]["code"] = "kPa";
  CHECK(bad(fhir::parse_observation(kpa, "", now)).at(0).pointer == "/component/0/valueQuantity/code");
  CHECK(bad(fhir::parse_observation(bp_panel("85354-9", 90, 95), "", now)).at(0).pointer == "/component");
}

TEST_CASE("FHIR: glucose codes must match their unit's property") {
  auto mass = observation("41653-7", {{"valueQuantity", quantity(126, "mg/dL")}});
  CHECK(*ok(fhir::parse_observation(mass, "", now)).reading.glucose_mmol_l == Approx(126 / 18.016));
  auto moles = observation("15074-8", {{"valueQuantity", quantity(7.1, "mmol/L")}});
  CHECK(*ok(fhir::parse_observation(moles, "", now)).reading.glucose_mmol_l == Approx(7.1));
  auto mismatch = observation("2345-7", {{"valueQuantity", quantity(7.1, "mmol/L")}});
  auto e = bad(fhir::parse_observation(mismatch, "/entry/0/resource", now));
  CHECK(e.at(0).pointer == "/entry/0/resource/valueQuantity/code");
  CHECK(e.at(0).detail.find("mg/dL") != std::string::npos);
  auto mismatch2 = observation("14749-6", {{"valueQuantity", quantity(126, "mg/dL")}});
  CHECK(bad(fhir::parse_observation(mismatch2, "", now)).size() == 1);
  auto fasting = observation("15074-8", {{"valueQuantity", quantity(6.1, "mmol/L")},
                                         {"extension", {{{"url", fhir::glucose_context_url}, {"valueCode", "fasting"}}}}});
  CHECK(ok(fhir::parse_observation(fasting, "", now)).reading.glucose_context == core::GlucoseContext::fasting);
}

TEST_CASE("FHIR: weight units, heart rate, HbA1c") {
  CHECK(*ok(fhir::parse_observation(observation("29463-7", {{"valueQuantity", quantity(154, "[lb_av]")}}), "", now)).reading.weight_kg ==
        Approx(69.853).epsilon(1e-4));
  CHECK(*ok(fhir::parse_observation(observation("3141-9", {{"valueQuantity", quantity(70500, "g")}}), "", now)).reading.weight_kg ==
        Approx(70.5));
  CHECK(bad(fhir::parse_observation(observation("29463-7", {{"valueQuantity", quantity(70, "kilo")}}), "", now)).size() == 1);
  CHECK(*ok(fhir::parse_observation(observation("8867-4", {{"valueQuantity", quantity(88, "/min")}}), "", now)).reading.pulse_bpm == 88);
  CHECK(*ok(fhir::parse_observation(observation("4548-4", {{"valueQuantity", quantity(7.2, "%")}}), "", now)).reading.hba1c_percent == 7.2);
}

TEST_CASE("FHIR: wrong resources and fields are refused with a location") {
  CHECK(bad(fhir::parse_observation(json{{"resourceType", "Patient"}}, "", now)).at(0).pointer == "/resourceType");
  CHECK(bad(fhir::parse_observation(json::array(), "", now)).size() == 1);
  CHECK(bad(fhir::parse_observation(observation("8302-2", {{"valueQuantity", quantity(170, "cm")}}), "", now)).at(0).pointer ==
        "/code/coding");
  auto no_offset = observation("8867-4", {{"valueQuantity", quantity(88, "/min")}, {"effectiveDateTime", "2026-11-25T07:30:00"}});
  CHECK(bad(fhir::parse_observation(no_offset, "", now)).at(0).pointer == "/effectiveDateTime");
  auto id_object = observation("8867-4", {{"valueQuantity", quantity(88, "/min")}});
  id_object["identifier"] = {{"system", "urn:x"}, {"value", "1"}};
  CHECK(bad(fhir::parse_observation(id_object, "", now)).at(0).pointer == "/identifier");
  auto bad_subject = observation("8867-4", {{"valueQuantity", quantity(88, "/min")}, {"subject", {{"reference", "Patient/abc"}}}});
  CHECK(bad(fhir::parse_observation(bad_subject, "", now)).at(0).pointer == "/subject/reference");
  auto string_value = observation("8867-4", {{"valueQuantity", {{"value", "88"}, {"code", "/min"}}}});
  CHECK(bad(fhir::parse_observation(string_value, "", now)).at(0).pointer == "/valueQuantity/value");
}

TEST_CASE("FHIR: an observation without an identifier gets a client id from its content") {
  auto no_id = observation("8867-4", {{"valueQuantity", quantity(88, "/min")}});
  no_id.erase("identifier");
  const auto a = ok(fhir::parse_observation(no_id, "", now)).reading.client_id;
  CHECK(a.size() == 36);
  CHECK(a == ok(fhir::parse_observation(no_id, "", now)).reading.client_id);
  auto other_value = no_id;
  other_value["valueQuantity"]["value"] = 89;
  CHECK(a != ok(fhir::parse_observation(other_value, "", now)).reading.client_id);
  auto other_time = no_id;
  other_time["effectiveDateTime"] = "2026-11-25T07:31:00+08:00";
  CHECK(a != ok(fhir::parse_observation(other_time, "", now)).reading.client_id);
}

TEST_CASE("FHIR: If-None-Exist names one identifier, as [system|]value, percent-encoded or not") {
  CHECK(*fhir::client_id_for_condition("identifier=urn:omron|reading-42") ==
        fhir::client_id_for_identifier("urn:omron", "reading-42"));
  CHECK(*fhir::client_id_for_condition("identifier=urn%3Aomron%7Creading-42") ==
        fhir::client_id_for_identifier("urn:omron", "reading-42"));
  CHECK(*fhir::client_id_for_condition("identifier=6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B") ==
        "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
  CHECK_FALSE(fhir::client_id_for_condition(""));
  CHECK_FALSE(fhir::client_id_for_condition("code=85354-9"));
  CHECK_FALSE(fhir::client_id_for_condition("identifier=a&identifier=b"));
  CHECK_FALSE(fhir::client_id_for_condition("identifier="));
  CHECK_FALSE(fhir::client_id_for_condition("identifier=%E6%AC"));
  CHECK_FALSE(fhir::client_id_for_condition("identifier=%zz"));
}

TEST_CASE("FHIR: identifiers give stable client ids and round-trip through to_observation") {
  const auto a = fhir::client_id_for_identifier("urn:omron", "reading-42");
  CHECK(a == fhir::client_id_for_identifier("urn:omron", "reading-42"));
  CHECK(a != fhir::client_id_for_identifier("urn:omron", "reading-43"));
  CHECK(a.size() == 36);
  CHECK(a[14] == '8');
  CHECK(fhir::client_id_for_identifier("x", "urn:uuid:0B7E4A0C-5D9E-4F8A-9C1E-2F3A4B5C6D7E") ==
        "0b7e4a0c-5d9e-4f8a-9c1e-2f3a4b5c6d7e");

  auto p = ok(fhir::parse_observation(bp_panel(), "", now));
  p.reading.patient_id = 7;
  auto back = fhir::to_observation(p.reading);
  auto again = ok(fhir::parse_observation(back, "", now));
  CHECK(again.reading.client_id == p.reading.client_id);
  CHECK(*again.reading.systolic_mmhg == 150);
  CHECK(again.reading.taken_at == p.reading.taken_at);
}

TEST_CASE("FHIR: OperationOutcome carries FHIRPath expressions") {
  CHECK(fhir::fhirpath_of("Observation", "/component/0/valueQuantity/code") == "Observation.component[0].valueQuantity.code");
  auto oo = fhir::operation_outcome({{"/entry/2/resource/valueQuantity/code", "bad unit"}});
  CHECK(oo["resourceType"] == "OperationOutcome");
  CHECK(oo["issue"][0]["expression"][0] == "Bundle.entry[2].resource.valueQuantity.code");
  CHECK(oo["issue"][0]["diagnostics"] == "bad unit");
  // "/resourceType" is a field of its own, not the entry's resource; Bundle-level fields stay on the Bundle.
  CHECK(fhir::operation_outcome({{"/resourceType", "x"}})["issue"][0]["expression"][0] == "Observation.resourceType");
  CHECK(fhir::operation_outcome({{"/entry/0/request", "x"}})["issue"][0]["expression"][0] == "Bundle.entry[0].request");
  CHECK(fhir::operation_outcome({{"/entry/1/resource", "x"}})["issue"][0]["expression"][0] == "Bundle.entry[1].resource");
}
