// libFuzzer target: bytes → JSON → fhir::parse_observation, the parser
// behind POST /fhir/Observation, and each entry of a Bundle the way POST
// /fhir reads one. Beyond "no crash, no UB, no leak": an accepted
// Observation is plausible and survives to_observation → parse_observation
// unchanged; a refused one names fields under its own pointer and turns
// into an OperationOutcome.
#include <cstdio>
#include <cstdlib>
#include <variant>

#include "careloop/core/plausibility.hpp"
#include "careloop/mobile_api/fhir.hpp"
#include "careloop/mobile_api/reading_json.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace careloop;
namespace fhir = careloop::mobile_api::fhir;
using nlohmann::json;

void check_round_trip(const fhir::ParsedObservation& parsed, std::int64_t now) {
  core::Reading r = parsed.reading;
  r.patient_id = parsed.subject_patient_id.value_or(1);  // to_observation writes Patient/{patient_id}
  const auto written = fhir::to_observation(r);
  (void)written.dump();
  auto again = fhir::parse_observation(written, "", now);
  auto* back = std::get_if<fhir::ParsedObservation>(&again);
  CARELOOP_FUZZ_ASSERT(back != nullptr);
  const auto& b = back->reading;
  CARELOOP_FUZZ_ASSERT(back->subject_patient_id == r.patient_id);
  CARELOOP_FUZZ_ASSERT(b.kind == r.kind);
  CARELOOP_FUZZ_ASSERT(b.client_id == r.client_id);
  CARELOOP_FUZZ_ASSERT(b.taken_at.utc_ms == r.taken_at.utc_ms);
  CARELOOP_FUZZ_ASSERT(b.systolic_mmhg == r.systolic_mmhg);
  CARELOOP_FUZZ_ASSERT(b.diastolic_mmhg == r.diastolic_mmhg);
  CARELOOP_FUZZ_ASSERT(b.pulse_bpm == r.pulse_bpm);
  CARELOOP_FUZZ_ASSERT(b.glucose_mmol_l == r.glucose_mmol_l);
  CARELOOP_FUZZ_ASSERT(b.weight_kg == r.weight_kg);
  CARELOOP_FUZZ_ASSERT(b.hba1c_percent == r.hba1c_percent);
}

// Parses one resource; its errors are appended to `errors`.
void parse_one(const json& resource, const std::string& pointer, std::int64_t now, std::vector<core::FieldError>& errors) {
  auto result = fhir::parse_observation(resource, pointer, now);
  if (auto* ok = std::get_if<fhir::ParsedObservation>(&result)) {
    CARELOOP_FUZZ_ASSERT(mobile_api::is_uuid(ok->reading.client_id));
    CARELOOP_FUZZ_ASSERT(core::check_plausibility(ok->reading, pointer, now).empty());
    check_round_trip(*ok, now);
    return;
  }
  const auto& found = std::get<std::vector<core::FieldError>>(result);
  CARELOOP_FUZZ_ASSERT(!found.empty());
  for (const auto& e : found) {
    CARELOOP_FUZZ_ASSERT(e.pointer.starts_with(pointer));
    CARELOOP_FUZZ_ASSERT(!e.detail.empty());
  }
  errors.insert(errors.end(), found.begin(), found.end());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = fuzz::parse_body(data, size);
  if (body.is_discarded()) return 0;  // the server answers 400 before the parser runs
  const auto now = fuzz::fixed_now_ms();
  std::vector<core::FieldError> errors;
  const auto entries = body.is_object() && body.value("resourceType", json()) == "Bundle" ? body.find("entry") : body.end();
  if (entries != body.end() && entries->is_array()) {
    for (std::size_t i = 0; i < entries->size(); ++i) {
      const auto& entry = (*entries)[i];
      if (!entry.is_object() || !entry.contains("resource")) continue;
      parse_one(entry["resource"], "/entry/" + std::to_string(i) + "/resource", now, errors);
    }
  } else {
    parse_one(body, "", now, errors);
  }
  if (!errors.empty()) {
    const auto outcome = fhir::operation_outcome(errors);
    CARELOOP_FUZZ_ASSERT(outcome.at("issue").size() == errors.size());
    (void)outcome.dump();
  }
  return 0;
}
