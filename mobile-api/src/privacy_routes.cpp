// The patient's privacy rights (issue 15, items 16 and 17; PIPL Arts. 29,
// 44-47): the separate consent to processing health data and its wording,
// the patient's own access log, the export of a whole record as a FHIR
// Bundle (the patient's and the clinic's), and anonymisation by an admin.
// Every export and anonymisation is audited before anything leaves.
#include <limits>

#include "careloop/core/time.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "consent.hpp"
#include "record_export.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

// GET /api/v1/consent/health-data[?version=V]: the wording (no login: it is
// read before an account exists).
asio::awaitable<Response> consent_wording(RequestContext& ctx, Services&) {
  const auto version = ctx.query_param("version");
  if (!version) co_return server::json_response(status::ok, wording_json(current_health_data_wording()));
  const auto* w = find_health_data_wording(*version);
  if (!w)
    co_return invalid_fields({{"/query/version", "no such version of the wording"}}, "Invalid query");
  co_return server::json_response(status::ok, wording_json(*w));
}

asio::awaitable<Response> get_consent(RequestContext& ctx, Services& svc) {
  auto who = co_await patient_self(ctx, svc, auth::Permission::own_record_read);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  const auto patient_id = *std::get<Principal>(who).user.patient_id;
  auto decisions = co_await server::offload(
      svc.compute, [&] { return svc.store.consents(patient_id, std::string(health_data_purpose)); });
  co_return server::json_response(status::ok, consent_status_json(decisions, true));
}

// POST /api/v1/me/consent {"version", "decision": "granted"|"withdrawn"} → 201.
asio::awaitable<Response> post_consent(RequestContext& ctx, Services& svc) {
  // Withdrawing must stay possible whatever else the account may do: own_record_read.
  auto who = co_await patient_self(ctx, svc, auth::Permission::own_record_read);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  const auto& user = std::get<Principal>(who).user;
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");
  std::vector<core::FieldError> errors;
  static constexpr std::string_view known[] = {"version", "decision"};
  add_unknown_fields(*body, known, errors);
  const auto version = string_field(*body, "version");
  const auto decision = string_field(*body, "decision");
  const ConsentWording* wording = nullptr;
  if (!decision || (*decision != "granted" && *decision != "withdrawn"))
    errors.push_back({"/decision", "decision is required: \"granted\" or \"withdrawn\""});
  if (!version) {
    errors.push_back({"/version", "version is required: the version of the wording shown"});
  } else if (wording = find_health_data_wording(*version); !wording) {
    errors.push_back({"/version", "no such version of the wording"});
  } else if (decision && *decision == "granted" && wording != &current_health_data_wording()) {
    // Consent is to what is asked now; an older wording may only be withdrawn.
    errors.push_back({"/version", "the wording changed: read version " + current_health_data_wording().version +
                                      " (GET /api/v1/consent/health-data) and decide again"});
  }
  if (!errors.empty()) co_return invalid_fields(std::move(errors));
  store::ConsentRecord c;
  c.patient_id = *user.patient_id;
  c.user_id = user.id;
  c.purpose = std::string(health_data_purpose);
  c.version = wording->version;
  c.text_sha256 = wording->sha256;
  c.decision = *decision;
  c.at_ms = core::now_utc_ms();
  c.remote_addr = remote_address(ctx);
  auto stored = co_await server::await_completion<store::ConsentRecord>(
      [&](auto done) { svc.store.record_consent(std::move(c), std::move(done)); });
  if (!stored) co_return server::problem_from(stored.error());
  auto decisions = co_await server::offload(
      svc.compute, [&] { return svc.store.consents(*user.patient_id, std::string(health_data_purpose)); });
  co_return server::json_response(status::created, consent_status_json(decisions, true));
}

// GET /api/v1/me/access-log?limit=&before= → who opened the record, newest first.
asio::awaitable<Response> access_log(RequestContext& ctx, Services& svc) {
  auto who = co_await patient_self(ctx, svc, auth::Permission::own_record_read);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  const auto& user = std::get<Principal>(who).user;
  std::vector<core::FieldError> errors;
  const int limit = static_cast<int>(
      int_param(ctx, "limit", 1, 200, "limit must be an integer from 1 to 200", errors).value_or(50));
  const auto before = int_param(ctx, "before", 1, std::numeric_limits<std::int64_t>::max(),
                                "before must be the next_before of a previous answer", errors);
  if (!errors.empty()) co_return invalid_fields(std::move(errors), "Invalid query");
  const auto patient_id = *user.patient_id;
  auto rows = co_await server::offload(svc.compute,
                                       [&] { return svc.store.access_log(patient_id, before, limit + 1); });
  const bool more = static_cast<int>(rows.size()) > limit;
  if (more) rows.resize(static_cast<std::size_t>(limit));
  json entries = json::array();
  for (const auto& r : rows) {
    const bool self = r.entry.actor_user_id == user.id;
    json actor{{"self", self},
               {"role", r.actor_role.empty() ? json(nullptr) : json(r.actor_role)},
               {"display_name", r.actor_display_name},
               {"clinic", r.actor_clinic ? json(*r.actor_clinic) : json(nullptr)}};
    entries.push_back({{"id", r.id},
                       {"at", core::format_iso8601_utc(r.entry.at_ms)},
                       {"action", r.entry.action},
                       {"outcome", r.entry.action == "access.refused" ? "refused" : "allowed"},
                       {"actor", std::move(actor)}});
  }
  co_return server::json_response(
      status::ok, {{"entries", std::move(entries)}, {"next_before", more ? json(rows.back().id) : json(nullptr)}});
}

