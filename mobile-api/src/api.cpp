#include "careloop/mobile_api/api.hpp"

#include <algorithm>

#include "careloop/server/http.hpp"
#include "routes.hpp"

namespace careloop::mobile_api {

HashingPool::HashingPool(int threads, int max_waiting)
    : pool_(static_cast<std::size_t>(std::max(1, threads))),
      limit_(std::max(1, threads) + std::max(0, max_waiting)),
      admitted_(std::make_shared<std::atomic<int>>(0)) {}

HashingPool::~HashingPool() { pool_.join(); }

std::shared_ptr<void> HashingPool::admit() {
  if (admitted_->fetch_add(1) >= limit_) {
    admitted_->fetch_sub(1);
    return nullptr;
  }
  // Not null (a null shared_ptr tests false): it points at the count it gives back to.
  return std::shared_ptr<void>(static_cast<void*>(admitted_.get()),
                               [admitted = admitted_](void*) { admitted->fetch_sub(1); });
}

void add_routes(server::Router& router, std::shared_ptr<Services> services) {
  detail::add_auth_routes(router, services);
  detail::add_me_routes(router, services);
  detail::add_clinic_routes(router, services);
  detail::add_alert_routes(router, services);
  detail::add_fhir_routes(router, services);
  detail::add_risk_routes(router, services);
  detail::add_care_plan_routes(router, services);
  detail::add_report_routes(router, services);
  detail::add_admin_routes(router, services);
  detail::add_visit_routes(router, services);
  detail::add_measurement_routes(router, services);
  detail::add_privacy_routes(router, services);
  // The contract of everything above; public, like the API's own description.
  router.add(server::http::verb::get, "/api/v1/openapi.json",
             [](server::RequestContext& ctx) -> boost::asio::awaitable<server::Response> {
               server::Response res{server::http::status::ok, ctx.request.version()};
               res.set(server::http::field::content_type, "application/json");
               res.set(server::http::field::cache_control, "no-cache");
               res.body() = std::string(openapi_document());
               res.prepare_payload();
               co_return res;
             });
}

}  // namespace careloop::mobile_api
