// FHIR R4 routes: being written (issue 3).
#include "routes.hpp"

namespace careloop::mobile_api::detail {

void add_fhir_routes(server::Router&, const std::shared_ptr<Services>&) {}

}  // namespace careloop::mobile_api::detail
