// Risk scores: the models in service (GET /api/v1/models), a patient's
// scores for the clinic (with the factors a doctor can act on) and for the
// patient (in plain words). Scores are computed by scoring/ and read here
// from the store.
#include <cmath>

#include "careloop/core/time.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

// The catalogue app/ built when the models loaded; never null here.
std::shared_ptr<const json> models_json(Services& svc) {
  static const auto none = std::make_shared<const json>(json::array());
  auto cards = svc.model_cards ? svc.model_cards() : nullptr;
  return cards ? cards : none;
}

const json* model_of(const json& models, const std::string& id) {
  for (const auto& m : models)
    if (m.value("id", std::string()) == id) return &m;
  return nullptr;
}

json score_json(const store::StoredRiskScore& s) {
  json factors = json::parse(s.factors_json, nullptr, false);
  return {{"model_id", s.model_id},
          {"model_version", s.model_version},
          {"probability", s.probability},
          {"band", s.band},
          {"computed_at", core::format_iso8601_utc(s.computed_at_ms)},
          {"factors", factors.is_array() ? factors : json::array()}};
}

// GET /api/v1/models: staff only (patients see their own scores in words).
asio::awaitable<Response> models(RequestContext& ctx, Services& svc) {
  auto who = co_await authorize(ctx, svc, auth::Permission::models_read, {});
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  co_return server::json_response(status::ok, {{"models", *models_json(svc)}});
}

asio::awaitable<Response> patient_risk(RequestContext& ctx, Services& svc) {
  auto id = path_id(ctx);
  if (!id) {
    if (!co_await authenticate(ctx, svc)) co_return unauthorized("log in first");
    co_return server::problem_response(status::not_found, "Not Found", "no patient has this id");
  }
  auto access = co_await authorize_patient(ctx, svc, auth::Permission::patient_read, *id);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  if (auto refused = co_await audit(ctx, svc, a.who.user, "risk.read", a.patient.id, a.patient.clinic_id))
    co_return std::move(*refused);
  auto scores = co_await server::offload(svc.compute, [&] { return svc.store.latest_risk_scores(a.patient.id); });
  json out = json::array();
  const auto catalogue = models_json(svc);
  for (const auto& s : scores) {
    json j = score_json(s);
    if (const json* m = model_of(*catalogue, s.model_id)) j["title"] = m->value("title", std::string());
    out.push_back(std::move(j));
  }
  co_return server::json_response(status::ok, {{"patient_id", a.patient.id}, {"scores", out}});
}

// The patient's words: "About 12 in 100 people with measurements like yours
// develop type 2 diabetes within 8 years." Natural frequencies are what
// patients read best (Gigerenzer); the factors say what raises or lowers it.
json plain_words(const store::StoredRiskScore& s, const json* model) {
  const auto in_100 = static_cast<int>(std::lround(s.probability * 100));
  const json outcome = model ? model->value("patient_outcome", json::object()) : json::object();
  const std::string en = outcome.value("en", std::string("the condition this model predicts"));
  const std::string zh = outcome.value("zh-CN", std::string("所预测的疾病"));
  json factors = json::array();
  const json stored = json::parse(s.factors_json, nullptr, false);
  if (stored.is_array()) {
    for (const auto& f : stored) {
      const double c = f.value("contribution_log_odds", 0.0);
      json x{{"label", f.value("label", std::string())}, {"direction", c >= 0 ? "raises" : "lowers"}};
      if (f.contains("value") && f["value"].is_number()) {
        x["value"] = f["value"];
        x["unit"] = f.value("unit", std::string());
      }
      factors.push_back(std::move(x));
    }
  }
  return {{"model_id", s.model_id},
          {"band", s.band},
          {"in_100", in_100},
          {"computed_at", core::format_iso8601_utc(s.computed_at_ms)},
          {"text",
           {{"en", "About " + std::to_string(in_100) + " in 100 people with measurements like yours develop " + en + "."},
            {"zh-CN", "与您指标相近的人中，每100人约有" + std::to_string(in_100) + "人" + zh + "。"}}},
          {"factors", factors}};
}

asio::awaitable<Response> my_risk(RequestContext& ctx, Services& svc) {
  auto who = co_await authorize(ctx, svc, auth::Permission::own_record_read, {});
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  const auto patient_id = *std::get<Principal>(who).user.patient_id;
  auto scores = co_await server::offload(svc.compute, [&] { return svc.store.latest_risk_scores(patient_id); });
  const auto catalogue = models_json(svc);
  json out = json::array();
  for (const auto& s : scores) out.push_back(plain_words(s, model_of(*catalogue, s.model_id)));
  co_return server::json_response(status::ok, {{"scores", out}});
}

}  // namespace

void add_risk_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::get, "/api/v1/models", bind(svc, models));
  router.add(verb::get, "/api/v1/clinic/patients/{id}/risk", bind(svc, patient_risk));
  router.add(verb::get, "/api/v1/me/risk", bind(svc, my_risk));
}

}  // namespace careloop::mobile_api::detail
