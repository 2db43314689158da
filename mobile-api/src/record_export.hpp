#pragma once
// One patient's whole record as a FHIR R4 Bundle (type collection): the
// right of access (PIPL Art. 45, portability included) for the patient and
// the clinic (issue 15, item 16). Reads block: call from the compute pool.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "careloop/core/domain.hpp"
#include "careloop/store/store.hpp"

namespace careloop::mobile_api::detail {

// Patient, Condition (diagnoses, comorbidities), MedicationStatement
// (prescribed medicines, taken / missed entries), Observation (home
// readings, clinic measurements), CarePlan (every version), Encounter
// (follow-up visits), Communication (the clinic's messages), RiskAssessment
// (each model's newest score), Flag (alerts) and Consent (every decision).
// References inside the Bundle are relative ("Patient/12").
nlohmann::json patient_record_bundle(store::Store& st, const core::Patient& patient, std::int64_t now_ms);

}  // namespace careloop::mobile_api::detail
