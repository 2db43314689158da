// webhooks/src/target_policy.cpp: which resolved addresses a webhook may
// reach, as a table, and what check_url refuses before anything is stored.
#include <catch2/catch.hpp>

#include <string>

#include "careloop/webhooks/webhooks.hpp"

using namespace careloop::webhooks;
namespace ip = boost::asio::ip;

TEST_CASE("addresses inside the deployment are refused, each named, the Internet is not") {
  struct Row {
    const char* address;
    const char* why;  // "" when a webhook may go there
  };
  const Row table[] = {
      // loopback, unspecified
      {"127.0.0.1", "loopback"},
      {"127.255.255.254", "loopback"},
      {"::1", "loopback"},
      {"0.0.0.0", "unspecified"},
      {"0.1.2.3", "unspecified"},
      {"::", "unspecified"},
      // link-local, the cloud metadata service among them
      {"169.254.169.254", "link-local"},
      {"169.254.0.1", "link-local"},
      {"fe80::1", "link-local"},
      {"febf:ffff::1", "link-local"},
      // private networks, carrier-grade NAT
      {"10.0.0.1", "private"},
      {"10.255.255.255", "private"},
      {"172.16.0.1", "private"},
      {"172.31.255.255", "private"},
      {"192.168.1.10", "private"},
      {"100.64.0.1", "shared (carrier-grade NAT)"},
      {"100.127.255.255", "shared (carrier-grade NAT)"},
      {"fc00::1", "private (unique local)"},
      {"fd12:3456:789a::1", "private (unique local)"},
      {"fec0::1", "private (site-local)"},
      {"64:ff9b:1::a00:1", "private (local NAT64)"},
      // multicast, broadcast, reserved, documentation, benchmarking
      {"224.0.0.1", "multicast"},
      {"239.255.255.250", "multicast"},
      {"ff02::1", "multicast"},
      {"255.255.255.255", "broadcast"},
      {"240.0.0.1", "reserved"},
      {"192.0.0.8", "reserved"},
      {"192.0.2.1", "documentation"},
      {"198.51.100.7", "documentation"},
      {"203.0.113.9", "documentation"},
      {"198.18.0.1", "benchmarking"},
      {"2001:db8::1", "documentation"},
      {"100::1", "reserved (discard)"},
      {"2001::1", "reserved"},  // Teredo
      {"2002:7f00:1::1", "6to4 (carries an IPv4 address)"},
      {"::7f00:1", "reserved"},  // IPv4-compatible, deprecated
      // IPv4-mapped and NAT64 forms are judged by the IPv4 address they carry
      {"::ffff:127.0.0.1", "loopback"},
      {"::ffff:169.254.169.254", "link-local"},
      {"::ffff:10.1.2.3", "private"},
      {"::ffff:192.168.0.1", "private"},
      {"::ffff:100.64.0.1", "shared (carrier-grade NAT)"},
      {"::ffff:224.0.0.1", "multicast"},
      {"::ffff:0.0.0.0", "unspecified"},
      {"64:ff9b::7f00:1", "loopback"},
      {"64:ff9b::a9fe:a9fe", "link-local"},
      // where receivers live
      {"8.8.8.8", ""},
      {"1.1.1.1", ""},
      {"172.15.255.255", ""},
      {"172.32.0.1", ""},
      {"100.63.255.255", ""},
      {"100.128.0.1", ""},
      {"169.253.255.255", ""},
      {"192.169.0.1", ""},
      {"223.255.255.255", ""},
      {"::ffff:8.8.8.8", ""},
      {"64:ff9b::808:808", ""},
      {"2400:3200::1", ""},
      {"2606:4700:4700::1111", ""},
  };
  for (const auto& row : table) {
    INFO(row.address);
    CHECK(std::string(refused_range(ip::make_address(row.address))) == row.why);
  }
}

TEST_CASE("an operator's allow-list lets named addresses through, and only those") {
  TargetPolicy p;
  CHECK(p.refusal(ip::make_address("192.168.10.5")) == "192.168.10.5 is private");
  CHECK(p.refusal(ip::make_address("8.8.8.8")).empty());
  p.allow = careloop::server::AddressSet::parse({"192.168.10.0/24", "127.0.0.1"}).value();
  CHECK(p.refusal(ip::make_address("192.168.10.5")).empty());
  CHECK(p.refusal(ip::make_address("::ffff:192.168.10.5")).empty());
  CHECK(p.refusal(ip::make_address("127.0.0.1")).empty());
  CHECK(p.refusal(ip::make_address("127.0.0.2")) == "127.0.0.2 is loopback");
  CHECK(p.refusal(ip::make_address("192.168.11.5")) == "192.168.11.5 is private");
  CHECK(p.refusal(ip::make_address("169.254.169.254")) == "169.254.169.254 is link-local");
}

TEST_CASE("check_url: https unless http is allowed, and no address inside the deployment, refusals name /url") {
  TargetPolicy strict;
  auto ok = check_url("https://gw.example.cn/careloop", strict);
  REQUIRE(ok.ok());
  CHECK(ok->host == "gw.example.cn");
  for (const char* bad : {"http://gw.example.cn/careloop", "https://127.0.0.1:8443/x", "https://169.254.169.254/latest",
                          "https://[::1]/x", "https://[::ffff:10.0.0.1]/x", "https://[fe80::1]/x", "https://10.1.2.3/",
                          "ftp://gw.example.cn/"}) {
    INFO(bad);
    auto r = check_url(bad, strict);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error().fields.size() == 1);
    CHECK(r.error().fields[0].pointer == "/url");
  }
  CHECK_THAT(check_url("http://gw.example.cn/", strict).error().fields[0].detail,
             Catch::Contains("https://") && Catch::Contains("--webhook-allow-http"));
  CHECK_THAT(check_url("https://169.254.169.254/", strict).error().fields[0].detail,
             Catch::Contains("169.254.169.254 is link-local") && Catch::Contains("--webhook-allow"));
  // A host name is judged when it is resolved, at each connection (the transport's tests).
  CHECK(check_url("https://localhost/x", strict).ok());

  TargetPolicy lan;
  lan.allow_http = true;
  lan.allow = careloop::server::AddressSet::parse({"192.168.10.0/24"}).value();
  CHECK(check_url("http://192.168.10.5:8080/in", lan).ok());
  CHECK_FALSE(check_url("http://192.168.11.5:8080/in", lan).ok());
  CHECK_FALSE(check_url("http://127.0.0.1:8080/in", lan).ok());
}
