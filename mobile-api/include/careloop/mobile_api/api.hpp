#pragma once
// The mobile API v1 (/api/v1/auth/..., /api/v1/me/...): what phone apps and
// the patient web page call. Handlers are coroutines; every store read and
// password hash is offloaded to the compute pool, every write awaits the
// store's writer.
#include <boost/asio/thread_pool.hpp>

#include <cstdint>
#include <memory>

#include "careloop/server/router.hpp"
#include "careloop/store/store.hpp"

namespace careloop::mobile_api {

struct Config {
  std::int64_t session_lifetime_ms = 30LL * 24 * 3600 * 1000;
};

struct Services {
  store::Store& store;
  boost::asio::thread_pool& compute;
  Config config;
};

void add_routes(server::Router& router, std::shared_ptr<Services> services);

}  // namespace careloop::mobile_api
