#include "record_export.hpp"

#include <limits>
#include <string>
#include <string_view>

#include "careloop/core/clinic_measurement.hpp"
#include "careloop/core/time.hpp"
#include "careloop/mobile_api/fhir.hpp"
#include "consent.hpp"

namespace careloop::mobile_api::detail {
namespace {

using nlohmann::json;

constexpr const char* icd10_system = "http://hl7.org/fhir/sid/icd-10";
constexpr const char* snomed_system = "http://snomed.info/sct";
constexpr const char* careloop_codes = "https://careloop.example/fhir/CodeSystem/";

struct ConditionCode {
  std::string_view code;          // CareLoop's
  std::string_view icd10;         // WHO ICD-10 (China's clinical edition shares its categories)
  std::string_view icd10_display;
  std::string_view snomed;
  std::string_view snomed_display;
};
// Only the conditions whose category is unambiguous are coded; the others
// (frailty, ASCVD, limited life expectancy, proteinuric CKD's proteinuria)
// are sent as CareLoop's code and text.
constexpr ConditionCode condition_codes[] = {
    {"hypertension", "I10", "Essential (primary) hypertension", "38341003", "Hypertensive disorder"},
    {"diabetes_t2", "E11", "Type 2 diabetes mellitus", "44054006", "Diabetes mellitus type 2"},
    {"chd", "I25", "Chronic ischaemic heart disease", "", ""},
    {"ckd", "N18", "Chronic kidney disease", "709044004", "Chronic kidney disease"},
    {"ckd_proteinuria", "N18", "Chronic kidney disease", "", ""},
    {"heart_failure", "I50", "Heart failure", "84114007", "Heart failure"},
    {"stroke", "I64", "Stroke, not specified as haemorrhage or infarction", "230690007", "Cerebrovascular accident"},
};

json condition_code(std::string_view code) {
  json coding = json::array();
  for (const auto& c : condition_codes) {
    if (c.code != code) continue;
    coding.push_back({{"system", icd10_system}, {"code", c.icd10}, {"display", c.icd10_display}});
    if (!c.snomed.empty()) coding.push_back({{"system", snomed_system}, {"code", c.snomed}, {"display", c.snomed_display}});
  }
  coding.push_back({{"system", std::string(careloop_codes) + "condition"}, {"code", code}});
  return {{"coding", coding}, {"text", code}};
}

json ref(std::string_view type, std::int64_t id) { return {{"reference", std::string(type) + "/" + std::to_string(id)}}; }
json ref(std::string_view type, const std::string& id) { return {{"reference", std::string(type) + "/" + id}}; }

json parsed_or_text(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(text) : j;
}

json patient_resource(const core::Patient& p, const std::optional<core::Clinic>& clinic) {
  json r{{"resourceType", "Patient"},
         {"id", std::to_string(p.id)},
         {"active", !p.anonymised_at_ms},
         {"gender", core::to_string(p.sex)},
         {"birthDate", core::format_date(p.birth_date)}};
  if (!p.name.empty()) r["name"] = {{{"text", p.name}}};
  if (!p.phone.empty()) r["telecom"] = {{{"system", "phone"}, {"value", p.phone}, {"use", "mobile"}}};
  if (!p.external_id.empty())
    r["identifier"] = {{{"system", std::string(careloop_codes) + "clinic/" + std::to_string(p.clinic_id) + "/record-number"},
                        {"value", p.external_id}}};
  if (clinic) r["managingOrganization"] = {{"display", clinic->name}};
  json ext = json::array();
  auto add = [&](const char* name, const char* value_key, json value) {
    ext.push_back({{"url", std::string(careloop_codes) + "patient-" + name}, {value_key, std::move(value)}});
  };
  if (p.height_cm) add("height-cm", "valueDecimal", *p.height_cm);
  add("smoking", "valueCode", core::to_string(p.smoking));
  add("parents-with-hypertension", "valueInteger", p.parents_with_hypertension);
  add("family-history-diabetes", "valueBoolean", p.family_history_diabetes);
  add("pregnant", "valueBoolean", p.pregnant);
  add("registered", "valueDateTime", core::format_iso8601_utc(p.registered_at_ms));
  r["extension"] = ext;
  return r;
}

json measurement_observation(const store::ClinicMeasurementRow& m) {
  json o{{"resourceType", "Observation"},
         {"id", "measurement-" + std::to_string(m.id)},
         {"status", "final"},
         {"subject", ref("Patient", m.patient_id)},
         {"effectiveDateTime", core::format_iso8601(m.measured_at)},
         {"issued", core::format_iso8601_utc(m.created_at_ms)}};
  if (const auto* k = core::find_measurement_kind(m.kind)) {
    o["code"] = {{"coding", {{{"system", fhir::loinc_system}, {"code", k->loinc}, {"display", k->loinc_display}}}},
                 {"text", k->loinc_display}};
    o["valueQuantity"] = {{"value", m.value}, {"unit", k->unit}, {"system", fhir::ucum_system}, {"code", k->unit}};
  } else {
    o["code"] = {{"text", m.kind}};
    o["valueQuantity"] = {{"value", m.value}};
  }
  if (!m.by_name.empty()) o["performer"] = {{{"display", m.by_name}}};
  if (m.visit_id) o["encounter"] = ref("Encounter", "visit-" + std::to_string(*m.visit_id));
  return o;
}

json adherence_statement(const core::Reading& r) {
  const bool taken = r.medication_status && *r.medication_status == core::MedicationStatus::taken;
  return {{"resourceType", "MedicationStatement"},
          {"id", "taken-" + std::to_string(r.id)},
          {"status", taken ? "completed" : "not-taken"},
          {"medicationCodeableConcept", {{"text", r.medication_name}}},
          {"subject", ref("Patient", r.patient_id)},
          {"effectiveDateTime", core::format_iso8601(r.taken_at)},
          {"dateAsserted", core::format_iso8601_utc(r.received_at_ms)},
          {"informationSource", ref("Patient", r.patient_id)}};
}

const char* care_plan_status(const std::string& s) {
  if (s == "approved") return "active";
  if (s == "proposed") return "draft";
  if (s == "superseded") return "completed";
  return "revoked";  // rejected
}

json care_plan_resource(const store::CarePlanRow& c) {
  json r{{"resourceType", "CarePlan"},
         {"id", "careplan-" + std::to_string(c.id)},
         {"status", care_plan_status(c.status)},
         {"intent", c.status == "proposed" ? "proposal" : "plan"},
         {"subject", ref("Patient", c.patient_id)},
         {"created", core::format_iso8601_utc(c.created_at_ms)},
         {"title", "CareLoop care plan, version " + std::to_string(c.version)}};
  // The plan as CareLoop wrote it (targets, follow-up, advice, rationale).
  r["extension"] = {{{"url", std::string(careloop_codes) + "care-plan"},
                     {"valueString", json{{"version", c.version},
                                          {"status", c.status},
                                          {"plan", parsed_or_text(c.plan_json)},
                                          {"rationale", parsed_or_text(c.rationale_json)},
                                          {"protocols", parsed_or_text(c.protocols_json.empty() ? "[]" : c.protocols_json)}}
                                         .dump(-1, ' ', false, json::error_handler_t::replace)}}};
  if (c.decided_by_name.size()) r["author"] = {{"display", c.decided_by_name}};
  if (c.decision_note && !c.decision_note->empty()) r["note"] = {{{"text", *c.decision_note}}};
  return r;
}

const char* encounter_class(const std::string& kind) {
  if (kind == "home") return "HH";
  if (kind == "phone") return "VR";
  return "AMB";
}

json encounter_resource(const store::VisitRow& v) {
  json r{{"resourceType", "Encounter"},
         {"id", "visit-" + std::to_string(v.id)},
         {"status", "finished"},
         {"class", {{"system", "http://terminology.hl7.org/CodeSystem/v3-ActCode"}, {"code", encounter_class(v.kind)}}},
         {"type", {{{"coding", {{{"system", std::string(careloop_codes) + "visit-kind"}, {"code", v.kind}}}}, {"text", v.kind + " follow-up"}}}},
         {"subject", ref("Patient", v.patient_id)},
         {"period", {{"start", core::format_iso8601(v.visited_at)}}},
         {"reasonCode", {{{"coding", {{{"system", std::string(careloop_codes) + "visit-classification"}, {"code", v.classification}}}},
                          {"text", v.classification}}}}};
  if (!v.by_name.empty()) r["participant"] = {{{"individual", {{"display", v.by_name}}}}};
  if (!v.note.empty()) r["extension"] = {{{"url", std::string(careloop_codes) + "visit-note"}, {"valueString", v.note}}};
  return r;
}

json communication_resource(const store::Message& m) {
  return {{"resourceType", "Communication"},
          {"id", "message-" + std::to_string(m.id)},
          {"status", "completed"},
          {"subject", ref("Patient", m.patient_id)},
          {"recipient", {ref("Patient", m.patient_id)}},
          {"sender", {{"display", m.from_display_name}}},
          {"sent", core::format_iso8601_utc(m.created_at_ms)},
          {"payload", {{{"contentString", m.text}}}}};
}

json risk_resource(const store::StoredRiskScore& s) {
  return {{"resourceType", "RiskAssessment"},
          {"id", "risk-" + s.model_id},
          {"status", "final"},
          {"subject", ref("Patient", s.patient_id)},
          {"occurrenceDateTime", core::format_iso8601_utc(s.computed_at_ms)},
          {"method", {{"coding", {{{"system", std::string(careloop_codes) + "risk-model"}, {"code", s.model_id}, {"version", s.model_version}}}}}},
          {"prediction", {{{"probabilityDecimal", s.probability},
                           {"qualitativeRisk", {{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/risk-probability"},
                                                              {"code", s.band}}}}, {"text", s.band}}}}}},
          {"extension", {{{"url", std::string(careloop_codes) + "risk-factors"}, {"valueString", s.factors_json}}}}};
}

