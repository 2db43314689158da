#include "careloop/server/http.hpp"

#include <catch2/catch.hpp>

#include "careloop/server/stream.hpp"

using namespace careloop;
using server::http::status;

TEST_CASE("problem_response is RFC 9457 problem+json", "[http]") {
  auto res = server::problem_response(status::unprocessable_entity, "Invalid reading", "2 fields are wrong",
                                      {{"/readings/0/systolic", "must be a number"}, {"/readings/0/unit", "unknown"}});
  CHECK(res.result() == status::unprocessable_entity);
  CHECK(res[server::http::field::content_type] == "application/problem+json");
  CHECK(res[server::http::field::content_length] == std::to_string(res.body().size()));
  auto j = nlohmann::json::parse(res.body());
  CHECK(j["type"] == "about:blank");
  CHECK(j["title"] == "Invalid reading");
  CHECK(j["status"] == 422);
  CHECK(j["detail"] == "2 fields are wrong");
  REQUIRE(j["errors"].size() == 2);
  CHECK(j["errors"][0]["pointer"] == "/readings/0/systolic");
  CHECK(j["errors"][1]["detail"] == "unknown");
}

TEST_CASE("problem_response leaves out errors when there are none", "[http]") {
  auto j = nlohmann::json::parse(server::problem_response(status::not_found, "Not Found", "x").body());
  CHECK_FALSE(j.contains("errors"));
}

TEST_CASE("problem_from maps every Errc to its status", "[http]") {
  using core::Error;
  CHECK(server::status_of(Error::invalid("bad", {{"/a", "x"}})) == status::unprocessable_entity);
  CHECK(server::status_of(Error::invalid("not an object")) == status::bad_request);
  CHECK(server::status_of(Error::not_found("no")) == status::not_found);
  CHECK(server::status_of(Error::conflict("no")) == status::conflict);
  CHECK(server::status_of(Error::forbidden("no")) == status::forbidden);
  CHECK(server::status_of(Error::unavailable("no")) == status::service_unavailable);
  CHECK(server::status_of(Error::internal("no")) == status::internal_server_error);

  auto res = server::problem_from(Error::internal("SQLITE_IOERR on /var/lib/careloop.db"));
  CHECK(res.body().find("SQLITE") == std::string::npos);
  auto j = nlohmann::json::parse(server::problem_from(Error::invalid("bad", {{"/a", "x"}})).body());
  CHECK(j["status"] == 422);
  CHECK(j["detail"] == "bad");
  CHECK(j["errors"][0]["pointer"] == "/a");
}

TEST_CASE("json_response sets type and length", "[http]") {
  auto res = server::json_response(status::created, {{"id", 7}});
  CHECK(res.result() == status::created);
  CHECK(res[server::http::field::content_type] == "application/json");
  CHECK(res.body() == R"({"id":7})");
  CHECK(res[server::http::field::content_length] == "8");
}

TEST_CASE("sse_event frames one event", "[http][sse]") {
  CHECK(server::sse_event("hello") == "data: hello\n\n");
  CHECK(server::sse_event("a\nb", "alert", "42") == "id: 42\nevent: alert\ndata: a\ndata: b\n\n");
}
