// webhooks/src/http_transport.cpp against real receivers on 127.0.0.1: the
// target policy at every connection (DNS rebinding), https required, a
// delivery over real TLS (a CA made by the openssl command), and the
// receiver's answer never echoed.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <optional>

#include "careloop/webhooks/webhooks.hpp"
#include "fixture.hpp"
#include "receiver.hpp"

namespace {

using namespace careloop;
using careloop::webhooks::testing::Receiver;
using careloop::webhooks::testing::TestCertificates;
namespace ip = boost::asio::ip;

webhooks::Outcome post_once(const webhooks::HttpOptions& o, const std::string& url, std::string body = "{}") {
  boost::asio::io_context io;
  auto transport = webhooks::make_http_transport(io.get_executor(), o);
  const webhooks::Request r{url, {{"CareLoop-Event-Id", "7"}}, std::move(body)};
  std::optional<webhooks::Outcome> out;
  std::exception_ptr failed;
  boost::asio::co_spawn(io, transport->post(r), [&](std::exception_ptr e, webhooks::Outcome x) {
    failed = e;
    out = std::move(x);
  });
  io.run();
  if (failed) std::rethrow_exception(failed);
  return *out;
}

webhooks::HttpOptions allowing(std::vector<std::string> cidrs, bool http = true) {
  webhooks::HttpOptions o;
  o.timeouts = {std::chrono::milliseconds(2000), std::chrono::milliseconds(2000), std::chrono::milliseconds(2000)};
  o.policy.allow_http = http;
  o.policy.allow = server::AddressSet::parse(cidrs).value();
  return o;
}

}  // namespace

TEST_CASE("a receiver on loopback is never connected to unless the operator allows its address") {
  Receiver receiver(200, "");
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/in";
  auto out = post_once(allowing({}), url);
  CHECK(out.status == 0);
  CHECK_THAT(out.error, Catch::StartsWith("refused") && Catch::Contains("127.0.0.1 is loopback"));
  CHECK(receiver.connections() == 0);

  out = post_once(allowing({"127.0.0.1/32"}), url);
  CHECK(out.ok());
  CHECK(receiver.requests().size() == 1);
}

TEST_CASE("every address a name resolves to is checked at every connection: a name rebound inside is refused") {
  Receiver receiver(200, "");
  std::atomic<int> lookups{0};
  auto o = allowing({"127.0.0.1/32"});
  // The first answer is the allowed gateway; later ones point inside (metadata, loopback, a mapped private address).
  o.resolve = [&lookups](const std::string& host) -> core::Result<std::vector<ip::address>> {
    if (host != "gateway.clinic.test") return core::Error::not_found("unexpected host " + host);
    if (lookups++ == 0) return std::vector<ip::address>{ip::make_address("127.0.0.1")};
    return std::vector<ip::address>{ip::make_address("169.254.169.254"), ip::make_address("127.0.0.2"),
                                    ip::make_address("::ffff:10.0.0.1")};
  };
  const std::string url = "http://gateway.clinic.test:" + std::to_string(receiver.port()) + "/in";
  CHECK(post_once(o, url).ok());
  const auto second = post_once(o, url);
  CHECK(lookups == 2);
  CHECK(second.status == 0);
  CHECK_THAT(second.error, Catch::StartsWith("refused: gateway.clinic.test: 169.254.169.254 is link-local"));
  CHECK(receiver.connections() == 1);
}

TEST_CASE("http:// is refused at delivery unless allowed, and a delivery over real TLS verifies the receiver") {
  Receiver plain(200, "");
  auto strict = allowing({"127.0.0.1/32"}, false);
  auto out = post_once(strict, "http://127.0.0.1:" + std::to_string(plain.port()) + "/in");
  CHECK(out.status == 0);
  CHECK_THAT(out.error, Catch::StartsWith("refused: url must be https://"));
  CHECK(plain.connections() == 0);

  store::testing::TempDir dir;
  const TestCertificates certs(dir.file(""));
  Receiver tls(200, "", &certs);
  const std::string url = "https://127.0.0.1:" + std::to_string(tls.port()) + "/in";
  // Not trusted: the system store does not know the test CA.
  out = post_once(strict, url);
  CHECK(out.status == 0);
  CHECK_THAT(out.error, Catch::StartsWith("TLS handshake with 127.0.0.1"));
  CHECK(tls.requests().empty());
  // Trusted through the setting (--webhook-ca): delivered, encrypted.
  strict.ca_file = certs.ca;
  out = post_once(strict, url, R"({"event":"alert.opened"})");
  INFO(out.error);
  CHECK(out.ok());
  const auto got = tls.requests();
  REQUIRE(got.size() == 1);
  CHECK(got[0].body == R"({"event":"alert.opened"})");
  CHECK(got[0].header("CareLoop-Event-Id") == "7");
}

TEST_CASE("a failure names the status only: not a byte of the receiver's answer") {
  Receiver receiver(500, "Traceback: patient 王芳 110101195001011234 token=abc123 internal error");
  const auto out = post_once(allowing({"127.0.0.1/32"}), "http://127.0.0.1:" + std::to_string(receiver.port()) + "/in");
  CHECK(out.status == 500);
  CHECK(out.error == "HTTP 500");
}
