// webhooks/src/url.cpp: which URLs a webhook may have.
#include <catch2/catch.hpp>

#include "careloop/webhooks/webhooks.hpp"

using namespace careloop::webhooks;

TEST_CASE("webhook URLs: absolute http(s) with a host") {
  auto t = parse_url("https://hooks.example.cn/careloop/in?clinic=3");
  REQUIRE(t.ok());
  CHECK(t->https);
  CHECK(t->host == "hooks.example.cn");
  CHECK(t->port == "443");
  CHECK(t->host_header == "hooks.example.cn");
  CHECK(t->path == "/careloop/in?clinic=3");

  t = parse_url("http://127.0.0.1:8099");
  REQUIRE(t.ok());
  CHECK_FALSE(t->https);
  CHECK(t->host == "127.0.0.1");
  CHECK(t->port == "8099");
  CHECK(t->host_header == "127.0.0.1:8099");
  CHECK(t->path == "/");

  t = parse_url("HTTP://[::1]:9000/x");
  REQUIRE(t.ok());
  CHECK(t->host == "::1");
  CHECK(t->host_header == "[::1]:9000");
}

TEST_CASE("webhook URLs: refusals name /url") {
  for (const char* bad : {"", "ftp://example.cn/x", "hooks.example.cn/x", "/relative", "http://", "http:///path",
                          "https://user:pw@example.cn/", "https://example.cn/#frag", "http://example.cn:99999/",
                          "http://exa mple.cn/"}) {
    INFO(bad);
    auto t = parse_url(bad);
    REQUIRE_FALSE(t.ok());
    REQUIRE(t.error().fields.size() == 1);
    CHECK(t.error().fields[0].pointer == "/url");
  }
  CHECK_FALSE(parse_url("https://example.cn/" + std::string(2000, 'a')).ok());
}
