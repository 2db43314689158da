// /api/v1/admin/...: the administrator sets, reads and removes a clinic's
// webhook (webhooks/README.md; the secret is write-only: no answer ever
// carries it), and lists, deactivates, reactivates and signs out user
// accounts. Every change commits in the same write job as its audit entry.
#include "careloop/core/time.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "careloop/webhooks/webhooks.hpp"
#include "common.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

constexpr std::size_t min_secret_chars = 16;
constexpr std::size_t max_secret_chars = 1024;

json iso_or_null(const std::optional<std::int64_t>& ms) {
  return ms ? json(core::format_iso8601_utc(*ms)) : json(nullptr);
}

json webhook_json(const store::ClinicWebhook& w) {
  return {{"clinic_id", w.clinic_id},
          {"url", w.url},
          {"enabled", w.enabled},
          {"created_at", core::format_iso8601_utc(w.created_at_ms)},
          {"updated_at", core::format_iso8601_utc(w.updated_at_ms)},
          {"delivery",
           {{"delivered_seq", w.delivered_seq},
            {"pending", w.pending_events},
            {"attempts", w.attempts},
            {"last_error", w.last_error.empty() ? json(nullptr) : json(w.last_error)},
            {"last_error_at", iso_or_null(w.last_error_at_ms)},
            {"next_attempt_at", iso_or_null(w.next_attempt_ms)},
            {"last_delivered_at", iso_or_null(w.last_delivered_at_ms)}}}};
}

struct AdminOfClinic {
  Principal who;
  std::int64_t clinic_id = 0;
};

// Only the administrator (auth::Permission::administer); 404 for a clinic that does not exist.
asio::awaitable<std::variant<AdminOfClinic, Response>> admin_of_clinic(RequestContext& ctx, Services& svc) {
  auto id = path_id(ctx);
  auth::Resource r;
  r.clinic_id = id;
  auto allowed = co_await authorize(ctx, svc, auth::Permission::administer, r);
  if (auto* refused = std::get_if<Response>(&allowed)) co_return std::move(*refused);
  if (!id) co_return server::problem_response(status::not_found, "Not Found", "no clinic has this id");
  auto clinic = co_await server::offload(svc.compute, [&] { return svc.store.clinic(*id); });
  if (!clinic) {
    if (clinic.error().code == core::Errc::not_found)
      co_return server::problem_response(status::not_found, "Not Found", "clinic " + std::to_string(*id) + " not found");
    co_return server::problem_from(clinic.error());
  }
  co_return AdminOfClinic{std::move(std::get<Principal>(allowed)), *id};
}

store::AuditEntry audit_entry(RequestContext& ctx, const AdminOfClinic& a, std::string action, std::string detail) {
  store::AuditEntry e;
  e.at_ms = core::now_utc_ms();
  e.actor_user_id = a.who.user.id;
  e.action = std::move(action);
  e.clinic_id = a.clinic_id;
  e.detail = std::move(detail);
  e.remote_addr = remote_address(ctx);
  return e;
}

// PUT {"url", "secret"} → 200 the webhook (without the secret).
asio::awaitable<Response> put_webhook(RequestContext& ctx, Services& svc) {
  auto found = co_await admin_of_clinic(ctx, svc);
  if (auto* refused = std::get_if<Response>(&found)) co_return std::move(*refused);
  auto& a = std::get<AdminOfClinic>(found);
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object {\"url\", \"secret\"}");
  std::vector<core::FieldError> errors;
  for (const auto& [k, v] : body->items())
    if (k != "url" && k != "secret") errors.push_back({"/" + k, "unknown field"});
  const auto url = string_field(*body, "url");
  if (!url) {
    errors.push_back({"/url", "url is required: an https:// URL"});
  } else if (auto parsed = webhooks::check_url(*url, svc.config.webhook_policy); !parsed) {
    for (auto& f : parsed.error().fields) errors.push_back(std::move(f));
  }
  const auto secret = string_field(*body, "secret");
  if (!secret || secret->size() < min_secret_chars || secret->size() > max_secret_chars)
    errors.push_back({"/secret", "secret is required: a string of 16 to 1024 characters"});
  if (!errors.empty()) co_return invalid_fields(std::move(errors), "Invalid webhook");

  auto e = audit_entry(ctx, a, "clinic.webhook.set", json{{"url", *url}}.dump(-1, ' ', false, json::error_handler_t::replace));
  auto saved = co_await server::await_completion<store::ClinicWebhook>([&](auto done) {
    svc.store.set_webhook(a.clinic_id, *url, *secret, std::move(e), std::move(done));
  });
  if (!saved) co_return server::problem_from(saved.error());
  if (svc.webhook_changed) svc.webhook_changed(a.clinic_id);
  auto shown = co_await server::offload(svc.compute, [&] { return svc.store.webhook(a.clinic_id); });
  co_return server::json_response(status::ok, webhook_json(shown ? *shown : *saved));
}

