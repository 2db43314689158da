#include "careloop/mobile_api/api.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

#include "careloop/auth/password.hpp"
#include "careloop/core/time.hpp"
#include "careloop/mobile_api/principal.hpp"
#include "careloop/mobile_api/reading_json.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"

namespace careloop::mobile_api {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using server::http::status;
using server::http::verb;
using server::RequestContext;
using server::Response;

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
  for (const auto& m : p.medications) meds.push_back({{"name", m.name}, {"dose", m.dose}, {"since", core::format_date(m.since)}});
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

std::optional<std::string> string_field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

Response invalid_field(const char* pointer, std::string detail) {
  return server::problem_response(status::unprocessable_entity, "Invalid request", detail,
                                  {{pointer, std::move(detail)}});
}

// POST /api/v1/auth/login {username, password} → {token, expires_at, user}
asio::awaitable<Response> login(RequestContext& ctx, Services& svc) {
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");
  auto username = string_field(*body, "username");
  auto password = string_field(*body, "password");
  if (!username) co_return invalid_field("/username", "username is required and must be a string");
  if (!password) co_return invalid_field("/password", "password is required and must be a string");

  // Lookup and Argon2id verification both block: compute pool.
  auto user = co_await server::offload(svc.compute, [&]() -> std::optional<core::User> {
    auto u = svc.store.user_by_username(*username);
    if (!u || !u->active) {
      // Spend the same effort as a real check so timing does not reveal which usernames exist.
      static const std::string dummy = auth::hash_password("not-a-real-password").value();
      auth::verify_password(dummy, *password);
      return std::nullopt;
    }
    auto hash = svc.store.password_hash(u->id);
    if (!hash || !auth::verify_password(*hash, *password)) return std::nullopt;
    return std::move(*u);
  });
  if (!user) co_return unauthorized("the username or password is wrong");

  const auto token = auth::new_token();
  const std::int64_t now = core::now_utc_ms();
  store::Session session{user->id, now + svc.config.session_lifetime_ms};
  auto created = co_await server::await_completion<core::Unit>(
      [&](auto done) { svc.store.create_session(auth::token_digest(token), session, std::move(done)); });
  if (!created) co_return server::problem_from(created.error());
  co_return server::json_response(
      status::ok, {{"token", token}, {"expires_at", core::format_iso8601_utc(session.expires_at_ms)}, {"user", user_json(*user)}});
}

asio::awaitable<Response> logout(RequestContext& ctx, Services& svc) {
  auto who = co_await authenticate(ctx, svc);
  if (!who) co_return unauthorized("log in first");
  auto revoked = co_await server::await_completion<core::Unit>(
      [&](auto done) { svc.store.revoke_session(who->token_digest, std::move(done)); });
  if (!revoked) co_return server::problem_from(revoked.error());
  Response res{status::no_content, ctx.request.version()};
  co_return res;
}

// The patient behind the token, or the response that refuses the request.
asio::awaitable<std::variant<Principal, Response>> patient_principal(RequestContext& ctx, Services& svc) {
  auto who = co_await authenticate(ctx, svc);
  if (!who) co_return unauthorized("log in first");
  if (who->user.role != core::Role::patient || !who->user.patient_id)
    co_return forbidden("this endpoint is for patients; staff use /api/v1/clinic/...");
  co_return std::move(*who);
}

asio::awaitable<Response> me(RequestContext& ctx, Services& svc) {
  auto who = co_await patient_principal(ctx, svc);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  const auto& user = std::get<Principal>(who).user;
  auto patient = co_await server::offload(svc.compute, [&] { return svc.store.patient(*user.patient_id); });
  if (!patient) co_return server::problem_from(patient.error());
  co_return server::json_response(status::ok, {{"user", user_json(user)}, {"patient", patient_json(*patient)}});
}

// POST /api/v1/me/readings: one result per item, in the order sent.
asio::awaitable<Response> post_readings(RequestContext& ctx, Services& svc) {
  auto who = co_await patient_principal(ctx, svc);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  const auto patient_id = *std::get<Principal>(who).user.patient_id;
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  auto batch = parse_reading_batch(*body, core::now_utc_ms());
  if (!batch) co_return server::problem_from(batch.error());

  std::vector<core::Reading> valid;
  std::vector<std::size_t> valid_index;
  for (std::size_t i = 0; i < batch->items.size(); ++i) {
    if (auto* r = std::get_if<core::Reading>(&batch->items[i])) {
      r->patient_id = patient_id;
      valid.push_back(std::move(*r));
      valid_index.push_back(i);
    }
  }
  std::vector<store::InsertOutcome> outcomes;
  if (!valid.empty()) {
    auto stored = co_await server::await_completion<std::vector<store::InsertOutcome>>(
        [&](auto done) { svc.store.insert_readings(patient_id, std::move(valid), std::move(done)); });
    if (!stored) co_return server::problem_from(stored.error());
    outcomes = std::move(*stored);
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
  co_return server::json_response(status::ok, {{"results", std::move(results)}});
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// GET /api/v1/me/readings?kind=&from=&to=&limit=&cursor=
asio::awaitable<Response> get_readings(RequestContext& ctx, Services& svc) {
  auto who = co_await patient_principal(ctx, svc);
  if (auto* refused = std::get_if<Response>(&who)) co_return std::move(*refused);
  store::ReadingQuery q;
  q.patient_id = *std::get<Principal>(who).user.patient_id;
  std::vector<core::FieldError> errors;
  if (auto k = ctx.query_param("kind")) {
    q.kind = core::parse_reading_kind(*k);
    if (!q.kind) errors.push_back({"/query/kind", "kind must be one of blood_pressure, glucose, weight, heart_rate, hba1c, medication"});
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
  if (auto v = ctx.query_param("limit")) {
    auto n = parse_int(*v);
    if (!n || *n < 1 || *n > 1000)
      errors.push_back({"/query/limit", "limit must be an integer from 1 to 1000"});
    else
      q.limit = static_cast<int>(*n);
  }
  if (auto v = ctx.query_param("cursor")) {
    auto n = parse_int(*v);
    if (!n || *n < 0)
      errors.push_back({"/query/cursor", "cursor must be the next_cursor of a previous page"});
    else
      q.after_id = *n;
  }
  if (!errors.empty())
    co_return server::problem_response(status::unprocessable_entity, "Invalid query", errors.front().detail, errors);
  const int want = q.limit;
  q.limit = want + 1;  // one more tells whether another page exists
  auto rows = co_await server::offload(svc.compute, [&] { return svc.store.readings(q); });
  json items = json::array();
  for (std::size_t i = 0; i < rows.size() && static_cast<int>(i) < want; ++i) items.push_back(to_json(rows[i]));
  json out{{"readings", items}};
  if (static_cast<int>(rows.size()) > want) out["next_cursor"] = std::to_string(rows[static_cast<std::size_t>(want) - 1].id);
  co_return server::json_response(status::ok, out);
}

}  // namespace

void add_routes(server::Router& router, std::shared_ptr<Services> svc) {
  auto bind = [svc](auto fn) {
    return [svc, fn](RequestContext& ctx) -> asio::awaitable<Response> { return fn(ctx, *svc); };
  };
  router.add(verb::post, "/api/v1/auth/login", bind(login));
  router.add(verb::post, "/api/v1/auth/logout", bind(logout));
  router.add(verb::get, "/api/v1/me", bind(me));
  router.add(verb::post, "/api/v1/me/readings", bind(post_readings));
  router.add(verb::get, "/api/v1/me/readings", bind(get_readings));
}

}  // namespace careloop::mobile_api
