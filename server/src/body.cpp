#include "careloop/server/body.hpp"

#include <boost/beast/core/string.hpp>

#include <string>

namespace careloop::server {

bool is_json_media_type(std::string_view content_type) noexcept {
  auto type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  return boost::beast::iequals(type, "application/json") || boost::beast::iequals(type, "application/fhir+json");
}

JsonBody parse_json_body(const Request& request) {
  if (!is_json_media_type(request[http::field::content_type]))
    return JsonBody{problem_response(http::status::unsupported_media_type, "Unsupported Media Type",
                                     "The request body must be application/json.")};

  // The parser itself is iterative, but handlers, dump() and comparisons
  // recurse: refuse a "[[[[..." bomb at max_json_depth, before it is built.
  bool too_deep = false;
  auto guard = [&too_deep](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    using E = nlohmann::json::parse_event_t;
    if ((event == E::object_start || event == E::array_start) &&
        static_cast<std::size_t>(depth) >= max_json_depth)
      too_deep = true;
    return !too_deep;
  };
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(request.body(), guard);
  } catch (const nlohmann::json::parse_error& e) {
    return JsonBody{problem_response(http::status::bad_request, "Malformed JSON",
                                     "The request body is not valid JSON: syntax error at byte " +
                                         std::to_string(e.byte) + ".")};
  } catch (const nlohmann::json::out_of_range&) {
    // 1e400 and its kin: valid JSON grammar, but no double can hold it.
    return JsonBody{problem_response(http::status::bad_request, "Malformed JSON",
                                     "The request body holds a number too large to represent.")};
  }
  if (too_deep)
    return JsonBody{problem_response(http::status::bad_request, "Malformed JSON",
                                     "The JSON body is nested deeper than " + std::to_string(max_json_depth) +
                                         " levels.")};
  return JsonBody{std::move(value)};
}

}  // namespace careloop::server
