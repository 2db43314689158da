#include "common.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "careloop/core/time.hpp"
#include "careloop/mobile_api/fhir.hpp"
#include "careloop/mobile_api/reading_json.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "consent.hpp"

namespace careloop::mobile_api::detail {

using server::http::status;

Response refuse(Dialect d, status st, std::string_view detail) {
  if (d == Dialect::problem) {
    if (st == status::unauthorized) return unauthorized(detail);
    if (st == status::forbidden) return forbidden(detail);
    return server::problem_response(st, server::http::obsolete_reason(st), detail);
  }
  const char* code = st == status::unauthorized ? "login"
                     : st == status::forbidden  ? "forbidden"
                     : st == status::not_found  ? "not-found"
                                                : "exception";
  Response res{st, 11};
  res.set(server::http::field::content_type, "application/fhir+json");
  if (st == status::unauthorized) res.set(server::http::field::www_authenticate, "Bearer realm=\"careloop\"");
  res.body() = fhir::operation_outcome({{"", std::string(detail)}}, code).dump(-1, ' ', false, json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

asio::awaitable<std::variant<Principal, Response>> authorize(RequestContext& ctx, Services& svc, auth::Permission p,
                                                            auth::Resource r, Dialect d) {
  auto who = co_await authenticate(ctx, svc);
  const std::optional<core::User> user = who ? std::optional<core::User>(who->user) : std::nullopt;
  switch (auth::decide(user, p, r)) {
    case auth::Decision::allow: co_return std::move(*who);
    case auth::Decision::deny_unauthenticated: co_return refuse(d, status::unauthorized, "log in first");
    case auth::Decision::deny: break;
  }
  co_return refuse(d, status::forbidden, "your account may not do this");
}

asio::awaitable<std::variant<Principal, Response>> patient_self(RequestContext& ctx, Services& svc, auth::Permission p) {
  auto who = co_await authenticate(ctx, svc);
  const std::optional<core::User> user = who ? std::optional<core::User>(who->user) : std::nullopt;
  switch (auth::decide(user, p, {})) {
    case auth::Decision::allow: co_return std::move(*who);
    case auth::Decision::deny_unauthenticated: co_return unauthorized("log in first");
    case auth::Decision::deny: break;
  }
  co_return forbidden("this endpoint is for patients; staff use /api/v1/clinic/...");
}

bool health_data_consent_granted(Services& svc, std::int64_t patient_id) {
  return consent_granted(svc.store.consents(patient_id, std::string(health_data_purpose)));
}

asio::awaitable<std::optional<Response>> require_health_data_consent(Services& svc, std::int64_t patient_id, Dialect d) {
  const bool granted = co_await server::offload(svc.compute, [&] { return health_data_consent_granted(svc, patient_id); });
  if (granted) co_return std::nullopt;
  if (d == Dialect::fhir) co_return refuse(d, status::forbidden, consent_required_detail);
  co_return server::problem_response(status::forbidden, "Consent required", consent_required_detail, {},
                                     consent_required_type);
}

asio::awaitable<std::variant<PatientAccess, Response>> authorize_patient(RequestContext& ctx, Services& svc,
                                                                        auth::Permission p, std::int64_t patient_id,
                                                                        Dialect d) {
  auto who = co_await authenticate(ctx, svc);
  if (!who) co_return refuse(d, status::unauthorized, "log in first");
  // Could any record of any clinic be open to this user? If not, refuse now.
  auth::Resource probe;
  probe.patient_id = patient_id;
  probe.clinic_id = who->user.clinic_id;
  if (who->user.role != core::Role::admin && auth::decide(who->user, p, probe) != auth::Decision::allow) {
    note_refusal(ctx, svc, who->user, patient_id, std::nullopt, std::nullopt, "role");
    co_return refuse(d, status::forbidden, "your account may not do this");
  }
  auto patient = co_await server::offload(svc.compute, [&] { return svc.store.patient(patient_id); });
  if (!patient) {
    if (patient.error().code == core::Errc::not_found)
      co_return refuse(d, status::not_found, "patient " + std::to_string(patient_id) + " not found");
    co_return server::problem_from(patient.error());
  }
  auth::Resource r;
  r.patient_id = patient_id;
  r.clinic_id = patient->clinic_id;
  // Another clinic's patient is answered as a missing one: whether an id
  // exists elsewhere is itself something a stranger must not learn.
  if (auth::decide(who->user, p, r) != auth::Decision::allow) {
    note_refusal(ctx, svc, who->user, patient_id, patient_id, patient->clinic_id, "another clinic");
    co_return refuse(d, status::not_found, "patient " + std::to_string(patient_id) + " not found");
  }
  // An anonymised record is kept for the aggregates and the law's retention
  // only: nobody opens it again (PIPL Art. 47).
  if (patient->anonymised_at_ms)
    co_return refuse(d, status::gone,
                     "patient " + std::to_string(patient_id) + "'s record was anonymised on " +
                         core::format_iso8601_utc(*patient->anonymised_at_ms).substr(0, 10) +
                         ": it is kept without identity and is no longer shown");
  co_return PatientAccess{std::move(*who), std::move(*patient)};
}

std::string remote_address(const RequestContext& ctx) {
  // The client, as a trusted proxy forwarded it (server/proxy.hpp); else the peer.
  if (!ctx.client.empty()) return ctx.client;
  const auto& r = ctx.remote;
  // "[::1]:port" or "1.2.3.4:port"
  if (!r.empty() && r.front() == '[') {
    const auto close = r.find(']');
    return close == std::string::npos ? r : r.substr(1, close - 1);
  }
  const auto colon = r.rfind(':');
  return colon == std::string::npos ? r : r.substr(0, colon);
}

asio::awaitable<std::optional<Response>> audit(RequestContext& ctx, Services& svc, const core::User& actor,
                                               std::string action, std::optional<std::int64_t> patient_id,
                                               std::optional<std::int64_t> clinic_id, std::string detail,
                                               Dialect d) {
  store::AuditEntry e;
  e.at_ms = core::now_utc_ms();
  e.actor_user_id = actor.id;
  e.action = std::move(action);
  e.patient_id = patient_id;
  e.clinic_id = clinic_id;
  e.detail = std::move(detail);
  e.remote_addr = remote_address(ctx);
  auto written = co_await server::await_completion<core::Unit>(
      [&](auto done) { svc.store.append_audit(std::move(e), std::move(done)); });
  if (written) co_return std::nullopt;
  co_return refuse(d, status::service_unavailable, "the audit trail cannot be written just now; try again");
}

void note_refusal(const RequestContext& ctx, Services& svc, const core::User& actor, std::int64_t asked_patient_id,
                  std::optional<std::int64_t> patient_id, std::optional<std::int64_t> clinic_id, std::string_view why) {
  store::AuditEntry e;
  e.at_ms = core::now_utc_ms();
  e.actor_user_id = actor.id;
  e.action = "access.refused";
  e.patient_id = patient_id;
  e.clinic_id = clinic_id;
  e.detail = json{{"patient_id", asked_patient_id}, {"route", ctx.route}, {"why", why}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  e.remote_addr = remote_address(ctx);
  // The refusal stands whether or not the entry could be written.
  svc.store.append_audit(std::move(e), [](const core::Status&) {});
}

json user_json(const core::User& u) {
  json j{{"id", u.id}, {"username", u.username}, {"role", core::to_string(u.role)}, {"display_name", u.display_name}};
  if (u.clinic_id) j["clinic_id"] = *u.clinic_id;
  if (u.region_id) j["region_id"] = *u.region_id;
  if (u.patient_id) j["patient_id"] = *u.patient_id;
  return j;
}

json patient_json(const core::Patient& p) {
  json dx = json::array();
  for (const auto& d : p.diagnoses) dx.push_back({{"code", d.code}, {"diagnosed_on", core::format_date(d.diagnosed_on)}});
  json meds = json::array();
  for (const auto& m : p.medications)
    meds.push_back({{"name", m.name}, {"dose", m.dose}, {"since", core::format_date(m.since)}});
  json j{{"id", p.id},
         {"clinic_id", p.clinic_id},
         {"name", p.name},
         {"sex", core::to_string(p.sex)},
         {"birth_date", core::format_date(p.birth_date)},
         {"diagnoses", dx},
         {"comorbidities", p.comorbidities},
         {"medications", meds}};
  if (p.height_cm) j["height_cm"] = *p.height_cm;
  return j;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::int64_t> int_param(const RequestContext& ctx, std::string_view name, std::int64_t lo,
                                      std::int64_t hi, std::string_view why, std::vector<core::FieldError>& errors) {
  auto v = ctx.query_param(name);
  if (!v) return std::nullopt;
  auto n = parse_int(*v);
  if (n && *n >= lo && *n <= hi) return n;
  errors.push_back({"/query/" + std::string(name), std::string(why)});
  return std::nullopt;
}

std::optional<std::int64_t> path_id(const RequestContext& ctx, std::string_view name) {
  auto v = parse_int(ctx.param(name));
  if (!v || *v <= 0) return std::nullopt;
  return v;
}

std::optional<std::string> string_field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

Response invalid_field(const char* pointer, std::string detail) {
  return server::problem_response(status::unprocessable_entity, "Invalid request", detail, {{pointer, std::move(detail)}});
}

void add_unknown_fields(const json& body, std::span<const std::string_view> known, std::vector<core::FieldError>& errors) {
  for (const auto& [k, v] : body.items())
    if (std::find(known.begin(), known.end(), k) == known.end()) errors.push_back({"/" + k, "unknown field"});
}

Response invalid_fields(std::vector<core::FieldError> errors, std::string_view title) {
  const std::string detail = errors.empty() ? std::string(title) : errors.front().detail;
  return server::problem_response(status::unprocessable_entity, title, detail, std::move(errors));
}

asio::awaitable<Response> store_readings(RequestContext& ctx, Services& svc, std::int64_t patient_id,
                                         std::string_view source_default) {
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  auto batch = parse_reading_batch(*body, core::now_utc_ms());
  if (!batch) co_return server::problem_from(batch.error());

  std::vector<core::Reading> valid;
  std::vector<std::size_t> valid_index;
  for (std::size_t i = 0; i < batch->items.size(); ++i) {
    if (auto* r = std::get_if<core::Reading>(&batch->items[i])) {
      r->patient_id = patient_id;
      if (r->source.empty()) r->source = source_default;
      valid.push_back(std::move(*r));
      valid_index.push_back(i);
    }
  }
  const bool all_rejected = valid.empty() && !batch->items.empty();
  std::vector<store::InsertOutcome> outcomes;
  if (!valid.empty()) {
    auto stored = co_await server::await_completion<std::vector<store::InsertOutcome>>(
        [&](auto done) { svc.store.insert_readings(patient_id, std::move(valid), std::move(done)); });
    if (!stored) co_return server::problem_from(stored.error());
    outcomes = std::move(*stored);
    notify_stored(svc, patient_id, outcomes);
  }
  json results = json::array();
  std::size_t next_valid = 0;
  for (std::size_t i = 0; i < batch->items.size(); ++i) {
    json r{{"client_id", batch->client_ids[i]}};
    if (next_valid < valid_index.size() && valid_index[next_valid] == i) {
      const auto& o = outcomes[next_valid++];
      r["status"] = o.status == store::InsertStatus::created ? "created" : "duplicate";
      r["id"] = o.id;
    } else {
      const auto& errors = std::get<std::vector<core::FieldError>>(batch->items[i]);
      json errs = json::array();
      for (const auto& e : errors) errs.push_back({{"pointer", e.pointer}, {"detail", e.detail}});
      r["status"] = "rejected";
      r["problem"] = {{"type", "about:blank"},
                      {"title", "Invalid reading"},
                      {"status", 422},
                      {"detail", errors.front().detail},
                      {"errors", errs}};
    }
    results.push_back(std::move(r));
  }
  if (!all_rejected) co_return server::json_response(status::ok, {{"results", std::move(results)}});
  // Nothing in the request could be stored: the request as a whole is
  // unprocessable. The per-item results still come along (an extension
  // member of the problem), so a client handles both answers alike.
  std::vector<core::FieldError> errors;
  for (const auto& item : batch->items)
    for (const auto& e : std::get<std::vector<core::FieldError>>(item)) errors.push_back(e);
  const std::string detail = batch->items.size() == 1 ? errors.front().detail
                                                      : "none of the " + std::to_string(batch->items.size()) +
                                                            " readings is valid; each result names its problem";
  auto res = server::problem_response(status::unprocessable_entity, "Invalid readings", detail, std::move(errors));
  json problem = json::parse(res.body());
  problem["results"] = std::move(results);
  res.body() = problem.dump(-1, ' ', false, json::error_handler_t::replace);
  res.prepare_payload();
  co_return res;
}

void notify_stored(Services& svc, std::int64_t patient_id, const std::vector<store::InsertOutcome>& outcomes) {
  if (svc.readings_stored && std::any_of(outcomes.begin(), outcomes.end(), [](const auto& o) {
        return o.status == store::InsertStatus::created;
      }))
    svc.readings_stored(patient_id);
}

asio::awaitable<Response> list_readings(RequestContext& ctx, Services& svc, std::int64_t patient_id) {
  store::ReadingQuery q;
  q.patient_id = patient_id;
  std::vector<core::FieldError> errors;
  if (auto k = ctx.query_param("kind")) {
    q.kind = core::parse_reading_kind(*k);
    if (!q.kind)
      errors.push_back({"/query/kind", "kind must be one of blood_pressure, glucose, weight, heart_rate, hba1c, medication"});
  }
  for (auto [name, target] : {std::pair{"from", &q.from_ms}, std::pair{"to", &q.to_ms}}) {
    if (auto v = ctx.query_param(name)) {
      auto t = core::parse_iso8601(*v);
      if (t.instant)
        *target = t.instant->utc_ms;
      else
        errors.push_back({std::string("/query/") + name, std::string(name) + ": " + t.error});
    }
  }
  if (auto n = int_param(ctx, "limit", 1, 1000, "limit must be an integer from 1 to 1000", errors))
    q.limit = static_cast<int>(*n);
  q.after_id = int_param(ctx, "cursor", 0, std::numeric_limits<std::int64_t>::max(),
                         "cursor must be the next_cursor of a previous page", errors);
  if (!errors.empty()) co_return invalid_fields(std::move(errors), "Invalid query");
  const int want = q.limit;
  q.limit = want + 1;  // one more tells whether another page exists
  auto rows = co_await server::offload(svc.compute, [&] { return svc.store.readings(q); });
  json items = json::array();
  for (std::size_t i = 0; i < rows.size() && static_cast<int>(i) < want; ++i) items.push_back(to_json(rows[i]));
  json out{{"readings", items}};
  if (static_cast<int>(rows.size()) > want)
    out["next_cursor"] = std::to_string(rows[static_cast<std::size_t>(want) - 1].id);
  co_return server::json_response(status::ok, out);
}

asio::awaitable<std::variant<PatientAccess, Response>> patient_of_path(RequestContext& ctx, Services& svc,
                                                                      auth::Permission p) {
  auto id = path_id(ctx);
  if (!id) {
    // Still 401 before anything else for an anonymous caller.
    if (!co_await authenticate(ctx, svc)) co_return unauthorized("log in first");
    co_return server::problem_response(status::not_found, "Not Found", "no patient has this id");
  }
  co_return co_await authorize_patient(ctx, svc, p, *id);
}

}  // namespace careloop::mobile_api::detail
