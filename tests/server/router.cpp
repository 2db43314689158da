#include "careloop/server/router.hpp"

#include <catch2/catch.hpp>

#include "run_sync.hpp"

using namespace careloop;
using server::http::status;
using server::http::verb;

namespace {

// A handler that answers with its own name, so tests see which one ran.
server::Handler named(std::string name) {
  return [name](server::RequestContext& ctx) -> boost::asio::awaitable<server::Response> {
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : ctx.params) params[k] = v;
    co_return server::json_response(status::ok, {{"handler", name}, {"params", params}});
  };
}

server::Response call(const server::Router& router, verb method, std::string target,
                      server::RequestContext* out = nullptr) {
  auto ctx = server::make_context(server::Request{method, target, 11});
  REQUIRE(ctx);
  auto res = testing::run_sync(router.dispatch(*ctx));
  if (out) *out = std::move(*ctx);
  return res;
}

nlohmann::json body(const server::Response& res) { return nlohmann::json::parse(res.body()); }

server::Router sample() {
  server::Router r;
  r.add(verb::get, "/api/v1/patients", named("list"));
  r.add(verb::post, "/api/v1/patients", named("create"));
  r.add(verb::get, "/api/v1/patients/{id}", named("one"));
  r.add(verb::put, "/api/v1/patients/{id}", named("update"));
  r.add(verb::get, "/api/v1/patients/me", named("me"));
  r.add(verb::get, "/api/v1/patients/{id}/readings/{reading}", named("reading"));
  r.add(verb::get, "/api/v1/patients/{id}/plan", named("plan"));
  r.add(verb::get, "/api/v1/patients/export/csv", named("export"));
  r.add(verb::get, "/static/{*rest}", named("static"));
  r.add(verb::get, "/", named("root"));
  return r;
}

}  // namespace

TEST_CASE("router binds path parameters", "[router]") {
  auto r = sample();
  server::RequestContext ctx;
  auto res = call(r, verb::get, "/api/v1/patients/42/readings/7?x=1", &ctx);
  CHECK(res.result() == status::ok);
  CHECK(body(res)["handler"] == "reading");
  CHECK(ctx.param("id") == "42");
  CHECK(ctx.param("reading") == "7");
  CHECK(ctx.route == "/api/v1/patients/{id}/readings/{reading}");
  CHECK(ctx.path == "/api/v1/patients/42/readings/7");
}

TEST_CASE("router prefers a literal segment to a parameter", "[router]") {
  auto r = sample();
  CHECK(body(call(r, verb::get, "/api/v1/patients/me"))["handler"] == "me");
  CHECK(body(call(r, verb::get, "/api/v1/patients/mex"))["handler"] == "one");
  // The literal branch "export" has no "plan": backtrack to {id}.
  auto plan = body(call(r, verb::get, "/api/v1/patients/export/plan"));
  CHECK(plan["handler"] == "plan");
  CHECK(plan["params"]["id"] == "export");
  CHECK(body(call(r, verb::get, "/api/v1/patients/export/csv"))["handler"] == "export");
}

TEST_CASE("router decodes percent-encoded segments and query", "[router]") {
  auto r = sample();
  server::RequestContext ctx;
  call(r, verb::get, "/api/v1/patients/a%20b?kind=blood%20pressure&limit=5&flag", &ctx);
  CHECK(ctx.param("id") == "a b");
  CHECK(ctx.query_param("kind") == "blood pressure");
  CHECK(ctx.query_param("limit") == "5");
  CHECK(ctx.query_param("flag") == "");
  CHECK_FALSE(ctx.query_param("none"));
}

TEST_CASE("router tail wildcard takes the rest of the path", "[router]") {
  auto r = sample();
  auto j = body(call(r, verb::get, "/static/js/app.js"));
  CHECK(j["handler"] == "static");
  CHECK(j["params"]["rest"] == "js/app.js");
  CHECK(body(call(r, verb::get, "/static"))["params"]["rest"] == "");
  CHECK(body(call(r, verb::get, "/"))["handler"] == "root");
}

TEST_CASE("router answers 404 problem+json for an unknown path", "[router]") {
  auto r = sample();
  server::RequestContext ctx;
  auto res = call(r, verb::get, "/api/v1/nothing", &ctx);
  CHECK(res.result() == status::not_found);
  CHECK(res[server::http::field::content_type] == "application/problem+json");
  auto j = body(res);
  CHECK(j["status"] == 404);
  CHECK(j["title"] == "Not Found");
  CHECK(j["type"] == "about:blank");
  CHECK(ctx.route.empty());
  CHECK(call(r, verb::get, "/api/v1/patients/").result() == status::not_found);
  CHECK(call(r, verb::get, "/api/v1/patients/1/readings").result() == status::not_found);
}

TEST_CASE("router answers 405 with Allow for a known path", "[router]") {
  auto r = sample();
  auto res = call(r, verb::delete_, "/api/v1/patients/9");
  CHECK(res.result() == status::method_not_allowed);
  CHECK(res[server::http::field::allow] == "GET, HEAD, PUT");
  CHECK(res[server::http::field::content_type] == "application/problem+json");
  CHECK(body(res)["status"] == 405);
  CHECK(call(r, verb::put, "/api/v1/patients").result() == status::method_not_allowed);
}

TEST_CASE("router serves HEAD with the GET handler", "[router]") {
  auto r = sample();
  CHECK(body(call(r, verb::head, "/api/v1/patients"))["handler"] == "list");
}

TEST_CASE("router lists its routes and refuses bad ones", "[router]") {
  auto r = sample();
  auto routes = r.routes();
  REQUIRE(routes.size() == 10);
  CHECK(routes[2].method == verb::get);
  CHECK(routes[2].pattern == "/api/v1/patients/{id}");
  CHECK_THROWS_AS(r.add(verb::get, "/api/v1/patients/{id}", named("dup")), std::invalid_argument);
  CHECK_THROWS_AS(r.add(verb::get, "/api/v1/patients/{other}/x", named("x")), std::invalid_argument);
  CHECK_THROWS_AS(r.add(verb::get, "no-slash", named("x")), std::invalid_argument);
  CHECK_THROWS_AS(r.add(verb::get, "/a/{*rest}/b", named("x")), std::invalid_argument);
  CHECK_THROWS_AS(r.add(verb::get, "/a/b{c}", named("x")), std::invalid_argument);
}

TEST_CASE("make_context refuses a target that is not a URI path", "[router]") {
  server::Request req{verb::get, "http://example.com/x", 11};
  CHECK_FALSE(server::make_context(std::move(req)));
  CHECK(req.target() == "http://example.com/x");  // left as it was
}
