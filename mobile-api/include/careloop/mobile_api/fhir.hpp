#pragma once
// FHIR R4 Observations for home readings (CLINICAL.md §5): LOINC codes,
// UCUM units, the BP panel with components. Parsing yields a canonical
// core::Reading or field errors named by JSON pointer; a glucose code whose
// property (mass or moles) does not match its unit is refused, not guessed.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "careloop/core/reading.hpp"
#include "careloop/core/result.hpp"

namespace careloop::mobile_api::fhir {

inline constexpr const char* loinc_system = "http://loinc.org";
inline constexpr const char* ucum_system = "http://unitsofmeasure.org";
inline constexpr const char* category_system = "http://terminology.hl7.org/CodeSystem/observation-category";
// CareLoop's extension carrying the glucose context (fasting, after_meal, ...).
inline constexpr const char* glucose_context_url = "https://careloop.example/fhir/StructureDefinition/glucose-context";

struct ParsedObservation {
  core::Reading reading;                      // patient_id from subject, 0 when absent
  std::optional<std::int64_t> subject_patient_id;
};

using ObservationResult = std::variant<ParsedObservation, std::vector<core::FieldError>>;

// `pointer` locates the resource in the request ("" for a lone resource,
// "/entry/3/resource" inside a Bundle).
ObservationResult parse_observation(const nlohmann::json& resource, const std::string& pointer, std::int64_t now_ms);

// A stable client UUID for an Observation identifier (system|value): the
// value itself when it is a UUID (or urn:uuid:), else a name-based UUID, so a
// re-post of the same observation is a duplicate.
std::string client_id_for_identifier(const std::string& system, const std::string& value);

// Conditional create: the client UUID that an If-None-Exist condition
// (identifier=[system|]value, the only parameter supported) names. Storing
// the observation under it makes the store's per-patient client-id key
// answer the condition atomically: an observation of the patient already
// under that identifier is returned (200) and nothing is created.
core::Result<std::string> client_id_for_condition(std::string_view condition);

// The client UUID of an Observation posted without an identifier: a
// name-based UUID of its kind, instant and values, so that posting the same
// measurement again is a duplicate, as the JSON API's content check makes it.
std::string content_client_id(const core::Reading& r);

nlohmann::json to_observation(const core::Reading& r);

// OperationOutcome with one issue per field error; FHIRPath expressions
// derived from the JSON pointers.
nlohmann::json operation_outcome(const std::vector<core::FieldError>& errors, const std::string& code = "invalid");
std::string fhirpath_of(const std::string& resource_type, const std::string& json_pointer);

}  // namespace careloop::mobile_api::fhir
