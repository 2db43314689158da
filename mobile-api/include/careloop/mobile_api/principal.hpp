#pragma once
// Who is calling: the user behind a valid bearer token.
#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

#include "careloop/core/domain.hpp"
#include "careloop/server/router.hpp"
#include "careloop/store/store.hpp"

namespace careloop::mobile_api {

struct Principal {
  core::User user;
  std::string token_digest;
};

struct Services;

// The bearer token of the request, if any ("Authorization: Bearer ...").
std::optional<std::string> bearer_token(const server::Request& request);

// Resolves the request's token (off the I/O thread) and stores the Principal
// in ctx.principal. nullopt when there is no valid token: unknown, revoked,
// expired, its user deactivated, or a staff session idle too long.
boost::asio::awaitable<std::optional<Principal>> authenticate(server::RequestContext& ctx, Services& services);

// The user behind a token hash, if its session may still be used at now_ms
// (blocking: call on the compute pool). Marks the session used, at most once
// a minute, when `touch`.
std::optional<core::User> session_user(Services& services, const std::string& token_digest, std::int64_t now_ms,
                                       bool touch);

// 401 problem+json with WWW-Authenticate: Bearer.
server::Response unauthorized(std::string_view detail);
server::Response forbidden(std::string_view detail);

}  // namespace careloop::mobile_api
