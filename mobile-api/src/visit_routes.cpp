// Follow-up visits (/api/v1/clinic/patients/{id}/visits): the clinic records
// a visit — at the clinic, at home or by phone, with the follow-up form's
// classification — and lists them. Audited like every staff access; the
// work is care/'s record_visit.
#include <algorithm>

#include "careloop/care/visits.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

// GET /api/v1/clinic/patients/{id}/visits?limit=
asio::awaitable<Response> list_visits(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_read);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  std::vector<core::FieldError> errors;
  const std::int64_t limit = int_param(ctx, "limit", 1, 500, "an integer from 1 to 500", errors).value_or(50);
  if (!errors.empty()) co_return invalid_fields(std::move(errors));
  if (auto refused = co_await audit(ctx, svc, a.who.user, "visits.read", a.patient.id, a.patient.clinic_id))
    co_return std::move(*refused);
  const auto patient_id = a.patient.id;
  auto rows = co_await server::offload(svc.compute, [&] { return svc.store.visits(patient_id, static_cast<int>(limit)); });
  json items = json::array();
  for (const auto& v : rows) items.push_back(care::visit_json(v));
  co_return server::json_response(status::ok, {{"items", items},
                                               {"consecutive_uncontrolled", care::consecutive_uncontrolled(rows)}});
}

// POST /api/v1/clinic/patients/{id}/visits
// {client_id, visited_at (ISO 8601 with offset), kind, classification, note?}
asio::awaitable<Response> record(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_write);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");

  care::VisitInput v;
  v.patient_id = a.patient.id;
  v.by_user_id = a.who.user.id;
  v.remote_addr = remote_address(ctx);
  std::vector<core::FieldError> errors;
  static constexpr std::string_view known[] = {"client_id", "visited_at", "kind", "classification", "note"};
  add_unknown_fields(*body, known, errors);
  auto text = [&](const char* name, bool required) -> std::string {
    if (!body->contains(name)) {
      if (required) errors.push_back({std::string("/") + name, "is required"});
      return {};
    }
    auto s = string_field(*body, name);
    if (!s) errors.push_back({std::string("/") + name, "must be a string"});
    return s.value_or("");
  };
  v.client_id = text("client_id", true);
  const std::string when = text("visited_at", true);
  v.kind = text("kind", true);
  v.classification = text("classification", true);
  v.note = text("note", false);
  if (!when.empty()) {
    auto parsed = core::parse_iso8601(when);
    if (parsed.instant)
      v.visited_at = *parsed.instant;
    else
      errors.push_back({"/visited_at", "must be an ISO 8601 date-time with an offset: " + parsed.error});
  }
  if (errors.empty())
    if (auto ok = care::check_visit(v, core::now_utc_ms()); !ok) errors = ok.error().fields;
  if (!errors.empty()) co_return invalid_fields(std::move(errors));

  auto done = co_await server::await_completion<care::RecordedVisit>(
      [&](auto cb) { care::record_visit(svc.store, std::move(v), std::move(cb)); });
  if (!done) {
    const auto& e = done.error();
    if (e.code == core::Errc::conflict) co_return server::problem_response(status::conflict, "Conflict", e.message);
    co_return server::problem_from(e);
  }
  if (done->created && svc.visit_recorded) svc.visit_recorded(done->row.patient_id);
  co_return server::json_response(done->created ? status::created : status::ok, care::visit_json(done->row));
}

}  // namespace

void add_visit_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::get, "/api/v1/clinic/patients/{id}/visits", bind(svc, list_visits));
  router.add(verb::post, "/api/v1/clinic/patients/{id}/visits", bind(svc, record));
}

}  // namespace careloop::mobile_api::detail
