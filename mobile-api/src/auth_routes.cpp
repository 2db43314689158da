// /api/v1/auth/...: login, logout, activation with a clinic's code, and
// password change. Guessing is slowed and then refused (LoginThrottle), per
// account and per address, with 429 and Retry-After.
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cctype>

#include "careloop/auth/password.hpp"
#include "careloop/core/time.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "consent.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

// Throttle keys: accounts are case-insensitive like usernames; activation
// attempts and password changes have their own namespaces.
std::string account_key(std::string_view prefix, std::string_view name) {
  std::string k(prefix);
  for (char c : name) k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return k;
}

Response too_many(std::int64_t retry_after_ms) {
  const auto seconds = std::max<std::int64_t>(1, (retry_after_ms + 999) / 1000);
  auto res = server::problem_response(status::too_many_requests, "Too Many Requests",
                                      "too many failed attempts; try again in " + std::to_string(seconds) + " s");
  res.set(server::http::field::retry_after, std::to_string(seconds));
  return res;
}

// Reserves an attempt with the throttle (counted as failed until proven
// right) and applies its verdict: a refusal, or a non-blocking pause.
asio::awaitable<std::optional<Response>> throttle(RequestContext& ctx, Services& svc, const std::string& account) {
  const auto verdict = svc.throttle->reserve(account, remote_address(ctx), core::now_utc_ms());
  if (verdict.retry_after_ms > 0) co_return too_many(verdict.retry_after_ms);
  if (verdict.delay_ms > 0) {
    asio::steady_timer pause(ctx.executor, std::chrono::milliseconds(verdict.delay_ms));
    co_await pause.async_wait(asio::use_awaitable);
  }
  co_return std::nullopt;
}

Response hashing_busy() {
  auto res = server::problem_response(status::service_unavailable, "Service Unavailable",
                                      "too many sign-ins at once; try again in a few seconds");
  res.set(server::http::field::retry_after, "2");
  return res;
}

asio::awaitable<Response> session_response(Services& svc, const core::User& user, status st) {
  const auto token = auth::new_token();
  store::Session session{user.id, core::now_utc_ms() + svc.config.session_lifetime_ms};
  auto created = co_await server::await_completion<core::Unit>(
      [&](auto done) { svc.store.create_session(auth::token_digest(token), session, std::move(done)); });
  if (!created) co_return server::problem_from(created.error());
  co_return server::json_response(
      st, {{"token", token}, {"expires_at", core::format_iso8601_utc(session.expires_at_ms)}, {"user", user_json(user)}});
}

