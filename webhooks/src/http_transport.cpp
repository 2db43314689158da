// The HTTP client of webhook deliveries: Boost.Beast on the deliverer's
// io_context, one connection per POST (deliveries are rare and a receiver
// may sit behind anything), a deadline on every step.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <set>

#include "careloop/webhooks/webhooks.hpp"

namespace careloop::webhooks {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr std::uint64_t max_answer_bytes = 64 * 1024;

std::string failure(std::string_view step, const beast::error_code& ec) {
  return std::string(step) + ": " + ec.message();
}

class HttpTransport final : public Transport {
 public:
  HttpTransport(asio::any_io_executor ex, Timeouts t)
      : ex_(std::move(ex)), timeouts_(t), tls_(ssl::context::tls_client) {
    tls_.set_default_verify_paths();
    tls_.set_verify_mode(ssl::verify_peer);
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  }

  asio::awaitable<Outcome> post(const Request& r) override {
    auto target = parse_url(r.url);
    if (!target) co_return Outcome{0, target.error().fields.empty() ? target.error().message : target.error().fields[0].detail};
    if (cancelled_) co_return Outcome{0, "stopped"};
    beast::error_code ec;
    tcp::resolver resolver(ex_);
    LiveResolver live_resolver(this, &resolver);
    auto endpoints = co_await resolver.async_resolve(target->host, target->port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{0, failure("resolve " + target->host, ec)};
    if (cancelled_) co_return Outcome{0, "stopped"};

    http::request<http::string_body> req{http::verb::post, target->path, 11};
    req.set(http::field::host, target->host_header);
    req.set(http::field::user_agent, "CareLoop-Webhook/1");
    req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : r.headers) req.set(name, value);
    req.body() = r.body;
    req.prepare_payload();
    req.keep_alive(false);

    beast::tcp_stream tcp(ex_);
    Live live(this, &tcp);
    tcp.expires_after(timeouts_.connect);
    co_await tcp.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{0, failure("connect " + target->host_header, ec)};

    if (!target->https) co_return co_await exchange(tcp, tcp, req);

    ssl::stream<beast::tcp_stream&> tls(tcp, tls_);
    // SNI, and the certificate must name the host the URL names.
    if (!SSL_set_tlsext_host_name(tls.native_handle(), target->host.c_str()))
      co_return Outcome{0, "TLS: cannot set the server name"};
    tls.set_verify_callback(ssl::host_name_verification(target->host));
    tcp.expires_after(timeouts_.io);
    co_await tls.async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{0, failure("TLS handshake with " + target->host, ec)};
    co_return co_await exchange(tls, tcp, req);
  }

  void cancel() override {
    cancelled_ = true;
    for (auto* r : resolvers_) r->cancel();
    for (auto* s : live_) s->cancel();
  }

 private:
  // Registers a connection while it is in use, so cancel() can end it.
  struct Live {
    Live(HttpTransport* t, beast::tcp_stream* s) : t_(t), s_(s) { t_->live_.insert(s_); }
    ~Live() { t_->live_.erase(s_); }
    Live(const Live&) = delete;
    Live& operator=(const Live&) = delete;
    HttpTransport* t_;
    beast::tcp_stream* s_;
  };

  struct LiveResolver {
    LiveResolver(HttpTransport* t, tcp::resolver* r) : t_(t), r_(r) { t_->resolvers_.insert(r_); }
    ~LiveResolver() { t_->resolvers_.erase(r_); }
    LiveResolver(const LiveResolver&) = delete;
    LiveResolver& operator=(const LiveResolver&) = delete;
    HttpTransport* t_;
    tcp::resolver* r_;
  };

  template <class Stream>
  asio::awaitable<Outcome> exchange(Stream& stream, beast::tcp_stream& tcp, http::request<http::string_body>& req) {
    beast::error_code ec;
    tcp.expires_after(timeouts_.io);
    co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{0, failure("send", ec)};
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_answer_bytes);
    tcp.expires_after(timeouts_.io);
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{0, failure("read the answer", ec)};
    const int status = static_cast<int>(parser.get().result_int());
    // One request per connection: close without waiting for the peer's goodbye.
    tcp.socket().shutdown(tcp::socket::shutdown_both, ec);
    if (status >= 200 && status < 300) co_return Outcome{status, {}};
    std::string body = parser.get().body().substr(0, 200);
    co_return Outcome{status, "HTTP " + std::to_string(status) + (body.empty() ? "" : ": " + body)};
  }

  asio::any_io_executor ex_;
  Timeouts timeouts_;
  ssl::context tls_;
  std::set<beast::tcp_stream*> live_;
  std::set<tcp::resolver*> resolvers_;
  bool cancelled_ = false;
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(asio::any_io_executor ex, Timeouts t) {
  return std::make_unique<HttpTransport>(std::move(ex), t);
}

}  // namespace careloop::webhooks
