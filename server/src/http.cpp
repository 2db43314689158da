#include "careloop/server/http.hpp"

#include "careloop/server/stream.hpp"

namespace careloop::server {

Response json_response(http::status status, const nlohmann::json& body) {
  Response res{status, 11};
  res.set(http::field::content_type, json_media_type);
  // A stored string that is not UTF-8 (written before the API refused it, or
  // by a tool) is shown with U+FFFD, never turned into a failed view.
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

Response problem_response(http::status status, std::string_view title, std::string_view detail,
                          std::vector<core::FieldError> errors, std::string_view type) {
  nlohmann::json body = {
      {"type", type},
      {"title", title},
      {"status", static_cast<unsigned>(status)},
      {"detail", detail},
  };
  if (!errors.empty()) {
    auto& list = body["errors"] = nlohmann::json::array();
    for (auto& e : errors) list.push_back({{"pointer", std::move(e.pointer)}, {"detail", std::move(e.detail)}});
  }
  Response res{status, 11};
  res.set(http::field::content_type, problem_media_type);
  // Invalid UTF-8 in a detail (echoed input) must not turn a 4xx into a throw.
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

http::status status_of(const core::Error& error) noexcept {
  switch (error.code) {
    case core::Errc::invalid:
      return error.fields.empty() ? http::status::bad_request : http::status::unprocessable_entity;
    case core::Errc::not_found: return http::status::not_found;
    case core::Errc::conflict: return http::status::conflict;
    case core::Errc::forbidden: return http::status::forbidden;
    case core::Errc::unavailable: return http::status::service_unavailable;
    case core::Errc::internal: break;
  }
  return http::status::internal_server_error;
}

Response problem_from(const core::Error& error) {
  const auto status = status_of(error);
  if (status == http::status::service_unavailable) return unavailable_response();
  // An internal message may name tables, paths or SQL: log it, don't send it.
  const std::string detail =
      status == http::status::internal_server_error ? "The server could not complete the request." : error.message;
  return problem_response(status, http::obsolete_reason(status), detail, error.fields);
}

Response unavailable_response() {
  // The store logged the cause at error; the client is told only to come back.
  auto res = problem_response(http::status::service_unavailable, "Service Unavailable",
                              "The database cannot answer just now (busy, full or shutting down); nothing was "
                              "stored. Try again after Retry-After seconds.");
  res.set(http::field::retry_after, std::to_string(retry_after_seconds));
  return res;
}

std::string sse_event(std::string_view data, std::string_view event, std::string_view id) {
  std::string out;
  if (!id.empty()) out.append("id: ").append(id).append("\n");
  if (!event.empty()) out.append("event: ").append(event).append("\n");
  for (;;) {
    const auto nl = data.find('\n');
    out.append("data: ").append(data.substr(0, nl)).append("\n");
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  out.append("\n");
  return out;
}

}  // namespace careloop::server