json flag_resource(const store::AlertRow& a) {
  json r{{"resourceType", "Flag"},
         {"id", "alert-" + std::to_string(a.id)},
         {"status", a.status == "resolved" ? "inactive" : "active"},
         {"category", {{{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/flag-category"}, {"code", "clinical"}}}}}}},
         {"code", {{"coding", {{{"system", std::string(careloop_codes) + "alert-signal"}, {"code", a.signal}}}},
                   {"text", a.reason_en.empty() ? a.reason : a.reason_en}}},
         {"subject", ref("Patient", a.patient_id)},
         {"period", {{"start", core::format_iso8601_utc(a.opened_at_ms)}}}};
  if (a.resolved_at_ms) r["period"]["end"] = core::format_iso8601_utc(*a.resolved_at_ms);
  r["extension"] = {{{"url", std::string(careloop_codes) + "alert"},
                     {"valueString", json{{"tier", a.tier},
                                          {"status", a.status},
                                          {"reason", {{"zh-CN", a.reason}, {"en", a.reason_en}}},
                                          {"advice", {{"zh-CN", a.advice_zh}, {"en", a.advice_en}}},
                                          {"action", a.action},
                                          {"protocol", a.protocol_id},
                                          {"rule", a.rule_id}}
                                         .dump(-1, ' ', false, json::error_handler_t::replace)}}};
  return r;
}

json consent_resource(const store::ConsentRecord& c) {
  json r{{"resourceType", "Consent"},
         {"id", "consent-" + std::to_string(c.id)},
         {"status", c.decision == "granted" ? "active" : "inactive"},
         {"scope", {{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/consentscope"}, {"code", "patient-privacy"}}}}}},
         {"category", {{{"coding", {{{"system", "http://loinc.org"}, {"code", "59284-0"}, {"display", "Patient Consent"}}}}}}},
         {"patient", ref("Patient", c.patient_id)},
         {"dateTime", core::format_iso8601_utc(c.at_ms)},
         {"policyRule", {{"text", std::string(c.purpose) + " consent, wording version " + c.version + " (sha256 " + c.text_sha256 + ")"}}},
         {"provision", {{"type", c.decision == "granted" ? "permit" : "deny"}}}};
  if (const auto* w = find_health_data_wording(c.version); w && c.purpose == health_data_purpose)
    r["sourceAttachment"] = {{"contentType", "text/plain; charset=utf-8"},
                             {"language", "zh-CN"},
                             {"title", w->title["zh-CN"]}};
  return r;
}

}  // namespace

json patient_record_bundle(store::Store& st, const core::Patient& p, std::int64_t now_ms) {
  json entries = json::array();
  auto add = [&](json resource) { entries.push_back({{"resource", std::move(resource)}}); };
  auto clinic = st.clinic(p.clinic_id);
  add(patient_resource(p, clinic ? std::optional<core::Clinic>(*clinic) : std::nullopt));

  for (const auto& d : p.diagnoses)
    add({{"resourceType", "Condition"},
         {"id", "dx-" + d.code},
         {"clinicalStatus", {{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/condition-clinical"}, {"code", "active"}}}}}},
         {"verificationStatus", {{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/condition-ver-status"}, {"code", "confirmed"}}}}}},
         {"category", {{{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/condition-category"}, {"code", "problem-list-item"}}}}}}},
         {"code", condition_code(d.code)},
         {"subject", ref("Patient", p.id)},
         {"onsetDateTime", core::format_date(d.diagnosed_on)}});
  for (const auto& c : p.comorbidities)
    add({{"resourceType", "Condition"},
         {"id", "comorbidity-" + c},
         {"clinicalStatus", {{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/condition-clinical"}, {"code", "active"}}}}}},
         {"category", {{{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/condition-category"}, {"code", "problem-list-item"}}}}}}},
         {"code", condition_code(c)},
         {"subject", ref("Patient", p.id)}});
  int med_index = 0;
  for (const auto& m : p.medications)
    add({{"resourceType", "MedicationStatement"},
         {"id", "medication-" + std::to_string(++med_index)},
         {"status", "active"},
         {"medicationCodeableConcept", {{"text", m.name}}},
         {"subject", ref("Patient", p.id)},
         {"effectivePeriod", {{"start", core::format_date(m.since)}}},
         {"dosage", {{{"text", m.dose}}}}});

  // Every reading, in pages of the (taken_at, id) order.
  store::ReadingQuery q;
  q.patient_id = p.id;
  q.limit = 1000;
  for (;;) {
    const auto page = st.readings(q);
    for (const auto& r : page)
      add(r.kind == core::ReadingKind::medication ? adherence_statement(r) : fhir::to_observation(r));
    if (static_cast<int>(page.size()) < q.limit) break;
    q.after_id = page.back().id;
  }
  for (const auto& m : st.clinic_measurements(p.id, std::numeric_limits<int>::max())) add(measurement_observation(m));
  for (const auto& c : st.care_plans(p.id)) add(care_plan_resource(c));
  for (const auto& v : st.visits(p.id, std::numeric_limits<int>::max())) add(encounter_resource(v));
  // Messages reach the patient through the sync feed; it holds them all.
  for (std::int64_t after = 0;;) {
    const auto changes = st.changes(p.id, after, 1000);
    for (const auto& c : changes)
      if (c.message) add(communication_resource(*c.message));
    if (changes.size() < 1000) break;
    after = changes.back().seq;
  }
  for (const auto& s : st.latest_risk_scores(p.id)) add(risk_resource(s));
  store::AlertQuery aq;
  aq.clinic_id = p.clinic_id;
  aq.patient_id = p.id;
  aq.limit = 500;
  for (;;) {
    const auto page = st.alerts(aq);
    for (const auto& a : page) add(flag_resource(a));
    if (static_cast<int>(page.size()) < aq.limit) break;
    aq.before_id = page.back().id;
  }
  for (const auto& c : st.consents(p.id, std::string(health_data_purpose))) add(consent_resource(c));

  return {{"resourceType", "Bundle"},
          {"type", "collection"},
          {"timestamp", core::format_iso8601_utc(now_ms)},
          {"meta", {{"tag", {{{"system", std::string(careloop_codes) + "export"}, {"code", "patient-record"}}}}}},
          {"entry", std::move(entries)}};
}

}  // namespace careloop::mobile_api::detail
