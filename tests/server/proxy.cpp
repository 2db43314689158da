// server::AddressSet: whose Forwarded / X-Forwarded-For headers are read,
// and which hop they name as the client.
#include "careloop/server/proxy.hpp"

#include <catch2/catch.hpp>

using namespace careloop;
namespace ip = boost::asio::ip;

namespace {

server::Request with(std::vector<std::pair<std::string, std::string>> headers) {
  server::Request r{server::http::verb::get, "/", 11};
  for (const auto& [k, v] : headers) r.insert(k, v);
  return r;
}

ip::address at(const char* a) { return ip::make_address(a); }

}  // namespace

TEST_CASE("trusted proxies: CIDR blocks of both families, bad ones named") {
  auto p = server::AddressSet::parse({"10.0.0.0/8", "192.0.2.7", "fd00::/8"});
  REQUIRE(p.ok());
  CHECK(p->contains(at("10.200.3.4")));
  CHECK_FALSE(p->contains(at("11.0.0.1")));
  CHECK(p->contains(at("192.0.2.7")));
  CHECK_FALSE(p->contains(at("192.0.2.8")));
  CHECK(p->contains(at("fd12::1")));
  CHECK_FALSE(p->contains(at("fe80::1")));
  CHECK(p->contains(at("::ffff:10.1.1.1")));  // IPv4 on a dual-stack socket
  for (const char* bad : {"10.0.0.0/33", "proxy.example", "10.0.0.0/x", "::/129"}) {
    auto r = server::AddressSet::parse({bad});
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains(bad));
  }
}

TEST_CASE("trusted proxies: the client is the first hop from the right that is not a trusted proxy") {
  const auto p = *server::AddressSet::parse({"10.0.0.0/8"});
  // From a trusted proxy: its list, read from the right.
  CHECK(p.client_address(at("10.0.0.1"), with({{"X-Forwarded-For", "198.51.100.9, 203.0.113.7"}})) == "203.0.113.7");
  CHECK(p.client_address(at("10.0.0.1"), with({{"X-Forwarded-For", "203.0.113.7, 10.0.0.2"}})) == "203.0.113.7");
  CHECK(p.client_address(at("10.0.0.1"), with({{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-For", "10.9.9.9"}})) ==
        "203.0.113.7");
  CHECK(p.client_address(at("10.0.0.1"), with({{"Forwarded", "for=198.51.100.1;proto=https, for=\"[2001:db8::1]:4711\""}})) ==
        "2001:db8::1");
  CHECK(p.client_address(at("10.0.0.1"), with({{"Forwarded", "for=203.0.113.9:5000"}})) == "203.0.113.9");
  // Forwarded wins over X-Forwarded-For when both are there.
  CHECK(p.client_address(at("10.0.0.1"), with({{"Forwarded", "for=203.0.113.9"}, {"X-Forwarded-For", "198.51.100.1"}})) ==
        "203.0.113.9");
  // Nothing forwarded, or a hop that is not an address: trust stops at the last proxy.
  CHECK(p.client_address(at("10.0.0.1"), with({})) == "10.0.0.1");
  CHECK(p.client_address(at("10.0.0.1"), with({{"X-Forwarded-For", "203.0.113.7, unknown"}})) == "10.0.0.1");
  CHECK(p.client_address(at("10.0.0.1"), with({{"Forwarded", "for=_hidden"}})) == "10.0.0.1");
  // From anyone else the headers are ignored.
  CHECK(p.client_address(at("198.51.100.5"), with({{"X-Forwarded-For", "203.0.113.7"}})) == "198.51.100.5");
  CHECK(server::AddressSet{}.client_address(at("127.0.0.1"), with({{"X-Forwarded-For", "1.2.3.4"}})) == "127.0.0.1");
}
