#include "careloop/server/body.hpp"

#include <catch2/catch.hpp>

using namespace careloop;
using server::http::status;

namespace {
server::Request post(std::string body, std::string content_type = "application/json") {
  server::Request req{server::http::verb::post, "/x", 11};
  if (!content_type.empty()) req.set(server::http::field::content_type, content_type);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}
nlohmann::json problem_of(const server::JsonBody& b) { return nlohmann::json::parse(b.problem().body()); }
}  // namespace

TEST_CASE("parse_json_body accepts JSON media types", "[body]") {
  CHECK(server::parse_json_body(post(R"({"a":1})")).value()["a"] == 1);
  CHECK(server::parse_json_body(post("[1]", "application/json; charset=utf-8")).ok());
  CHECK(server::parse_json_body(post("{}", "Application/FHIR+JSON")).ok());
}

TEST_CASE("parse_json_body refuses other media types with 415", "[body]") {
  for (const char* type : {"text/plain", "", "application/jsonx", "multipart/form-data"}) {
    auto b = server::parse_json_body(post("{}", type));
    REQUIRE_FALSE(b.ok());
    CHECK(b.problem().result() == status::unsupported_media_type);
    CHECK(b.problem()[server::http::field::content_type] == "application/problem+json");
  }
}

TEST_CASE("parse_json_body says where malformed JSON breaks", "[body]") {
  auto b = server::parse_json_body(post(R"({"a": 1,, })"));
  REQUIRE_FALSE(b.ok());
  CHECK(b.problem().result() == status::bad_request);
  auto j = problem_of(b);
  CHECK(j["status"] == 400);
  CHECK(j["detail"].get<std::string>().find("byte 9") != std::string::npos);
  CHECK_FALSE(server::parse_json_body(post("")).ok());
}

TEST_CASE("parse_json_body bounds nesting depth", "[body]") {
  const auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  CHECK(server::parse_json_body(post(nested(server::max_json_depth))).ok());
  auto deep = server::parse_json_body(post(nested(server::max_json_depth + 1)));
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.problem().result() == status::bad_request);
  CHECK(problem_of(deep)["detail"].get<std::string>().find("nested deeper") != std::string::npos);
  // A bomb far beyond any stack: refused, not a crash.
  CHECK_FALSE(server::parse_json_body(post(nested(1'000'000))).ok());
  CHECK_FALSE(server::parse_json_body(post(std::string(1'000'000, '['))).ok());
}

TEST_CASE("parse_json_body refuses numbers no double can hold with 400", "[body]") {
  for (const char* body : {R"({"systolic": 1e400})", R"([-1e999])", R"({"x": 1e308, "y": 2e308})"}) {
    auto b = server::parse_json_body(post(body));
    REQUIRE_FALSE(b.ok());
    CHECK(b.problem().result() == status::bad_request);
    CHECK(problem_of(b)["detail"].get<std::string>().find("too large") != std::string::npos);
  }
  CHECK(server::parse_json_body(post(R"({"x": 1e308})")).ok());
}