Response bundle_response(const json& bundle, std::int64_t patient_id, std::int64_t now_ms, unsigned version) {
  Response res{status::ok, version};
  res.set(server::http::field::content_type, "application/fhir+json");
  // A record is not for any cache between here and the person who asked.
  res.set(server::http::field::cache_control, "no-store");
  const std::string day = core::format_iso8601_utc(now_ms).substr(0, 10);
  res.set(server::http::field::content_disposition,
          "attachment; filename=\"careloop-record-" + std::to_string(patient_id) + "-" + day + ".json\"");
  res.body() = bundle.dump(-1, ' ', false, json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

// GET /api/v1/me/export: the patient's own record.
asio::awaitable<Response> export_own(RequestContext& ctx, Services& svc) {
  auto who = co_await patient_self(ctx, svc, auth::Permission::own_record_read);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  const auto& user = std::get<Principal>(who).user;
  const auto patient_id = *user.patient_id;
  auto patient = co_await server::offload(svc.compute, [&] { return svc.store.patient(patient_id); });
  if (!patient) co_return server::problem_from(patient.error());
  if (auto refused = co_await audit(ctx, svc, user, "record.export", patient_id, patient->clinic_id,
                                    R"({"by":"patient","format":"fhir-bundle"})"))
    co_return std::move(*refused);
  const auto now = core::now_utc_ms();
  auto bundle = co_await server::offload(svc.compute, [&] { return patient_record_bundle(svc.store, *patient, now); });
  co_return bundle_response(bundle, patient_id, now, ctx.request.version());
}

// GET /api/v1/clinic/patients/{id}/export: the clinic's copy for the patient
// (or a transfer), by staff who may read the record.
asio::awaitable<Response> export_staff(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_read);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  const auto& who = std::get<PatientAccess>(access).who;
  const auto& patient = std::get<PatientAccess>(access).patient;
  if (auto refused = co_await audit(ctx, svc, who.user, "record.export", patient.id, patient.clinic_id,
                                    R"({"by":"staff","format":"fhir-bundle"})"))
    co_return std::move(*refused);
  const auto now = core::now_utc_ms();
  auto bundle = co_await server::offload(svc.compute, [&] { return patient_record_bundle(svc.store, patient, now); });
  co_return bundle_response(bundle, patient.id, now, ctx.request.version());
}

// POST /api/v1/admin/patients/{id}/anonymise {"reason", "confirm_patient_id"}.
asio::awaitable<Response> anonymise(RequestContext& ctx, Services& svc) {
  auto allowed = co_await authorize(ctx, svc, auth::Permission::administer, {});
  if (auto* refused = std::get_if<Response>(&allowed)) co_return std::move(*refused);
  const auto& who = std::get<Principal>(allowed).user;
  const auto id = path_id(ctx);
  if (!id) co_return server::problem_response(status::not_found, "Not Found", "no patient has this id");
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");
  std::vector<core::FieldError> errors;
  static constexpr std::string_view known[] = {"reason", "confirm_patient_id"};
  add_unknown_fields(*body, known, errors);
  const auto reason = string_field(*body, "reason");
  if (!reason || reason->empty() || reason->size() > 2000)
    errors.push_back({"/reason", "reason is required: why the record is anonymised (the request, its date), "
                                 "at most 500 characters"});
  const auto confirm = body->find("confirm_patient_id");
  if (confirm == body->end() || !confirm->is_number_integer() || confirm->get<std::int64_t>() != *id)
    errors.push_back({"/confirm_patient_id", "must repeat the patient id of the path: anonymising cannot be undone"});
  if (!errors.empty()) co_return invalid_fields(std::move(errors));
  store::AuditEntry e;
  e.at_ms = core::now_utc_ms();
  e.actor_user_id = who.id;
  e.action = "patient.anonymise";
  e.detail = json{{"reason", *reason}}.dump(-1, ' ', false, json::error_handler_t::replace);
  e.remote_addr = remote_address(ctx);
  auto done = co_await server::await_completion<store::AnonymisationCounts>(
      [&](auto cb) { svc.store.anonymise_patient(*id, std::move(e), std::move(cb)); });
  if (!done) co_return server::problem_from(done.error());
  // The patient's streams end with the sessions; the clinic's list changed.
  if (svc.events) svc.events->publish_all();
  co_return server::json_response(status::ok, {{"patient_id", *id},
                                               {"anonymised_at", core::format_iso8601_utc(done->anonymised_at_ms)},
                                               {"accounts_closed", done->accounts_closed},
                                               {"sessions_revoked", done->sessions_revoked},
                                               {"activation_codes_deleted", done->activation_codes_deleted},
                                               {"messages_deleted", done->messages_deleted},
                                               {"notes_cleared", done->notes_cleared},
                                               {"alerts_resolved", done->alerts_resolved}});
}

}  // namespace

void add_privacy_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::get, "/api/v1/consent/health-data", bind(svc, consent_wording));
  router.add(verb::get, "/api/v1/me/consent", bind(svc, get_consent));
  router.add(verb::post, "/api/v1/me/consent", bind(svc, post_consent));
  router.add(verb::get, "/api/v1/me/access-log", bind(svc, access_log));
  router.add(verb::get, "/api/v1/me/export", bind(svc, export_own));
  router.add(verb::get, "/api/v1/clinic/patients/{id}/export", bind(svc, export_staff));
  router.add(verb::post, "/api/v1/admin/patients/{id}/anonymise", bind(svc, anonymise));
}

}  // namespace careloop::mobile_api::detail
