// The HTTP client of webhook deliveries: Boost.Beast on the deliverer's
// io_context, one connection per POST (deliveries are rare and a receiver
// may sit behind anything), a deadline on every step. The host name is
// resolved afresh for every POST, and only addresses the policy allows are
// connected to, so a name that turns into an internal address later (DNS
// rebinding) is refused then.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "careloop/webhooks/webhooks.hpp"

namespace careloop::webhooks {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace ip = asio::ip;
using tcp = asio::ip::tcp;
using Addresses = core::Result<std::vector<ip::address>>;

constexpr std::uint64_t max_answer_bytes = 64 * 1024;

std::string failure(std::string_view step, const beast::error_code& ec) {
  return std::string(step) + ": " + ec.message();
}

std::string seconds(std::chrono::milliseconds d) {
  const auto tenths = (d.count() + 50) / 100;
  return std::to_string(tenths / 10) + (tenths % 10 ? "." + std::to_string(tenths % 10) : "") + " s";
}

// One host name's lookup, on a thread of its own: getaddrinfo cannot be
// cancelled, so a hung one is abandoned rather than waited for.
struct Lookup {
  std::mutex m;
  bool done = false;
  Addresses result = core::Error::unavailable("not resolved yet");

  bool finished() {
    std::lock_guard lock(m);
    return done;
  }
};

// Registers something in use, so cancel() can end it.
template <class T>
class Registered {
 public:
  Registered(std::set<T*>& set, T* item) : set_(set), item_(item) { set_.insert(item_); }
  ~Registered() { set_.erase(item_); }
  Registered(const Registered&) = delete;
  Registered& operator=(const Registered&) = delete;

 private:
  std::set<T*>& set_;
  T* item_;
};

class HttpTransport final : public Transport {
 public:
  HttpTransport(asio::any_io_executor ex, HttpOptions o)
      : ex_(std::move(ex)), options_(std::move(o)), tls_(ssl::context::tls_client) {
    if (!options_.resolve) options_.resolve = resolve_with_getaddrinfo;
    tls_.set_default_verify_paths();
    if (!options_.ca_file.empty()) {
      boost::system::error_code ec;
      tls_.load_verify_file(options_.ca_file, ec);
      if (ec) throw std::runtime_error(options_.ca_file + ": no PEM CA certificates (" + ec.message() + ")");
    }
    tls_.set_verify_mode(ssl::verify_peer);
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  }

  asio::awaitable<Outcome> post(const Request& r) override {
    // Checked again at each delivery: the URL may have been stored under a policy since narrowed.
    auto target = check_url(r.url, options_.policy);
    if (!target)
      co_return Outcome{0, "refused: " + (target.error().fields.empty() ? target.error().message
                                                                        : target.error().fields[0].detail)};
    if (cancelled_) co_return Outcome{0, "stopped"};
    auto addresses = co_await lookup(target->host);
    if (!addresses) co_return Outcome{0, addresses.error().message};
    if (cancelled_) co_return Outcome{0, "stopped"};

    // Every address the name has now; one the policy refuses is never connected to.
    const auto port = static_cast<unsigned short>(std::stoul(target->port));
    std::vector<tcp::endpoint> endpoints;
    std::string refused;
    for (const auto& a : *addresses) {
      if (auto why = options_.policy.refusal(a); !why.empty()) {
        if (refused.empty()) refused = why;
      } else {
        endpoints.emplace_back(a, port);
      }
    }
    if (endpoints.empty())
      co_return Outcome{0, "refused: " + target->host + ": " + (refused.empty() ? std::string("no address") : refused) +
                               " (inside the deployment; --webhook-allow names exceptions)"};

    http::request<http::string_body> req{http::verb::post, target->path, 11};
    req.set(http::field::host, target->host_header);
    req.set(http::field::user_agent, "CareLoop-Webhook/1");
    req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : r.headers) req.set(name, value);
    req.body() = r.body;
    req.prepare_payload();
    req.keep_alive(false);

    beast::error_code ec;
    beast::tcp_stream tcp(ex_);
    Registered live(live_, &tcp);
    tcp.expires_after(options_.timeouts.connect);
    co_await tcp.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{0, failure("connect " + target->host_header, ec)};

    if (!target->https) co_return co_await exchange(tcp, tcp, req);

    ssl::stream<beast::tcp_stream&> tls(tcp, tls_);
    // SNI, and the certificate must name the host the URL names.
    if (!SSL_set_tlsext_host_name(tls.native_handle(), target->host.c_str()))
      co_return Outcome{0, "TLS: cannot set the server name"};
    tls.set_verify_callback(ssl::host_name_verification(target->host));
    tcp.expires_after(options_.timeouts.io);
    co_await tls.async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{0, failure("TLS handshake with " + target->host, ec)};
    co_return co_await exchange(tls, tcp, req);
  }

