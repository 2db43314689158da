#include "careloop/mobile_api/api.hpp"

#include "careloop/server/http.hpp"
#include "routes.hpp"

namespace careloop::mobile_api {

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