// POST /api/v1/auth/login {username, password} → {token, expires_at, user}
asio::awaitable<Response> login(RequestContext& ctx, Services& svc) {
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");
  auto username = string_field(*body, "username");
  auto password = string_field(*body, "password");
  if (!username || username->empty() || username->size() > 64)
    co_return invalid_field("/username", "username is required: a string of 1 to 64 characters");
  if (!password || password->size() > 256)
    co_return invalid_field("/password", "password is required: a string of at most 256 characters");

  const auto account = account_key("login:", *username);
  const auto address = remote_address(ctx);
  if (auto refused = co_await throttle(ctx, svc, account)) co_return std::move(*refused);
  auto ticket = svc.hashing->admit();
  if (!ticket) {
    svc.throttle->give_back(account, address);
    co_return hashing_busy();
  }

  // Lookup and Argon2id verification both block: the hashing pool, never the one that serves reads.
  auto user = co_await server::offload(svc.hashing->pool(), [&]() -> std::optional<core::User> {
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
  ticket.reset();
  if (!user) co_return unauthorized("the username or password is wrong");  // the reservation stays a failure
  svc.throttle->succeeded(account, address);
  co_return co_await session_response(svc, *user, status::ok);
}

asio::awaitable<Response> logout(RequestContext& ctx, Services& svc) {
  auto who = co_await authenticate(ctx, svc);
  if (!who) co_return unauthorized("log in first");
  auto revoked = co_await server::await_completion<core::Unit>(
      [&](auto done) { svc.store.revoke_session(who->token_digest, std::move(done)); });
  if (!revoked) co_return server::problem_from(revoked.error());
  // Live streams opened with this token close now, not at their next heartbeat.
  if (svc.events) svc.events->publish_all();
  co_return Response{status::no_content, ctx.request.version()};
}

// Usernames people can type on a phone and read out to a nurse.
std::optional<std::string> username_problem(const std::string& u) {
  if (u.size() < 3 || u.size() > 64) return "a username has 3 to 64 characters";
  for (unsigned char c : u)
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-' && c != '@' && c != '+')
      return "a username may use letters, digits and . _ - @ + only";
  return std::nullopt;
}

// Codes are read off paper: case, spaces and dashes do not matter.
std::string normalise_code(std::string_view code) {
  std::string out;
  for (char c : code)
    if (c != ' ' && c != '-') out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// The separate consent to processing health data asked with activation
// ({"version", "accepted": true}, PIPL Art. 29): the decision to store with
// the account, or errors naming /consent/... . Only the wording asked now may
// be accepted, and only explicitly (a pre-ticked or implied consent is none).
std::optional<store::ConsentRecord> activation_consent(const json& body, std::vector<core::FieldError>& errors) {
  const auto it = body.find("consent");
  if (it == body.end() || !it->is_object()) {
    errors.push_back({"/consent", "consent is required: {\"version\": the version shown, \"accepted\": true} after the "
                                  "patient read GET /api/v1/consent/health-data"});
    return std::nullopt;
  }
  const auto accepted = it->find("accepted");
  const bool ok = accepted != it->end() && accepted->is_boolean() && accepted->get<bool>();
  if (!ok)
    errors.push_back({"/consent/accepted", "an account that sends health data needs the patient's explicit consent "
                                           "(accepted: true)"});
  const auto version = string_field(*it, "version");
  const auto& current = current_health_data_wording();
  if (!version) {
    errors.push_back({"/consent/version", "the version of the wording shown is required"});
    return std::nullopt;
  }
  if (*version != current.version) {
    errors.push_back({"/consent/version", "the wording changed: show version " + current.version +
                                              " (GET /api/v1/consent/health-data) and ask again"});
    return std::nullopt;
  }
  if (!ok) return std::nullopt;
  return health_data_consent_grant();
}

// POST /api/v1/auth/activate {code, username, password, consent} → 201 {token, expires_at, user}
asio::awaitable<Response> activate(RequestContext& ctx, Services& svc) {
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");
  std::vector<core::FieldError> errors;
  auto code = string_field(*body, "code");
  auto username = string_field(*body, "username");
  auto password = string_field(*body, "password");
  if (!code || code->empty() || code->size() > 64)
    errors.push_back({"/code", "code is required: the activation code the clinic gave you"});
  if (!username)
    errors.push_back({"/username", "username is required and must be a string"});
  else if (auto why = username_problem(*username))
    errors.push_back({"/username", *why});
  if (!password)
    errors.push_back({"/password", "password is required and must be a string"});
  else if (auto rules = auth::check_password_rules(*password); !rules)
    errors.push_back({"/password", rules.error().message});
  auto consent = activation_consent(*body, errors);
  if (!errors.empty()) co_return invalid_fields(std::move(errors));
  consent->remote_addr = remote_address(ctx);

  // Codes have about 50 bits; the throttle keeps guessing them hopeless. It
  // counts by address: wrong codes from one place must not lock out every
  // patient activating anywhere else.
  const auto address = remote_address(ctx);
  const std::string account = "activate@" + address;
  if (auto refused = co_await throttle(ctx, svc, account)) co_return std::move(*refused);
  auto ticket = svc.hashing->admit();
  if (!ticket) {
    svc.throttle->give_back(account, address);
    co_return hashing_busy();
  }
  auto hash = co_await server::offload(svc.hashing->pool(), [&] { return auth::hash_password(*password); });
  ticket.reset();
  if (!hash) {
    svc.throttle->give_back(account, address);
    co_return server::problem_from(hash.error());
  }
  store::Activation a{auth::token_digest(normalise_code(*code)), *username, std::move(*hash), "", std::move(consent)};
  auto user = co_await server::await_completion<core::User>(
      [&](auto done) { svc.store.activate(std::move(a), std::move(done)); });
  if (!user) {
    // Only a wrong code is a guess; a taken username is not.
    if (user.error().code != core::Errc::invalid) svc.throttle->give_back(account, address);
    co_return server::problem_from(user.error());
  }
  svc.throttle->succeeded(account, address);
  co_return co_await session_response(svc, *user, status::created);
}

// POST /api/v1/auth/password {current_password, new_password} → 204.
// Every other session of the account ends (a lost phone is logged out).
asio::awaitable<Response> change_password(RequestContext& ctx, Services& svc) {
  auto who = co_await authenticate(ctx, svc);
  if (!who) co_return unauthorized("log in first");
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");
  auto current = string_field(*body, "current_password");
  auto next = string_field(*body, "new_password");
  std::vector<core::FieldError> errors;
  if (!current || current->size() > 256) errors.push_back({"/current_password", "current_password is required and must be a string"});
  if (!next)
    errors.push_back({"/new_password", "new_password is required and must be a string"});
  else if (auto rules = auth::check_password_rules(*next); !rules)
    errors.push_back({"/new_password", rules.error().message});
  if (!errors.empty()) co_return invalid_fields(std::move(errors));

  const auto account = account_key("login:", who->user.username);
  const auto address = remote_address(ctx);
  if (auto refused = co_await throttle(ctx, svc, account)) co_return std::move(*refused);
  auto ticket = svc.hashing->admit();
  if (!ticket) {
    svc.throttle->give_back(account, address);
    co_return hashing_busy();
  }
  auto new_hash = co_await server::offload(svc.hashing->pool(), [&]() -> core::Result<std::string> {
    auto stored = svc.store.password_hash(who->user.id);
    if (!stored || !auth::verify_password(*stored, *current))
      return core::Error::invalid("the current password is wrong", {{"/current_password", "wrong password"}});
    return auth::hash_password(*next);
  });
  ticket.reset();
  if (!new_hash) {
    // A wrong current password stays counted; anything else is given back.
    if (new_hash.error().code != core::Errc::invalid) svc.throttle->give_back(account, address);
    co_return server::problem_from(new_hash.error());
  }
  svc.throttle->succeeded(account, address);
  auto changed = co_await server::await_completion<core::Unit>([&](auto done) {
    svc.store.change_password(who->user.id, std::move(*new_hash), who->token_digest, std::move(done));
  });
  if (!changed) co_return server::problem_from(changed.error());
  // The other sessions just ended: their live streams close now.
  if (svc.events) svc.events->publish_all();
  co_return Response{status::no_content, ctx.request.version()};
}

}  // namespace

void add_auth_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::post, "/api/v1/auth/login", bind(svc, login));
  router.add(verb::post, "/api/v1/auth/logout", bind(svc, logout));
  router.add(verb::post, "/api/v1/auth/activate", bind(svc, activate));
  router.add(verb::post, "/api/v1/auth/password", bind(svc, change_password));
}

}  // namespace careloop::mobile_api::detail
