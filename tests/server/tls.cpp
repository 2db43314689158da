// HTTPS: the server over TLS with a certificate made for each test, and a
// blocking Beast TLS client that trusts only that certificate and checks
// that it names localhost.
#include <boost/asio/ssl.hpp>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "fixture.hpp"
#include "temp_dir.hpp"

using namespace careloop;
using namespace careloop::testing;
namespace ssl = asio::ssl;

namespace {

// A self-signed P-256 certificate for localhost and 127.0.0.1, and its key (mode 0600).
void write_certificate(const std::string& cert_file, const std::string& key_file, long serial) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
                                                          EVP_PKEY_free);
  REQUIRE(key);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, decltype(&X509_EXTENSION_free)> san(
      X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"), X509_EXTENSION_free);
  REQUIRE(san);
  X509_add_ext(cert.get(), san.get(), -1);
  REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);

  using File = std::unique_ptr<std::FILE, decltype(&std::fclose)>;
  File c(std::fopen(cert_file.c_str(), "w"), std::fclose);
  REQUIRE(c);
  REQUIRE(PEM_write_X509(c.get(), cert.get()) == 1);
  File k(std::fopen(key_file.c_str(), "w"), std::fclose);
  REQUIRE(k);
  ::chmod(key_file.c_str(), 0600);
  REQUIRE(PEM_write_PrivateKey(k.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

// A blocking TLS client on one connection. It trusts only the certificate in
// `trusted` and checks the name localhost; `only_version` pins the protocol.
class TlsClient {
 public:
  TlsClient(std::uint16_t port, const std::string& trusted, int only_version = 0) : ctx_(ssl::context::tls_client) {
    ctx_.load_verify_file(trusted);
    ctx_.set_verify_mode(ssl::verify_peer);
    if (only_version) {
      // Let this client offer an old protocol, so the refusal is the server's.
      SSL_CTX_set_security_level(ctx_.native_handle(), 0);
      SSL_CTX_set_cipher_list(ctx_.native_handle(), "DEFAULT:@SECLEVEL=0");
      SSL_CTX_set_min_proto_version(ctx_.native_handle(), only_version);
      SSL_CTX_set_max_proto_version(ctx_.native_handle(), only_version);
    }
    stream_.emplace(ioc_, ctx_);
    stream_->set_verify_callback(ssl::host_name_verification("localhost"));
    SSL_set_tlsext_host_name(stream_->native_handle(), "localhost");
    stream_->next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
  }

  beast::error_code handshake() {
    beast::error_code ec;
    stream_->handshake(ssl::stream_base::client, ec);
    return ec;
  }

  Reply get(const std::string& target) {
    http::request<http::string_body> req{verb::get, target, 11};
    req.set(http::field::host, "localhost");
    http::write(*stream_, req);
    return read();
  }
  void send_raw(std::string_view bytes) { asio::write(*stream_, asio::buffer(bytes)); }
  Reply read() {
    Reply r;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    http::read(*stream_, buffer_, parser);
    r.res = parser.release();
    return r;
  }

  // The end of the conversation as the client sees it: eof after the
  // server's close_notify, stream_truncated without one.
  beast::error_code end() {
    char c;
    beast::error_code ec;
    stream_->read_some(asio::buffer(&c, 1), ec);
    return ec;
  }

  long serial() {
    std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(stream_->native_handle()), X509_free);
    return cert ? ASN1_INTEGER_get(X509_get0_serialNumber(cert.get())) : -1;
  }

 private:
  asio::io_context ioc_;
  ssl::context ctx_;
  std::optional<ssl::stream<tcp::socket>> stream_;
  beast::flat_buffer buffer_;
};

server::ServerConfig with_tls(const TempDir& dir, server::ServerConfig cfg = {}) {
  cfg.tls_cert = dir.file("cert.pem");
  cfg.tls_key = dir.file("key.pem");
  write_certificate(cfg.tls_cert, cfg.tls_key, 1);
  return cfg;
}

bool logged(Fixture& f, std::string_view level, std::string_view msg_part) {
  for (auto deadline = Clock::now() + 5s; Clock::now() < deadline; std::this_thread::sleep_for(10ms))
    for (const auto& l : f.log_lines())
      if (l.value("level", "") == level && l.value("msg", "").find(msg_part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("server answers over TLS with HSTS, and keeps the connection alive", "[server][tls]") {
  TempDir dir("tls");
  Fixture f(with_tls(dir));
  TlsClient c(f.port(), dir.file("cert.pem"));
  REQUIRE_FALSE(c.handshake());
  CHECK(c.serial() == 1);
  auto r = c.get("/items/7");
  CHECK(r.status() == 200);
  CHECK(r.json()["id"] == "7");
  CHECK(r.res[http::field::strict_transport_security] == "max-age=31536000");
  check_problem(c.get("/nope"), 404);
  CHECK(c.get("/items/8").res[http::field::strict_transport_security] == "max-age=31536000");
}

TEST_CASE("server over TLS speaks TLS 1.2 and 1.3 and refuses TLS 1.1", "[server][tls]") {
  TempDir dir("tls");
  Fixture f(with_tls(dir));
  const auto cert = dir.file("cert.pem");
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    TlsClient c(f.port(), cert, version);
    REQUIRE_FALSE(c.handshake());
    CHECK(c.get("/items/1").status() == 200);
  }
  TlsClient old(f.port(), cert, TLS1_1_VERSION);
  CHECK(old.handshake());
}

TEST_CASE("server over TLS gives plain HTTP no HTTP answer", "[server][tls]") {
  TempDir dir("tls");
  server::ServerConfig cfg;
  cfg.header_timeout = 2s;
  Fixture f(with_tls(dir, cfg));
  Client plain(f.port());
  plain.send_raw(header_only("GET /items/1"));
  std::string got;
  char buf[512];
  beast::error_code ec;
  while (!ec) got.append(buf, plain.socket().read_some(asio::buffer(buf), ec));
  CHECK(got.rfind("HTTP/", 0) == std::string::npos);
}

TEST_CASE("server over TLS closes a connection that does not shake hands in time", "[server][tls][limits]") {
  TempDir dir("tls");
  server::ServerConfig cfg;
  cfg.header_timeout = 300ms;
  Fixture f(with_tls(dir, cfg));
  Client silent(f.port());
  const auto t0 = Clock::now();
  CHECK(silent.closed_by_server());
  CHECK(Clock::now() - t0 < 2s);
}

TEST_CASE("server over TLS answers 408 and 413, and ends with close_notify", "[server][tls][limits]") {
  TempDir dir("tls");
  server::ServerConfig cfg;
  cfg.header_timeout = 300ms;
  Fixture f(with_tls(dir, cfg));
  SECTION("half a header") {
    TlsClient c(f.port(), dir.file("cert.pem"));
    REQUIRE_FALSE(c.handshake());
    c.send_raw("GET /items/1 HTTP/1.1\r\nHost: x\r\nX-Half: ");
    auto r = c.read();
    check_problem(r, 408);
    CHECK(r.res[http::field::strict_transport_security] == "max-age=31536000");
    CHECK(c.end() == asio::error::eof);
  }
  SECTION("a body over the limit") {
    TlsClient c(f.port(), dir.file("cert.pem"));
    REQUIRE_FALSE(c.handshake());
    c.send_raw(header_only("POST /echo", "Content-Type: application/json\r\nContent-Length: 2000000\r\n") +
               std::string(64 * 1024, 'x'));
    check_problem(c.read(), 413);
  }
}

TEST_CASE("server streams SSE over TLS", "[server][tls][sse]") {
  TempDir dir("tls");
  Fixture f(with_tls(dir));
  TlsClient c(f.port(), dir.file("cert.pem"));
  REQUIRE_FALSE(c.handshake());
  auto r = c.get("/events");
  CHECK(r.status() == 200);
  CHECK(r.res[http::field::transfer_encoding] == "chunked");
  CHECK(r.res[http::field::strict_transport_security] == "max-age=31536000");
  CHECK(r.res.body() ==
        "id: 1\nevent: tick\ndata: {\"n\":1}\n\n"
        "id: 2\nevent: tick\ndata: {\"n\":2}\n\n"
        "id: 3\nevent: tick\ndata: {\"n\":3}\n\n");
  CHECK(c.end() == asio::error::eof);
}

TEST_CASE("server over TLS finishes the request in flight when it shuts down", "[server][tls][shutdown]") {
  TempDir dir("tls");
  Fixture f(with_tls(dir));
  TlsClient busy(f.port(), dir.file("cert.pem"));
  REQUIRE_FALSE(busy.handshake());
  busy.send_raw("GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n");
  while (!f.slow_started) std::this_thread::sleep_for(5ms);
  f.srv->stop();
  auto r = busy.read();
  CHECK(r.status() == 200);
  CHECK(r.res[http::field::connection] == "close");
  f.runner.join();
}

TEST_CASE("server over TLS shakes hands, then answers 503 past the connection cap", "[server][tls][limits]") {
  TempDir dir("tls");
  server::ServerConfig cfg;
  cfg.max_connections = 1;
  Fixture f(with_tls(dir, cfg));
  TlsClient a(f.port(), dir.file("cert.pem"));
  REQUIRE_FALSE(a.handshake());
  CHECK(a.get("/items/1").status() == 200);
  TlsClient over(f.port(), dir.file("cert.pem"));
  REQUIRE_FALSE(over.handshake());
  auto r = over.get("/items/2");
  check_problem(r, 503);
  CHECK(r.res[http::field::retry_after] == "1");
  CHECK(r.res[http::field::strict_transport_security] == "max-age=31536000");
}

TEST_CASE("server serves a new certificate after a reload, and keeps the old one if the new cannot load", "[server][tls]") {
  TempDir dir("tls");
  Fixture f(with_tls(dir));
  const auto cert = dir.file("cert.pem"), key = dir.file("key.pem");
  TlsClient before(f.port(), cert);
  REQUIRE_FALSE(before.handshake());
  REQUIRE(before.serial() == 1);

  write_certificate(cert, key, 2);
  f.srv->reload();
  long seen = -1;
  for (auto deadline = Clock::now() + 5s; seen != 2 && Clock::now() < deadline; std::this_thread::sleep_for(20ms)) {
    TlsClient c(f.port(), cert);
    if (!c.handshake()) seen = c.serial();
  }
  CHECK(seen == 2);
  CHECK(logged(f, "info", "TLS certificate reloaded"));
  // The connection made before goes on with the certificate it began with.
  CHECK(before.get("/items/1").status() == 200);
  CHECK(before.serial() == 1);

  write_file(key, "not a key\n");
  f.srv->reload();
  CHECK(logged(f, "error", "TLS reload failed"));
  TlsClient after(f.port(), cert);
  REQUIRE_FALSE(after.handshake());
  CHECK(after.serial() == 2);
  CHECK(after.get("/items/2").status() == 200);
}

TEST_CASE("server start fails with a clear error on a TLS key it cannot use", "[server][tls]") {
  TempDir dir("tls");
  auto cfg = with_tls(dir);
  cfg.port = 0;
  cfg.log_sink = [](std::string_view) {};
  SECTION("not a key") {
    write_file(cfg.tls_key, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
    server::Server s(cfg, std::make_shared<server::Router>(), nullptr);
    auto started = s.start();
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().message.find("TLS") != std::string::npos);
    CHECK(started.error().message.find(cfg.tls_key) != std::string::npos);
  }
  SECTION("another certificate's key") {
    write_certificate(dir.file("other.pem"), cfg.tls_key, 3);
    server::Server s(cfg, std::make_shared<server::Router>(), nullptr);
    auto started = s.start();
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().message.find("does not belong") != std::string::npos);
  }
  SECTION("a missing certificate") {
    cfg.tls_cert = dir.file("missing.pem");
    server::Server s(cfg, std::make_shared<server::Router>(), nullptr);
    auto started = s.start();
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().message.find(cfg.tls_cert) != std::string::npos);
  }
}

TEST_CASE("server warns of a TLS key that others may read, and serves", "[server][tls]") {
  TempDir dir("tls");
  auto cfg = with_tls(dir);
  ::chmod(cfg.tls_key.c_str(), 0644);
  Fixture f(cfg);
  CHECK(logged(f, "warn", "readable"));
  TlsClient c(f.port(), cfg.tls_cert);
  REQUIRE_FALSE(c.handshake());
  CHECK(c.get("/items/1").status() == 200);
}
