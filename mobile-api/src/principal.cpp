#include "careloop/mobile_api/principal.hpp"

#include "careloop/auth/password.hpp"
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

boost::asio::awaitable<std::optional<Principal>> authenticate(server::RequestContext& ctx, Services& services) {
  auto token = bearer_token(ctx.request);
  if (!token) co_return std::nullopt;
  auto digest = auth::token_digest(*token);
  auto principal = co_await server::offload(services.compute, [&]() -> std::optional<Principal> {
    auto session = services.store.session(digest);
    if (!session) return std::nullopt;
    auto user = services.store.user(session->user_id);
    if (!user || !user->active) return std::nullopt;
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
