// /api/v1/me/...: a patient's own profile, readings and sync feed.
#include <limits>
#include <tuple>

#include "careloop/core/time.hpp"
#include "careloop/mobile_api/reading_json.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "consent.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

// The targets of an approved plan, in the words a patient app shows.
json targets_json(const std::string& plan_json) {
  const json plan = json::parse(plan_json, nullptr, false);
  if (plan.is_discarded() || !plan.contains("targets") || !plan["targets"].is_array()) return nullptr;
  json out{{"source", "care_plan"}};
  for (const auto& t : plan["targets"]) {
    const auto key = t.value("target", std::string());
    if (!t.contains("value") || !t["value"].is_number()) continue;
    const double v = t["value"].get<double>();
    if (key == "bp.home_systolic_lt") out["bp"]["systolic_below"] = v;
    else if (key == "bp.home_diastolic_lt") out["bp"]["diastolic_below"] = v;
    else if (key == "glucose.fasting_gte") out["fasting_glucose"]["low"] = v;
    else if (key == "glucose.fasting_lt") out["fasting_glucose"]["high"] = v;
    else if (key == "hba1c_lt") out["hba1c_below"] = {{"value", v}, {"unit", "%"}};
  }
  if (out.contains("bp")) out["bp"]["unit"] = "mmHg";
  if (out.contains("fasting_glucose")) out["fasting_glucose"]["unit"] = "mmol/L";
  return out;
}

asio::awaitable<Response> me(RequestContext& ctx, Services& svc) {
  auto who = co_await patient_self(ctx, svc, auth::Permission::own_record_read);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  const auto& user = std::get<Principal>(who).user;
  auto [patient, plan, consents] = co_await server::offload(svc.compute, [&] {
    return std::tuple{svc.store.patient(*user.patient_id), svc.store.approved_care_plan(*user.patient_id),
                      svc.store.consents(*user.patient_id, std::string(health_data_purpose))};
  });
  if (!patient) co_return server::problem_from(patient.error());
  json out{{"user", user_json(user)},
           {"patient", patient_json(*patient)},
           {"targets", nullptr},
           {"care_plan", nullptr},
           {"consent", consent_status_json(consents, false)}};
  if (plan) {
    out["targets"] = targets_json(plan->plan_json);
    out["care_plan"] = {{"version", plan->version},
                        {"approved_at", core::format_iso8601_utc(plan->decided_at_ms.value_or(0))}};
  }
  co_return server::json_response(status::ok, out);
}

asio::awaitable<Response> post_readings(RequestContext& ctx, Services& svc) {
  auto who = co_await patient_self(ctx, svc, auth::Permission::own_record_write);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  const auto patient_id = *std::get<Principal>(who).user.patient_id;
  if (auto refused = co_await require_health_data_consent(svc, patient_id)) co_return std::move(*refused);
  co_return co_await store_readings(ctx, svc, patient_id, "");
}

asio::awaitable<Response> get_readings(RequestContext& ctx, Services& svc) {
  auto who = co_await patient_self(ctx, svc, auth::Permission::own_record_read);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  co_return co_await list_readings(ctx, svc, *std::get<Principal>(who).user.patient_id);
}

json change_json(const store::Change& c) {
  json j{{"seq", c.seq}, {"entity", c.entity}, {"id", c.entity_id}, {"at", core::format_iso8601_utc(c.at_ms)}};
  if (c.reading) {
    j["data"] = to_json(*c.reading);
  } else if (c.message) {
    j["data"] = {{"text", c.message->text}, {"from", {{"display_name", c.message->from_display_name}}}};
  } else if (c.care_plan) {
    json plan = json::parse(c.care_plan->plan_json, nullptr, false);
    j["data"] = {{"version", c.care_plan->version},
                 {"status", c.care_plan->status},
                 {"plan", plan.is_discarded() ? json::object() : plan},
                 {"approved_at", core::format_iso8601_utc(c.care_plan->decided_at_ms.value_or(0))}};
  } else if (c.alert) {
    // The patient hears what to do now (care/ writes it in zh-CN and English), not the clinic's reason.
    j["data"] = {{"tier", c.alert->tier},
                 {"signal", c.alert->signal},
                 {"status", c.alert->status},
                 {"opened_at", core::format_iso8601_utc(c.alert->opened_at_ms)},
                 {"message", c.alert->advice_zh.empty() ? c.alert->reason : c.alert->advice_zh}};
    if (!c.alert->advice_zh.empty())
      j["data"]["messages"] = {{"zh-CN", c.alert->advice_zh}, {"en", c.alert->advice_en}};
  } else {
    return nullptr;  // not for the patient's eyes (a plan not yet approved)
  }
  return j;
}

// GET /api/v1/me/sync?since=SEQ&limit= → {changes, next, more}. Cursors are
// change sequence numbers: a reading uploaded late from another phone still
// gets a seq after every cursor handed out before it.
asio::awaitable<Response> sync(RequestContext& ctx, Services& svc) {
  auto who = co_await patient_self(ctx, svc, auth::Permission::own_record_read);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  std::vector<core::FieldError> errors;
  const std::int64_t since = int_param(ctx, "since", 0, std::numeric_limits<std::int64_t>::max(),
                                       "since must be 0 or the `next` of a previous answer", errors)
                                 .value_or(0);
  const int limit = static_cast<int>(
      int_param(ctx, "limit", 1, 1000, "limit must be an integer from 1 to 1000", errors).value_or(200));
  if (!errors.empty()) co_return invalid_fields(std::move(errors), "Invalid query");
  const auto patient_id = *std::get<Principal>(who).user.patient_id;
  // One more than asked tells whether the feed goes on.
  auto rows = co_await server::offload(svc.compute, [&] { return svc.store.changes(patient_id, since, limit + 1); });
  const bool more = static_cast<int>(rows.size()) > limit;
  if (more) rows.resize(static_cast<std::size_t>(limit));
  json changes = json::array();
  std::int64_t next = since;
  for (const auto& c : rows) {
    next = c.seq;
    if (auto j = change_json(c); !j.is_null()) changes.push_back(std::move(j));
  }
  co_return server::json_response(status::ok, {{"changes", std::move(changes)}, {"next", next}, {"more", more}});
}

}  // namespace

void add_me_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::get, "/api/v1/me", bind(svc, me));
  router.add(verb::post, "/api/v1/me/readings", bind(svc, post_readings));
  router.add(verb::get, "/api/v1/me/readings", bind(svc, get_readings));
  router.add(verb::get, "/api/v1/me/sync", bind(svc, sync));
}

}  // namespace careloop::mobile_api::detail
