#pragma once
// The route groups of the mobile API; api.cpp registers them all.
#include <memory>

#include "careloop/mobile_api/api.hpp"
#include "careloop/server/router.hpp"

namespace careloop::mobile_api::detail {

// Adapts `fn(ctx, services)` to a router handler that keeps the services alive.
template <class Fn>
server::Handler bind(const std::shared_ptr<Services>& svc, Fn fn) {
  return [svc, fn](server::RequestContext& ctx) -> boost::asio::awaitable<server::Response> { return fn(ctx, *svc); };
}

void add_auth_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_me_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_clinic_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_alert_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_fhir_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_risk_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_care_plan_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_report_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_admin_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_visit_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_measurement_routes(server::Router& router, const std::shared_ptr<Services>& svc);
void add_privacy_routes(server::Router& router, const std::shared_ptr<Services>& svc);

}  // namespace careloop::mobile_api::detail
