#pragma once
// Reading a JSON request body: media type checked, parse errors located,
// nesting bounded so a hostile document cannot exhaust the stack.
#include <cstddef>
#include <optional>

#include "careloop/server/http.hpp"

namespace careloop::server {

inline constexpr std::size_t max_json_depth = 64;

// The parsed body, or the problem response that refuses it:
// 415 when Content-Type is not application/json (or application/fhir+json),
// 422 naming the field (JSON pointer) when a string is not valid UTF-8 text,
// 400 when the JSON is malformed (detail says at which byte) or nested
// deeper than max_json_depth. A status code, not a core::Errc, because the
// two refusals need different statuses and neither is a domain error.
class JsonBody {
 public:
  explicit JsonBody(nlohmann::json value) : value_(std::move(value)) {}
  explicit JsonBody(Response problem, std::vector<core::FieldError> errors = {})
      : problem_(std::move(problem)), errors_(std::move(errors)) {}

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  nlohmann::json& value() & { return *value_; }
  const nlohmann::json& value() const& { return *value_; }
  nlohmann::json* operator->() { return &*value_; }
  nlohmann::json& operator*() & { return *value_; }
  // Only when !ok(): the 400/415 answer to send as is.
  Response problem() const { return problem_; }
  // Only when !ok(): the fields the 422 names (a string that is not UTF-8).
  const std::vector<core::FieldError>& errors() const { return errors_; }

 private:
  std::optional<nlohmann::json> value_;
  Response problem_;
  std::vector<core::FieldError> errors_;
};

JsonBody parse_json_body(const Request& request);

// True for application/json and application/fhir+json, parameters ignored.
bool is_json_media_type(std::string_view content_type) noexcept;

}  // namespace careloop::server
