// Care plans: the clinic's view of a patient's versions and the doctor's
// decisions (/api/v1/clinic/patients/{id}/care-plans/...), audited like every
// staff access; and the patient's approved plan in plain words
// (GET /api/v1/me/care-plan). The work is care/'s Planner and decide_plan.
#include <algorithm>

#include "careloop/core/utf8.hpp"
#include "careloop/care/plans.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

constexpr std::size_t max_note_chars = 2000;

using core::utf8_length;

Response no_planner() {
  return server::problem_response(status::service_unavailable, "Service Unavailable",
                                  "care plans are not available on this server");
}

// GET /api/v1/clinic/patients/{id}/care-plans
asio::awaitable<Response> list_plans(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_read);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  if (auto refused = co_await audit(ctx, svc, a.who.user, "care_plans.read", a.patient.id, a.patient.clinic_id))
    co_return std::move(*refused);
  auto rows = co_await server::offload(svc.compute, [&] { return svc.store.care_plans(a.patient.id); });
  json items = json::array();
  json current = nullptr, proposed = nullptr;
  for (const auto& r : rows) {
    json v = care::plan_version_json(r);
    if (r.status == "approved" && current.is_null()) current = v;
    if (r.status == "proposed" && proposed.is_null()) proposed = v;
    items.push_back(std::move(v));
  }
  co_return server::json_response(status::ok, {{"current", current}, {"proposed", proposed}, {"items", items}});
}

// POST /api/v1/clinic/patients/{id}/care-plans/evaluate
asio::awaitable<Response> evaluate_now(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_write);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  if (!svc.planner) co_return no_planner();
  if (auto refused = co_await audit(ctx, svc, a.who.user, "care_plan.evaluate", a.patient.id, a.patient.clinic_id))
    co_return std::move(*refused);
  auto planner = svc.planner;
  const auto patient_id = a.patient.id;
  auto proposal = co_await server::offload(svc.compute, [&] { return planner->propose(patient_id, core::now_utc_ms()); });
  if (!proposal) co_return server::problem_from(proposal.error());
  co_return server::json_response(
      status::ok, {{"proposed", proposal->proposed ? care::plan_version_json(*proposal->proposed) : json(nullptr)},
                   {"changed", proposal->changed}});
}

asio::awaitable<Response> decide(RequestContext& ctx, Services& svc, care::PlanDecisionKind kind) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_write);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  if (!svc.planner) co_return no_planner();
  const auto version = path_id(ctx, "version");
  if (!version || *version < 1 || *version > 1'000'000'000)
    co_return server::problem_response(status::not_found, "Not Found", "no care plan has this version");
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");

  care::PlanDecision d;
  d.kind = kind;
  d.patient_id = a.patient.id;
  d.version = static_cast<int>(*version);
  d.by_user_id = a.who.user.id;
  d.remote_addr = remote_address(ctx);
  const char* text_field = kind == care::PlanDecisionKind::reject ? "reason" : "note";
  std::vector<std::string_view> known{text_field};
  if (kind == care::PlanDecisionKind::edit) known.push_back("plan");
  std::vector<core::FieldError> errors;
  add_unknown_fields(*body, known, errors);
  if (body->contains(text_field)) {
    auto text = string_field(*body, text_field);
    if (!text || utf8_length(*text) > max_note_chars)
      errors.push_back({std::string("/") + text_field, std::string(text_field) + " must be a string of at most 2000 characters"});
    else
      d.note = *text;
  }
  if (kind == care::PlanDecisionKind::reject && d.note.find_first_not_of(" \t\r\n") == std::string::npos &&
      errors.empty())
    errors.push_back({"/reason", "a rejection needs a reason"});
  if (kind == care::PlanDecisionKind::edit) {
    if (!body->contains("plan") || !(*body)["plan"].is_object())
      errors.push_back({"/plan", "the edited plan is required: the proposal's plan object with your changes"});
    else
      d.edited_plan = (*body)["plan"];
  }
  if (!errors.empty()) co_return invalid_fields(std::move(errors));

  auto done = co_await server::await_completion<store::CarePlanRow>(
      [&](auto cb) { care::decide_plan(svc.store, svc.planner->library_ptr(), std::move(d), std::move(cb)); });
  if (!done) {
    const auto& e = done.error();
    if (e.code == core::Errc::conflict) co_return server::problem_response(status::conflict, "Conflict", e.message);
    if (e.code == core::Errc::not_found) co_return server::problem_response(status::not_found, "Not Found", e.message);
    if (e.code == core::Errc::invalid) co_return invalid_fields(e.fields.empty() ? std::vector<core::FieldError>{{"", e.message}} : e.fields, e.message);
    co_return server::problem_from(e);
  }
  co_return server::json_response(status::ok, care::plan_version_json(*done));
}

asio::awaitable<Response> approve(RequestContext& ctx, Services& svc) {
  co_return co_await decide(ctx, svc, care::PlanDecisionKind::approve);
}
asio::awaitable<Response> edit(RequestContext& ctx, Services& svc) {
  co_return co_await decide(ctx, svc, care::PlanDecisionKind::edit);
}
asio::awaitable<Response> reject(RequestContext& ctx, Services& svc) {
  co_return co_await decide(ctx, svc, care::PlanDecisionKind::reject);
}

// GET /api/v1/me/care-plan: only an approved plan ever reaches the patient.
asio::awaitable<Response> my_plan(RequestContext& ctx, Services& svc) {
  auto who = co_await authorize(ctx, svc, auth::Permission::own_record_read, {});
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  const auto patient_id = *std::get<Principal>(who).user.patient_id;
  auto rows = co_await server::offload(svc.compute, [&] { return svc.store.care_plans(patient_id); });
  for (const auto& r : rows)
    if (r.status == "approved") co_return server::json_response(status::ok, {{"care_plan", care::patient_plan_json(r)}});
  co_return server::json_response(status::ok, {{"care_plan", nullptr}});
}

}  // namespace

void add_care_plan_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::get, "/api/v1/clinic/patients/{id}/care-plans", bind(svc, list_plans));
  router.add(verb::post, "/api/v1/clinic/patients/{id}/care-plans/evaluate", bind(svc, evaluate_now));
  router.add(verb::post, "/api/v1/clinic/patients/{id}/care-plans/{version}/approve", bind(svc, approve));
  router.add(verb::post, "/api/v1/clinic/patients/{id}/care-plans/{version}/edit", bind(svc, edit));
  router.add(verb::post, "/api/v1/clinic/patients/{id}/care-plans/{version}/reject", bind(svc, reject));
  router.add(verb::get, "/api/v1/me/care-plan", bind(svc, my_plan));
}

}  // namespace careloop::mobile_api::detail