  void cancel() override {
    cancelled_ = true;
    for (auto* t : waits_) t->cancel();
    for (auto* s : live_) s->cancel();
  }

 private:
  // The host's addresses, or an error once Timeouts::resolve has passed. An
  // address needs no lookup. A lookup still running for the host (one that
  // hung and was abandoned) is waited on again rather than joined by another.
  asio::awaitable<Addresses> lookup(const std::string& host) {
    boost::system::error_code ec;
    if (const auto literal = ip::make_address(host, ec); !ec) co_return std::vector<ip::address>{literal};
    auto& slot = lookups_[host];
    if (!slot || slot->finished()) {
      slot = std::make_shared<Lookup>();
      std::thread([lookup = slot, resolve = options_.resolve, host] {
        Addresses r = core::Error::unavailable("resolve " + host + ": failed");
        try {
          r = resolve(host);
        } catch (const std::exception& e) {
          r = core::Error::unavailable("resolve " + host + ": " + e.what());
        }
        std::lock_guard lock(lookup->m);
        lookup->result = std::move(r);
        lookup->done = true;
      }).detach();
    }
    const auto lookup = slot;
    const auto until = std::chrono::steady_clock::now() + options_.timeouts.resolve;
    asio::steady_timer timer(ex_);
    Registered waiting(waits_, &timer);
    // The thread does not touch the io_context (it may be gone by then): its answer is looked for, at 1, 2, 4 ... 32 ms.
    auto step = std::chrono::milliseconds(1);
    for (;;) {
      {
        std::lock_guard lock(lookup->m);
        if (lookup->done) {
          if (auto it = lookups_.find(host); it != lookups_.end() && it->second == lookup) lookups_.erase(it);
          co_return lookup->result;
        }
      }
      if (cancelled_) co_return core::Error::unavailable("stopped");
      const auto now = std::chrono::steady_clock::now();
      if (now >= until)
        co_return core::Error::unavailable("resolve " + host + ": no answer within " + seconds(options_.timeouts.resolve));
      timer.expires_after(std::min<std::chrono::steady_clock::duration>(step, until - now));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      step = std::min(step * 2, std::chrono::milliseconds(32));
    }
  }

  template <class Stream>
  asio::awaitable<Outcome> exchange(Stream& stream, beast::tcp_stream& tcp, http::request<http::string_body>& req) {
    beast::error_code ec;
    tcp.expires_after(options_.timeouts.io);
    co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{0, failure("send", ec)};
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_answer_bytes);
    tcp.expires_after(options_.timeouts.io);
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{0, failure("read the answer", ec)};
    const int status = static_cast<int>(parser.get().result_int());
    // One request per connection: close without waiting for the peer's goodbye.
    tcp.socket().shutdown(tcp::socket::shutdown_both, ec);
    if (status >= 200 && status < 300) co_return Outcome{status, {}};
    // The status only: the answer's body is the receiver's, and may echo what it should not (it is never stored or logged).
    co_return Outcome{status, "HTTP " + std::to_string(status)};
  }

  asio::any_io_executor ex_;
  HttpOptions options_;
  ssl::context tls_;
  // Touched only on the executor's thread.
  std::set<beast::tcp_stream*> live_;
  std::set<asio::steady_timer*> waits_;
  std::unordered_map<std::string, std::shared_ptr<Lookup>> lookups_;
  bool cancelled_ = false;
};

// Owns getaddrinfo's list.
struct FreeAddrinfo {
  void operator()(addrinfo* a) const noexcept { freeaddrinfo(a); }
};

}  // namespace

Addresses resolve_with_getaddrinfo(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // As Asio's resolver: no IPv6 answers on a host without IPv6.
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  const std::unique_ptr<addrinfo, FreeAddrinfo> owned(found);
  if (rc != 0) return core::Error::unavailable("resolve " + host + ": " + gai_strerror(rc));
  std::vector<ip::address> out;
  for (const addrinfo* a = found; a; a = a->ai_next) {
    ip::address addr;
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      addr = ip::address_v4(ntohl(in->sin_addr.s_addr));
    } else if (a->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      ip::address_v6::bytes_type bytes;
      std::copy(std::begin(in6->sin6_addr.s6_addr), std::end(in6->sin6_addr.s6_addr), bytes.begin());
      addr = ip::address_v6(bytes, in6->sin6_scope_id);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
  }
  if (out.empty()) return core::Error::unavailable("resolve " + host + ": no address");
  return out;
}

std::unique_ptr<Transport> make_http_transport(asio::any_io_executor ex, HttpOptions o) {
  return std::make_unique<HttpTransport>(std::move(ex), std::move(o));
}

}  // namespace careloop::webhooks
