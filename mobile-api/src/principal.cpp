#include "careloop/mobile_api/principal.hpp"

#include "careloop/auth/password.hpp"
#include "careloop/core/time.hpp"
#include "careloop/mobile_api/api.hpp"
#include "careloop/server/offload.hpp"

namespace careloop::mobile_api {

std::optional<std::string> bearer_token(const server::Request& request) {
  const auto it = request.find(server::http::field::authorization);
  if (it == request.end()) return std::nullopt;
  std::string_view v = it->value();
  constexpr std::string_view scheme = "Bearer ";
  if (v.size() <= scheme.size() || !std::equal(scheme.begin(), scheme.end(), v.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      }))
    return std::nullopt;
  v.remove_prefix(scheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  if (v.empty() || v.size() > 128) return std::nullopt;
  return std::string(v);
}

std::optional<core::User> session_user(Services& services, const std::string& token_digest, std::int64_t now_ms,
                                       bool touch) {
  auto session = services.store.session(token_digest);
  if (!session) return std::nullopt;
  auto user = services.store.user(session->user_id);
  if (!user || !user->active) return std::nullopt;
  // A clinic PC left signed in: staff sessions end after an idle time.
  // Patients' phones are their own and keep theirs until expiry.
  const bool staff = user->role != core::Role::patient;
  if (staff && services.config.staff_idle_ms > 0 && now_ms - session->last_seen_ms > services.config.staff_idle_ms)
    return std::nullopt;
  // Recorded at most once a minute: a write per request would cost the writer.
  if (touch && now_ms - session->last_seen_ms > 60'000)
    services.store.touch_session(token_digest, now_ms, [](const core::Status&) {});
  return std::move(*user);
}

boost::asio::awaitable<std::optional<Principal>> authenticate(server::RequestContext& ctx, Services& services) {
  auto token = bearer_token(ctx.request);
  if (!token) co_return std::nullopt;
  auto digest = auth::token_digest(*token);
  auto principal = co_await server::offload(services.compute, [&]() -> std::optional<Principal> {
    auto user = session_user(services, digest, core::now_utc_ms(), true);
    if (!user) return std::nullopt;
    return Principal{std::move(*user), digest};
  });
  if (principal) ctx.principal = *principal;
  co_return principal;
}

server::Response unauthorized(std::string_view detail) {
  auto res = server::problem_response(server::http::status::unauthorized, "Unauthorized", detail);
  res.set(server::http::field::www_authenticate, "Bearer realm=\"careloop\"");
  return res;
}

server::Response forbidden(std::string_view detail) {
  return server::problem_response(server::http::status::forbidden, "Forbidden", detail);
}

}  // namespace careloop::mobile_api