// GET → 200 the webhook and its delivery status; 404 when the clinic has none.
asio::awaitable<Response> get_webhook(RequestContext& ctx, Services& svc) {
  auto found = co_await admin_of_clinic(ctx, svc);
  if (auto* refused = std::get_if<Response>(&found)) co_return std::move(*refused);
  auto& a = std::get<AdminOfClinic>(found);
  if (auto refused = co_await audit(ctx, svc, a.who.user, "clinic.webhook.read", std::nullopt, a.clinic_id))
    co_return std::move(*refused);
  auto w = co_await server::offload(svc.compute, [&] { return svc.store.webhook(a.clinic_id); });
  if (!w)
    co_return server::problem_response(status::not_found, "Not Found",
                                       "clinic " + std::to_string(a.clinic_id) + " has no webhook");
  co_return server::json_response(status::ok, webhook_json(*w));
}

// DELETE → 204; 404 when the clinic has none. Events not yet delivered are not sent.
asio::awaitable<Response> delete_webhook(RequestContext& ctx, Services& svc) {
  auto found = co_await admin_of_clinic(ctx, svc);
  if (auto* refused = std::get_if<Response>(&found)) co_return std::move(*refused);
  auto& a = std::get<AdminOfClinic>(found);
  auto removed = co_await server::await_completion<core::Unit>([&](auto done) {
    svc.store.delete_webhook(a.clinic_id, audit_entry(ctx, a, "clinic.webhook.delete", ""), std::move(done));
  });
  if (!removed) {
    if (removed.error().code == core::Errc::not_found)
      co_return server::problem_response(status::not_found, "Not Found", removed.error().message);
    co_return server::problem_from(removed.error());
  }
  if (svc.webhook_changed) svc.webhook_changed(a.clinic_id);
  co_return Response{status::no_content, ctx.request.version()};
}

// ---- user accounts

json account_json(const core::User& u) {
  auto j = user_json(u);
  j["active"] = u.active;
  return j;
}

// GET /api/v1/admin/users → {users: [...]}, every account with whether it may sign in.
asio::awaitable<Response> list_users(RequestContext& ctx, Services& svc) {
  auto allowed = co_await authorize(ctx, svc, auth::Permission::administer, {});
  if (auto* refused = std::get_if<Response>(&allowed)) co_return std::move(*refused);
  auto users = co_await server::offload(svc.compute, [&] { return svc.store.users(); });
  json out = json::array();
  for (const auto& u : users) out.push_back(account_json(u));
  co_return server::json_response(status::ok, {{"users", std::move(out)}});
}

// POST /api/v1/admin/users/{id}/{deactivate|reactivate|revoke-sessions}.
// Deactivating signs the account out everywhere; an administrator cannot
// deactivate or sign out the account it is using (409), so that the last
// administrator is never locked out by a slip.
asio::awaitable<Response> user_access(RequestContext& ctx, Services& svc, std::string_view what) {
  auto allowed = co_await authorize(ctx, svc, auth::Permission::administer, {});
  if (auto* refused = std::get_if<Response>(&allowed)) co_return std::move(*refused);
  const auto& admin = std::get<Principal>(allowed);
  auto id = path_id(ctx);
  if (!id) co_return server::problem_response(status::not_found, "Not Found", "no user has this id");
  if (*id == admin.user.id && what != "reactivate")
    co_return server::problem_response(status::conflict, "Conflict", "you cannot do this to the account you are using");
  store::AuditEntry e;
  e.at_ms = core::now_utc_ms();
  e.actor_user_id = admin.user.id;
  e.detail = json{{"user_id", *id}}.dump();
  e.remote_addr = remote_address(ctx);
  auto not_found_or = [](const core::Error& err) {
    return err.code == core::Errc::not_found ? server::problem_response(status::not_found, "Not Found", err.message)
                                             : server::problem_from(err);
  };
  Response res;
  if (what == "revoke-sessions") {
    e.action = "user.sessions.revoke";
    auto n = co_await server::await_completion<std::int64_t>(
        [&](auto done) { svc.store.revoke_user_sessions(*id, e, std::move(done)); });
    if (!n) co_return not_found_or(n.error());
    res = server::json_response(status::ok, {{"user_id", *id}, {"sessions_ended", *n}});
  } else {
    const bool active = what == "reactivate";
    e.action = active ? "user.reactivate" : "user.deactivate";
    auto user = co_await server::await_completion<core::User>(
        [&](auto done) { svc.store.set_user_active(*id, active, e, std::move(done)); });
    if (!user) co_return not_found_or(user.error());
    res = server::json_response(status::ok, account_json(*user));
  }
  // Its live streams close now, not at their next heartbeat.
  if (svc.events) svc.events->publish_all();
  co_return res;
}

}  // namespace

void add_admin_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::put, "/api/v1/admin/clinics/{id}/webhook", bind(svc, put_webhook));
  router.add(verb::get, "/api/v1/admin/clinics/{id}/webhook", bind(svc, get_webhook));
  router.add(verb::delete_, "/api/v1/admin/clinics/{id}/webhook", bind(svc, delete_webhook));
  router.add(verb::get, "/api/v1/admin/users", bind(svc, list_users));
  for (const char* what : {"deactivate", "reactivate", "revoke-sessions"})
    router.add(verb::post, std::string("/api/v1/admin/users/{id}/") + what,
               [svc, what](RequestContext& ctx) { return user_access(ctx, *svc, what); });
}

}  // namespace careloop::mobile_api::detail
