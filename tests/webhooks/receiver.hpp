#pragma once
// A webhook receiver on 127.0.0.1 for the transport's tests: plain HTTP or
// TLS (a certificate made by the openssl command), answering every POST with
// one status and body, and remembering what it was sent.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace careloop::webhooks::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// A test CA and a server certificate for 127.0.0.1 it signed, written into `dir` (the openssl command).
struct TestCertificates {
  std::string ca, cert, key;

  explicit TestCertificates(const std::string& dir) : ca(dir + "/ca.pem"), cert(dir + "/server.pem"), key(dir + "/server.key") {
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    run("openssl req -x509" + ec + "-keyout " + dir + "/ca.key -out " + ca +
        " -days 2 -subj '/CN=CareLoop test CA' -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign");
    std::ofstream(dir + "/server.ext") << "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
    run("openssl req" + ec + "-keyout " + key + " -out " + dir + "/server.csr -subj /CN=receiver");
    run("openssl x509 -req -in " + dir + "/server.csr -CA " + ca + " -CAkey " + dir + "/ca.key -CAcreateserial -out " +
        cert + " -days 2 -extfile " + dir + "/server.ext");
  }

 private:
  static void run(const std::string& command) {
    if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + command);
  }
};

class Receiver {
 public:
  struct Got {
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string header(const std::string& name) const {
      for (const auto& [k, v] : headers)
        if (beast::iequals(k, name)) return v;
      return {};
    }
  };

  // TLS when `certs` is given.
  Receiver(int status, std::string body, const TestCertificates* certs = nullptr)
      : status_(status), body_(std::move(body)), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    if (certs) {
      tls_.emplace(ssl::context::tls_server);
      tls_->use_certificate_chain_file(certs->cert);
      tls_->use_private_key_file(certs->key, ssl::context::pem);
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    stopping_ = true;
    // Wakes the blocking accept.
    boost::system::error_code ec;
    tcp::socket poke(io_);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port()), ec);
    thread_.join();
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_.load(); }
  std::vector<Got> requests() {
    std::lock_guard lock(m_);
    return got_;
  }

 private:
  void serve() {
    while (!stopping_) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) continue;
      ++connections_;
      try {
        if (tls_) {
          ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
          stream.handshake(ssl::stream_base::server);
          answer(stream);
        } else {
          answer(socket);
        }
      } catch (const std::exception&) {
        // A client that gave up (the transport refused the certificate, a timeout): the next one.
      }
    }
  }

  template <class Stream>
  void answer(Stream& stream) {
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(stream, buffer, req);
    Got g{std::string(req.target()), {}, req.body()};
    for (const auto& f : req) g.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    {
      std::lock_guard lock(m_);
      got_.push_back(std::move(g));
    }
    http::response<http::string_body> res{static_cast<http::status>(status_), 11};
    res.body() = body_;
    res.prepare_payload();
    res.keep_alive(false);
    http::write(stream, res);
  }

  int status_;
  std::string body_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::optional<ssl::context> tls_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::mutex m_;
  std::vector<Got> got_;
};

}  // namespace careloop::webhooks::testing
