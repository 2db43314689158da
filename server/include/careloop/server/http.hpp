#pragma once
// The HTTP vocabulary of CareLoop: request and response types, JSON and
// problem+json (RFC 9457) responses, and the one mapping from core::Error
// to an HTTP status.
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"

namespace careloop::server {

namespace http = boost::beast::http;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

inline constexpr std::string_view json_media_type = "application/json";
inline constexpr std::string_view problem_media_type = "application/problem+json";

// 200-style JSON answer; Content-Length is set.
Response json_response(http::status status, const nlohmann::json& body);

// application/problem+json: {type, title, status, detail, errors: [{pointer, detail}]}.
// `errors` is present only when there are field errors.
Response problem_response(http::status status, std::string_view title, std::string_view detail,
                          std::vector<core::FieldError> errors = {},
                          std::string_view type = "about:blank");

// The status a core::Error answers with:
//   invalid     → 422 when it names fields (well-formed input that broke a rule),
//                 400 when it names none (the request itself is malformed)
//   not_found   → 404    conflict → 409    forbidden → 403
//   unavailable → 503 with Retry-After    internal → 500 (the message is not shown to the client)
http::status status_of(const core::Error& error) noexcept;
Response problem_from(const core::Error& error);

// How long a client is asked to wait after a 503 of the store.
inline constexpr int retry_after_seconds = 5;
// 503, Retry-After, and no internal message: the database is busy, full or
// closing (Errc::unavailable, returned or thrown as core::Failure).
Response unavailable_response();

}  // namespace careloop::server
