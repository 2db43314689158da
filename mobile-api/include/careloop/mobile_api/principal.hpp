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
// in ctx.principal. nullopt when there is no valid token.
boost::asio::awaitable<std::optional<Principal>> authenticate(server::RequestContext& ctx, Services& services);

// 401 problem+json with WWW-Authenticate: Bearer.
server::Response unauthorized(std::string_view detail);
server::Response forbidden(std::string_view detail);

}  // namespace careloop::mobile_api
