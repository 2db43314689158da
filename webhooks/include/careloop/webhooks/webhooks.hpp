#pragma once
// webhooks/: delivers each clinic's events to the clinic's webhook, at least
// once, in seq order, across restarts (issue 4 item 8; webhooks/README.md).
// The clinic's event sequence (clinic_events) is the outbox; the store keeps
// a cursor per clinic (the highest seq the receiver answered with a 2xx).
//
//   POST <url>   Content-Type: application/json
//   CareLoop-Event-Id: <seq>            the receiver's dedup key
//   CareLoop-Signature: t=<unix s>,v2=<hex HMAC-SHA256(secret, "<t>.<seq>.<body>")>
//   body: the event as the SSE stream sends it (care::event_body)
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/care/care.hpp"
#include "careloop/core/result.hpp"
#include "careloop/server/proxy.hpp"
#include "careloop/store/webhooks.hpp"

namespace careloop::webhooks {

// ---- signing

// Lower-case hex of HMAC-SHA256(key, message) (RFC 2104; libsodium).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
// The CareLoop-Signature header value: "t=<unix_s>,v2=<hmac of "<t>.<event_id>.<body>">",
// event_id being the CareLoop-Event-Id header's value (the event's seq).
std::string signature_header(std::string_view secret, std::int64_t unix_s, std::int64_t event_id,
                             std::string_view body);

// ---- retries

struct Backoff {
  std::chrono::milliseconds initial{1000};  // the delay after the first failure
  std::chrono::milliseconds max{300'000};   // the cap (5 min)
};
// The delay before the next attempt after `attempts` failures in a row (>= 1):
// min(max, initial * 2^(attempts-1)), jittered into [d/2, d] by u in [0, 1]
// ("equal jitter": receivers that fail together do not retry together).
std::chrono::milliseconds backoff_delay(const Backoff& b, int attempts, double u) noexcept;

// ---- URLs

struct Target {
  bool https = false;
  std::string host;       // for the resolver and TLS host name check (no brackets)
  std::string port;       // "80", "443" or as given
  std::string host_header;  // host[:port] as written
  std::string path;       // origin-form: path and query, at least "/"
};
// An absolute http:// or https:// URL with a host, without user info or
// fragment, at most 2,000 characters. The error names the problem.
core::Result<Target> parse_url(std::string_view url);

// ---- where a webhook may go

// Why no webhook may be sent to this address ("loopback", "private",
// "link-local", ...), or empty when it may. IPv4-mapped (::ffff:a.b.c.d),
// IPv4-compatible and NAT64 (64:ff9b::/96) forms are judged by their IPv4
// address; 6to4 and Teredo, which carry one, are refused.
std::string_view refused_range(const boost::asio::ip::address& a) noexcept;

struct TargetPolicy {
  bool allow_http = false;   // http:// URLs (--webhook-allow-http); otherwise https:// only
  server::AddressSet allow;  // addresses allowed although refused_range names them (--webhook-allow CIDR)
  // Why a webhook may not connect to `a`, or empty when it may.
  std::string refusal(const boost::asio::ip::address& a) const;
};

// parse_url, then the policy: https:// unless http is allowed, and a host
// written as an IP address must be one the policy allows. A host name is
// checked when it is resolved, at every connection. The error names /url.
core::Result<Target> check_url(std::string_view url, const TargetPolicy& policy);

// ---- transport

struct Request {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};
struct Outcome {
  int status = 0;          // the HTTP status; 0 when no answer came (refused, timed out, TLS failure)
  std::string error;       // why, when not a 2xx
  bool ok() const noexcept { return status >= 200 && status < 300; }
};

// Sends one POST. Runs on the deliverer's executor; must not block.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual boost::asio::awaitable<Outcome> post(const Request& r) = 0;
  // Ends every request in flight at once (shutdown).
  virtual void cancel() = 0;
};

struct Timeouts {
  std::chrono::milliseconds resolve{10'000};  // the DNS lookup of one delivery
  std::chrono::milliseconds connect{10'000};
  std::chrono::milliseconds io{10'000};  // TLS handshake, write, and read of the answer, each
};
// A host name's addresses; blocking (getaddrinfo by default). The transport
// calls it on a thread of its own and waits at most Timeouts::resolve.
using Resolve = std::function<core::Result<std::vector<boost::asio::ip::address>>(const std::string& host)>;
core::Result<std::vector<boost::asio::ip::address>> resolve_with_getaddrinfo(const std::string& host);

struct HttpOptions {
  Timeouts timeouts;
  TargetPolicy policy;
  std::string ca_file;  // PEM CA certificates trusted besides the system's (--webhook-ca); empty: none
  Resolve resolve;      // empty: resolve_with_getaddrinfo
};
// Boost.Beast over TCP, or TLS for https (peer verified against the system
// CA store, and ca_file, and the URL's host name). Every address a name
// resolves to is checked against the policy before any connection; one
// lookup that hangs holds up only the requests to that host name.
std::unique_ptr<Transport> make_http_transport(boost::asio::any_io_executor ex, HttpOptions o);

// ---- the deliverer

struct Options {
  Backoff backoff;
  HttpOptions http;  // for the default transport
  // The safety net: how often every webhook is looked at even without a wake-up.
  std::chrono::milliseconds poll{5000};
  int batch = 50;  // events read per round
  // Makes the transport; default: make_http_transport.
  std::function<std::unique_ptr<Transport>(boost::asio::any_io_executor)> transport;
};

struct Counters {
  std::uint64_t delivered = 0;  // 2xx answers
  std::uint64_t failed = 0;     // attempts that were not
};

// One thread running an io_context for the HTTP clients and timers; store
// reads go to `reads` (a compute pool), store writes to the store's writer.
// Woken by the hub after a commit, and every `poll` regardless.
class Deliverer {
 public:
  Deliverer(store::Webhooks& st, boost::asio::thread_pool& reads, std::shared_ptr<care::ClinicEventHub> hub,
            Options options = {});
  ~Deliverer();
  Deliverer(const Deliverer&) = delete;
  Deliverer& operator=(const Deliverer&) = delete;

  void start();
  // Cancels what is in flight, waits for every round to end (the store must
  // still be open), joins the thread. Idempotent.
  void stop();
  // Look at this clinic's webhook now (its setting changed, or it has new events). Any thread.
  void wake(std::int64_t clinic_id);
  Counters counters() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace careloop::webhooks
