#pragma once
// The HTTP(S) server: a listener, one coroutine per connection on its own
// strand, I/O threads that never block, a compute pool for what does, and
// an orderly shutdown. It moves bytes; the Router decides the answers.
//
//   auto router = std::make_shared<Router>();   // add routes
//   Server server(config, router, std::make_shared<Metrics>());
//   if (auto s = server.start(); !s) ...;       // binds, starts threads
//   server.set_ready(true);
//   server.on_stop([&] { store->close(); });
//   server.run();                               // until SIGINT/SIGTERM or stop()
//
// Built-in routes, answered before the router: GET /healthz, /readyz, /metrics.
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/server/metrics.hpp"
#include "careloop/server/router.hpp"

namespace careloop::server {

// The routes the server answers itself, before the router (GET, and HEAD).
std::vector<RouteInfo> builtin_routes();

// Receives one JSON object per line (no newline); the default writes to stderr.
using LogSink = std::function<void(std::string_view line)>;

struct ServerConfig {
  // Plain HTTP binds to loopback by default; elsewhere without TLS, start() warns.
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;          // 0: an ephemeral port, see Server::port()
  int io_threads = 0;                 // 0: one per core
  int compute_threads = 0;            // 0: one per core
  std::size_t body_limit = 1 << 20;   // beyond → 413
  std::size_t header_limit = 16 * 1024;  // beyond → 431
  std::chrono::milliseconds header_timeout{10'000};   // first byte → end of header; → 408
  std::chrono::milliseconds request_timeout{30'000};  // reading the body; → 408
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive wait; closed silently
  std::chrono::milliseconds write_timeout{30'000};    // a client that does not read
  int max_connections = 10000;        // beyond: accepted, answered 503, closed (lowered to fit RLIMIT_NOFILE)
  int max_connections_per_address = 256;  // one address beyond this: 503 too; 0: no such cap
  // Reverse proxies (CIDR blocks) whose Forwarded / X-Forwarded-For name the
  // client (proxy.hpp); from other peers those headers are ignored.
  std::vector<std::string> trusted_proxies;
  // Who may read /metrics (CIDR blocks, the client's address); elsewhere it is a 404.
  std::vector<std::string> metrics_from{"127.0.0.0/8", "::1/128"};
  std::chrono::milliseconds shutdown_deadline{10'000};  // in-flight requests, then force-close
  // HTTPS when both are set: every connection shakes hands (TLS 1.2 or 1.3,
  // within header_timeout) and every answer carries Strict-Transport-Security.
  // reload() (SIGHUP) reads the files again for new connections.
  std::string tls_cert;  // PEM certificate chain, the server's certificate first
  std::string tls_key;   // PEM private key; readable by others → a warning
  LogSink log_sink;                   // empty: stderr
};

class Server {
 public:
  Server(ServerConfig config, std::shared_ptr<const Router> router, std::shared_ptr<Metrics> metrics);
  // Stops (gracefully) and joins if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate and key, binds and listens, then starts the I/O
  // and compute threads. An error (address in use, a certificate or key that
  // does not load) leaves nothing running.
  core::Status start();
  // The bound port (the ephemeral one when config.port == 0).
  std::uint16_t port() const noexcept;
  // The pool for blocking work; see offload.hpp. Its threads have ThreadRole::compute.
  boost::asio::thread_pool& compute() noexcept;
  Metrics& metrics() noexcept;

  // Blocks until SIGINT, SIGTERM or stop(); then shuts down in order:
  // stop accepting and go not-ready, let in-flight requests finish within
  // shutdown_deadline (then force-close), close idle connections and
  // streams, run the on_stop callbacks, join the threads.
  void run();
  // Starts the shutdown; returns at once. Thread-safe, idempotent.
  void stop();

  // /readyz answers 200 only when ready and not draining. Starts not ready.
  void set_ready(bool ready) noexcept;
  // Runs after the connections are gone, before the threads are joined
  // (I/O and compute threads still run, so store completions still land).
  void on_stop(std::function<void()> callback);
  // Runs on the compute pool each time the process gets SIGHUP (reload
  // models, configuration); the server goes on serving meanwhile.
  void on_reload(std::function<void()> callback);
  // What SIGHUP does: on the compute pool, reloads the TLS certificate and
  // key and runs the on_reload callbacks. Returns at once. Thread-safe.
  void reload();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace careloop::server
