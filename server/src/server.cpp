#include "careloop/server/server.hpp"

#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "careloop/core/thread_role.hpp"
#include "careloop/core/time.hpp"
#include "careloop/server/proxy.hpp"
#include "tls.hpp"

namespace careloop::server {

namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Random per process, then a counter: unique within a run, distinct across restarts.
std::string new_request_id() {
  static const std::uint32_t prefix = std::random_device{}();
  static std::atomic<std::uint64_t> counter{0};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x-%08llx", static_cast<unsigned>(prefix),
                static_cast<unsigned long long>(counter.fetch_add(1, std::memory_order_relaxed)));
  return buf;
}

// A client-supplied X-Request-Id is kept only if it cannot forge a log line.
bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
           c == '.';
  });
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

Response internal_error(const std::string& request_id) {
  nlohmann::json body = {
      {"type", "about:blank"},
      {"title", "Internal Server Error"},
      {"status", 500},
      {"detail", "The server could not complete the request. Quote the request id when reporting it."},
      {"instance", "urn:careloop:request:" + request_id},
      {"request_id", request_id},
  };
  Response res{http::status::internal_server_error, 11};
  res.set(http::field::content_type, problem_media_type);
  res.body() = body.dump();
  return res;
}

// Errors that mean "the client went away": nothing to answer, nothing to log.
bool client_gone(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::operation_aborted || ec == beast::error::timeout;
}

// A JSON string literal, invalid UTF-8 replaced (paths are client input).
void append_json_string(std::string& out, std::string_view s) {
  out += nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The per-request log line, written field by field: it runs for every
// request, and building a json object (a map of eleven nodes) cost more than
// the rest of a bare request's logging (bench/ingest profile).
std::string request_log_line(const RequestContext& ctx, const std::string& remote, unsigned status, std::size_t bytes,
                             double duration_ms, const std::string& failure) {
  std::string out;
  out.reserve(256);
  // A 5xx is the server's failure, whatever its cause: at error, so it is seen.
  out += failure.empty() && status < 500 ? R"({"level":"info","msg":"request","request_id":)"
                                         : R"({"level":"error","msg":"request","request_id":)";
  append_json_string(out, ctx.request_id);
  out += R"(,"remote":)";
  append_json_string(out, remote);
  if (!ctx.client.empty() && remote.rfind(ctx.client + ":", 0) != 0) {
    out += R"(,"client":)";  // forwarded by a trusted proxy
    append_json_string(out, ctx.client);
  }
  out += R"(,"method":)";
  append_json_string(out, ctx.request.method_string());
  out += R"(,"path":)";  // never the query: it may carry tokens
  append_json_string(out, ctx.path);
  out += R"(,"route":)";
  append_json_string(out, ctx.route);
  char nums[128];
  std::snprintf(nums, sizeof nums, R"(,"status":%u,"bytes":%zu,"duration_ms":%.3f)", status, bytes, duration_ms);
  out += nums;
  if (!failure.empty()) {
    out += R"(,"error":)";
    append_json_string(out, failure);
  }
  out += R"(,"ts":")";
  out += core::format_iso8601_utc(core::now_utc_ms());
  out += "\"}";
  return out;
}

// The headers every answer carries. Over HTTPS, HSTS: a browser that has
// reached us once over HTTPS does not try plain HTTP again for a year.
void set_server_headers(Response& res, bool tls) {
  res.set(http::field::server, "careloop");
  if (tls) res.set(http::field::strict_transport_security, "max-age=31536000");
}

// HTTPS: says the answer is complete (close_notify), so a cut-off one can be
// told from a whole one; like web servers, without waiting for the client's.
asio::awaitable<void> send_close_notify(beast::tcp_stream&) { co_return; }
asio::awaitable<void> send_close_notify(TlsStream& stream) {
  SSL* native = stream.native_handle();
  SSL_set_shutdown(native, SSL_get_shutdown(native) | SSL_RECEIVED_SHUTDOWN);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
  co_await stream.async_shutdown(use_tuple);
  beast::get_lowest_layer(stream).expires_never();
}

// Over the connection cap: 503 with Retry-After, then close. The rejected
// socket lives at most ~3 s and is not counted as open.
template <class Stream>
asio::awaitable<void> answer_busy(Stream& stream) {
  auto res = problem_response(http::status::service_unavailable, "Service Unavailable",
                              "The server has too many open connections; retry shortly.");
  set_server_headers(res, std::is_same_v<Stream, TlsStream>);
  res.set(http::field::retry_after, "1");
  res.keep_alive(false);
  auto& transport = beast::get_lowest_layer(stream);
  transport.expires_after(std::chrono::seconds(2));
  auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
  if (ec) co_return;
  co_await send_close_notify(stream);
  transport.socket().shutdown(tcp::socket::shutdown_send, ec);
  // Read what the client sent so closing does not reset the connection.
  std::array<char, 4096> sink;
  transport.expires_after(std::chrono::seconds(1));
  for (std::size_t total = 0; total < 64 * 1024;) {
    auto [rec, got] = co_await transport.async_read_some(asio::buffer(sink), use_tuple);
    if (rec) break;
    total += got;
  }
}

template <class F>
void log_exceptions(Server::Impl& impl, const char* where, F&& f);

}  // namespace

class Connection;

class Server::Impl {
 public:
  Impl(ServerConfig c, std::shared_ptr<const Router> r, std::shared_ptr<Metrics> m)
      : cfg(std::move(c)),
        router(std::move(r)),
        metrics(m ? std::move(m) : std::make_shared<Metrics>()),
        io_thread_count(cfg.io_threads > 0 ? cfg.io_threads
                                           : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))),
        compute_thread_count(cfg.compute_threads > 0
                                 ? cfg.compute_threads
                                 : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))),
        ioc(io_thread_count),
        strand(asio::make_strand(ioc)),
        acceptor(strand),
        drained_future(drained.get_future().share()) {}

  void log(nlohmann::json line) const {
    line["ts"] = core::format_iso8601_utc(core::now_utc_ms());
    write_log(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

  // One finished JSON object, no newline.
  void write_log(std::string text) const {
    if (cfg.log_sink) {
      cfg.log_sink(text);
    } else {
      text += '\n';
      std::fwrite(text.data(), 1, text.size(), stderr);
    }
  }

  core::Status start();
  int connection_cap_within_descriptors();
  void request_stop();
  void finish();
  asio::awaitable<void> listen();
  asio::awaitable<void> shutdown();
  asio::awaitable<void> reject_busy(tcp::socket socket, const char* reason, TlsContext tls);
  TlsContext current_tls() {
    std::lock_guard lock(tls_mu);
    return tls;
  }
  void reload_tls();
  void warn_if_key_exposed() const;
  std::optional<Response> builtin(RequestContext& ctx) const;
  std::size_t open_connections() {
    std::lock_guard lock(mu);
    return connections.size();
  }
  void unregister(std::uint64_t id, const std::string& address) {
    std::lock_guard lock(mu);
    connections.erase(id);
    if (auto it = per_address.find(address); it != per_address.end() && --it->second <= 0) per_address.erase(it);
  }

  // Declared first, destroyed last: everything below may refer to these.
  const ServerConfig cfg;
  const std::shared_ptr<const Router> router;
  const std::shared_ptr<Metrics> metrics;
  const int io_thread_count;
  const int compute_thread_count;
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};
  std::atomic<bool> stop_requested{false};
  bool started = false;
  bool finished = false;
  std::uint16_t port = 0;
  const bool serving_tls = !cfg.tls_cert.empty();

  std::mutex mu;  // guards connections, per_address, next_id, stop_callbacks
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
  std::unordered_map<std::string, int> per_address;  // open connections by peer address
  int connection_cap = 0;  // cfg.max_connections, kept below the descriptor limit (start())
  AddressSet proxies;          // from cfg.trusted_proxies (start())
  AddressSet metrics_readers;  // from cfg.metrics_from (start())
  std::uint64_t accept_failures = 0;  // since the last "accept failed" line
  Clock::time_point accept_failure_logged{};
  std::uint64_t next_id = 0;
  std::vector<std::function<void()>> stop_callbacks;
  std::vector<std::function<void()>> reload_callbacks;  // SIGHUP, run on the compute pool
  std::mutex tls_mu;  // guards tls
  TlsContext tls;     // HTTPS: what new connections are made with; replaced on reload
  void wait_for_signal();
  void reload();

  // The pool has no threads of its own: ours attach to it after taking the
  // compute role (asio::thread_pool cannot run code on its threads at start).
  asio::thread_pool compute{0};
  asio::io_context ioc;
  // Listener, shutdown and signals share one strand: the acceptor is not thread-safe.
  asio::strand<asio::io_context::executor_type> strand;
  tcp::acceptor acceptor;
  std::optional<asio::signal_set> signals;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> io_threads;
  std::vector<std::thread> compute_threads;
  std::promise<void> drained;
  std::shared_future<void> drained_future;
};

namespace {
template <class F>
void log_exceptions(Server::Impl& impl, const char* where, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    impl.log({{"level", "error"}, {"msg", where}, {"error", e.what()}});
  } catch (...) {
    impl.log({{"level", "error"}, {"msg", where}, {"error", "unknown exception"}});
  }
}

// Completion for co_spawn: a coroutine that escapes with an exception is a
// bug; log it rather than lose it (asio::detached would swallow it).
auto log_failure(Server::Impl& impl, const char* where) {
  return [&impl, where](std::exception_ptr e) {
    if (e) log_exceptions(impl, where, [&] { std::rethrow_exception(e); });
  };
}
}  // namespace

// One client connection, as the server's registry holds it: counted open
// from construction to destruction, whatever its transport.
class Connection {
 public:
  Connection(Server::Impl& server, std::uint64_t id, std::string address)
      : server_(server), id_(id), address_(std::move(address)) {
    server_.metrics->connection_opened();
  }
  virtual ~Connection() {
    server_.metrics->connection_closed();
    server_.unregister(id_, address_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  virtual asio::any_io_executor executor() = 0;
  // Runs the connection on its strand; it keeps itself alive until done.
  virtual void start() = 0;
  // Shutdown, first step (on the strand): an idle or streaming connection
  // closes now; one with a request in flight finishes it, then closes.
  virtual void drain() = 0;
  // Shutdown, past the deadline.
  virtual void force_close() = 0;

 protected:
  Server::Impl& server_;
  const std::uint64_t id_;
  const std::string address_;  // the peer's address, its per-address count
};

// The HTTP session over a Stream: beast::tcp_stream (HTTP) or an ssl_stream
// over one (HTTPS), the same code either way. Its coroutine owns it (run()
// holds the shared_ptr), everything it touches runs on its strand, so it
// needs no locks.
template <class Stream>
class Session final : public Connection, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool tls = std::is_same_v<Stream, TlsStream>;

  // HTTPS: `tls_context` is the one the stream is made with; held so it outlives it.
  template <class... StreamArgs>
  Session(Server::Impl& server, std::uint64_t id, std::string address, TlsContext tls_context,
          StreamArgs&&... stream_args)
      : Connection(server, id, std::move(address)),
        tls_context_(std::move(tls_context)),
        stream_(std::forward<StreamArgs>(stream_args)...),
        timer_(stream_.get_executor()) {
    error_code ec;
    auto peer = socket().remote_endpoint(ec);
    if (!ec) {
      remote_ = peer.address().to_string() + ":" + std::to_string(peer.port());
      peer_ = peer.address();
    }
  }

  asio::any_io_executor executor() override { return stream_.get_executor(); }

  void start() override {
    asio::co_spawn(executor(), run(this->shared_from_this()), log_failure(server_, "session failed"));
  }

  void drain() override {
    stopping_ = true;
    error_code ec;
    if (state_ == State::streaming) socket().shutdown(tcp::socket::shutdown_both, ec);
    if (state_ != State::busy) socket().cancel(ec);
  }

  void force_close() override {
    stopping_ = true;
    close();
  }

 private:
  enum class State { waiting, busy, streaming };
  class Writer;

  static asio::awaitable<void> run(std::shared_ptr<Session> self) {
    // This shape, not `if (co_await handshake())` with a handshake that
    // returned at once over TCP: GCC 12 built that into a SIGILL.
    bool secured = true;
    if constexpr (tls) secured = co_await self->handshake();
    if (secured) {
      co_await self->session();
      co_await send_close_notify(self->stream_);
    }
    self->close();
  }

  asio::awaitable<bool> handshake();
  asio::awaitable<void> session();
  asio::awaitable<bool> respond(Request request, Clock::time_point started);
  asio::awaitable<void> refuse(error_code ec, const http::request_parser<http::string_body>& parser,
                               Clock::time_point started);
  asio::awaitable<void> linger_close();
  asio::awaitable<std::size_t> stream_body(RequestContext& ctx, Response& res);

  // The TCP stream under TLS (or the stream itself): its timeouts, its socket.
  beast::tcp_stream& transport() { return beast::get_lowest_layer(stream_); }
  tcp::socket& socket() { return transport().socket(); }

  // Our own deadline for reads, instead of tcp_stream's: tcp_stream closes
  // the socket on expiry, and we still want to answer 408 on it.
  void arm(std::chrono::milliseconds after) {
    timed_out_ = false;
    timer_.expires_after(after);
    timer_.async_wait([weak = this->weak_from_this(), gen = ++deadline_gen_](error_code ec) {
      auto self = weak.lock();
      if (ec || !self || gen != self->deadline_gen_) return;
      self->timed_out_ = true;
      self->socket().cancel(ec);
    });
  }
  void disarm() {
    ++deadline_gen_;
    timer_.cancel();
  }

  void close() {
    error_code ec;
    socket().shutdown(tcp::socket::shutdown_send, ec);
    socket().close(ec);
  }

  void account(std::string_view route, std::string_view method, unsigned status, Clock::time_point started) {
    server_.metrics->observe_request(route.empty() ? "unmatched" : route, method, status,
                                     std::chrono::duration<double>(Clock::now() - started).count());
  }

  TlsContext tls_context_;  // declared before the stream made with it
  Stream stream_;
  beast::flat_buffer buffer_;
  asio::steady_timer timer_;
  std::uint64_t deadline_gen_ = 0;
  bool timed_out_ = false;
  bool stopping_ = false;
  State state_ = State::waiting;
  std::string remote_;
  asio::ip::address peer_;
};

// The StreamWriter a streaming handler writes through: chunked framing on
// HTTP/1.1, raw bytes until close on HTTP/1.0.
template <class Stream>
class Session<Stream>::Writer final : public StreamWriter {
 public:
  Writer(Session& c, bool chunked) : c_(c), chunked_(chunked) {}

  asio::awaitable<error_code> write(std::string_view data) override {
    if (c_.stopping_) co_return asio::error::operation_aborted;
    // An empty chunk would read as the end of the body.
    if (data.empty()) co_return error_code{};
    c_.transport().expires_after(c_.server_.cfg.write_timeout);
    error_code ec;
    std::size_t n = 0;
    if (chunked_)
      std::tie(ec, n) = co_await asio::async_write(c_.stream_, http::make_chunk(asio::buffer(data)), use_tuple);
    else
      std::tie(ec, n) = co_await asio::async_write(c_.stream_, asio::buffer(data), use_tuple);
    c_.transport().expires_never();
    bytes += n;
    co_return ec;
  }
  bool stopping() const noexcept override { return c_.stopping_; }
  asio::any_io_executor executor() const override { return c_.stream_.get_executor(); }

  std::size_t bytes = 0;

 private:
  Session& c_;
  bool chunked_;
};

// HTTPS only: the handshake first, within the header timeout. A client that
// spoke plain HTTP or an old protocol gets no HTTP answer.
template <class Stream>
asio::awaitable<bool> Session<Stream>::handshake() {
  arm(server_.cfg.header_timeout);
  auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, use_tuple);
  disarm();
  if (ec && !stopping_ && !timed_out_ && !client_gone(ec))
    server_.log({{"level", "info"}, {"msg", "TLS handshake failed"}, {"remote", remote_}, {"error", ec.message()}});
  co_return !ec;
}

template <class Stream>
asio::awaitable<void> Session<Stream>::session() {
  const auto& cfg = server_.cfg;
  bool first = true;
  while (!stopping_) {
    state_ = State::waiting;
    // Between keep-alive requests the client gets idle_timeout to start the
    // next one; the header timeout runs from its first byte (or the accept).
    if (!first && buffer_.size() == 0) {
      arm(cfg.idle_timeout);
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(4096), use_tuple);
      disarm();
      if (ec) co_return;
      buffer_.commit(n);
    }
    first = false;

    // A fresh parser per message, so the limits apply to each one.
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(cfg.header_limit));
    parser.body_limit(cfg.body_limit);

    arm(cfg.header_timeout);
    auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, use_tuple);
    disarm();
    const auto started = Clock::now();
    if (ec) {
      co_await refuse(ec, parser, started);
      co_return;
    }
    state_ = State::busy;
    // RFC 9112 §6.3: a request whose last transfer coding is not chunked has
    // no knowable length. Read as no body, its bytes would be taken for the
    // next request (smuggling): refuse it and close.
    if (parser.get().count(http::field::transfer_encoding) > 0 && !parser.chunked()) {
      co_await refuse(http::error::bad_transfer_encoding, parser, started);
      co_return;
    }

    if (!parser.is_done()) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
        transport().expires_after(cfg.write_timeout);
        co_await http::async_write(stream_, go_on, use_tuple);
        transport().expires_never();
      }
      arm(cfg.request_timeout);
      auto [body_ec, body_n] = co_await http::async_read(stream_, buffer_, parser, use_tuple);
      disarm();
      if (body_ec) {
        co_await refuse(body_ec, parser, started);
        co_return;
      }
    }
    // Requests are answered one at a time: a pipelining client's next
    // request waits in the socket buffer, so pipelining cannot queue work.
    if (!co_await respond(parser.release(), started)) co_return;
  }
}

// Answers a request that could not be read (408, 413, 431, 400), then closes.
template <class Stream>
asio::awaitable<void> Session<Stream>::refuse(error_code ec, const http::request_parser<http::string_body>& parser,
                                              Clock::time_point started) {
  http::status status{};
  std::string title, detail;
  if (timed_out_) {
    status = http::status::request_timeout;
    title = "Request Timeout";
    detail = "The request was not received in time.";
  } else if (stopping_ || client_gone(ec)) {
    co_return;
  } else if (ec == http::error::header_limit) {
    status = http::status::request_header_fields_too_large;
    title = "Request Header Fields Too Large";
    detail = "The request header is larger than " + std::to_string(server_.cfg.header_limit) + " bytes.";
  } else if (ec == http::error::body_limit) {
    status = http::status::payload_too_large;
    title = "Content Too Large";
    detail = "The request body is larger than " + std::to_string(server_.cfg.body_limit) + " bytes.";
  } else {
    status = http::status::bad_request;
    title = "Bad Request";
    detail = "Malformed HTTP request: " + ec.message() + ".";
  }

  const auto id = new_request_id();
  auto res = problem_response(status, title, detail);
  set_server_headers(res, tls);
  res.set("X-Request-Id", id);
  res.keep_alive(false);
  transport().expires_after(server_.cfg.write_timeout);
  auto [wec, bytes] = co_await http::async_write(stream_, res, use_tuple);
  transport().expires_never();

  const std::string method = parser.is_header_done() ? std::string(parser.get().method_string()) : "-";
  account("", method, static_cast<unsigned>(status), started);
  server_.log({{"level", "info"},
               {"msg", "request"},
               {"request_id", id},
               {"remote", remote_},
               {"method", method},
               {"path", "-"},
               {"route", ""},
               {"status", static_cast<unsigned>(status)},
               {"bytes", bytes},
               {"duration_ms", ms_since(started)},
               {"error", ec.message()}});
  if (!wec) co_await linger_close();
}

// After an error answer the client may still be sending (a 1 MiB body we
// refused). Closing with unread input makes the kernel send RST, which can
// destroy our answer before the client reads it: read and discard for a
// moment first, like nginx's lingering_close (under TLS: the raw bytes).
template <class Stream>
asio::awaitable<void> Session<Stream>::linger_close() {
  co_await send_close_notify(stream_);
  error_code ec;
  socket().shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 16 * 1024> sink;
  std::size_t total = 0;
  arm(std::chrono::milliseconds(1000));
  while (!stopping_ && total < 4 * server_.cfg.body_limit) {
    auto [rec, n] = co_await transport().async_read_some(asio::buffer(sink), use_tuple);
    if (rec) break;
    total += n;
  }
  disarm();
}

template <class Stream>
asio::awaitable<bool> Session<Stream>::respond(Request request, Clock::time_point started) {
  auto made = make_context(std::move(request));
  if (!made) {
    // make_context leaves the request alone when it refuses the target.
    auto res = problem_response(http::status::bad_request, "Bad Request", "The request target is not a valid URI.");
    res.version(request.version());
    set_server_headers(res, tls);
    res.set("X-Request-Id", new_request_id());
    res.keep_alive(false);
    transport().expires_after(server_.cfg.write_timeout);
    auto [ec, bytes] = co_await http::async_write(stream_, res, use_tuple);
    account("", request.method_string(), 400, started);
    server_.log({{"level", "info"},
                 {"msg", "request"},
                 {"request_id", std::string(res["X-Request-Id"])},
                 {"remote", remote_},
                 {"method", std::string(request.method_string())},
                 {"path", "-"},
                 {"route", ""},
                 {"status", 400},
                 {"bytes", bytes},
                 {"duration_ms", ms_since(started)}});
    co_return false;
  }
  RequestContext& ctx = *made;
  ctx.remote = remote_;
  ctx.client = server_.proxies.client_address(peer_, ctx.request);
  ctx.executor = stream_.get_executor();
  ctx.received_at = started;
  const auto given_id = ctx.request["X-Request-Id"];
  ctx.request_id = acceptable_request_id(given_id) ? std::string(given_id) : new_request_id();

  Response res;
  std::string failure;
  bool unavailable = false;  // the failure is the store's (busy, full, closing): 503, not 500
  if (auto built_in = server_.builtin(ctx)) {
    res = std::move(*built_in);
  } else {
    // The one place handler exceptions stop: they end the request, not the server.
    try {
      res = co_await server_.router->dispatch(ctx);
    } catch (const core::Failure& e) {
      failure = e.what();
      unavailable = e.code() == core::Errc::unavailable;
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown exception";
    }
  }
  if (!failure.empty() || (ctx.stream && res.result_int() >= 300)) ctx.stream = nullptr;
  if (!failure.empty()) res = unavailable ? unavailable_response() : internal_error(ctx.request_id);

  const bool head = ctx.request.method() == http::verb::head;
  res.version(ctx.request.version());
  set_server_headers(res, tls);
  res.set("X-Request-Id", ctx.request_id);
  const bool keep_alive = ctx.request.keep_alive() && !stopping_ && !ctx.stream;
  res.keep_alive(keep_alive);

  std::size_t bytes = 0;
  error_code wec;
  if (ctx.stream && !head) {
    bytes = co_await stream_body(ctx, res);
  } else {
    res.prepare_payload();
    if (head) {
      // HEAD: the GET answer's headers, Content-Length included, no body.
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    transport().expires_after(server_.cfg.write_timeout);
    std::tie(wec, bytes) = co_await http::async_write(stream_, res, use_tuple);
    transport().expires_never();
  }

  const auto status = res.result_int();
  account(ctx.route, ctx.request.method_string(), status, started);
  server_.write_log(request_log_line(ctx, remote_, status, bytes, ms_since(started), failure));
  co_return keep_alive && !wec;
}

// Writes the head of a streamed response, then lets the handler's stream
// body write through a Writer; the connection closes after it.
template <class Stream>
asio::awaitable<std::size_t> Session<Stream>::stream_body(RequestContext& ctx, Response& res) {
  state_ = State::streaming;
  const bool chunked = ctx.request.version() >= 11;
  res.body().clear();
  res.chunked(chunked);
  // No length: the body ends with the last chunk, or with the connection.
  res.erase(http::field::content_length);
  http::response_serializer<http::string_body> head{res};
  transport().expires_after(server_.cfg.write_timeout);
  auto [ec, n] = co_await http::async_write_header(stream_, head, use_tuple);
  transport().expires_never();
  if (ec) co_return n;
  Writer writer(*this, chunked);
  try {
    co_await ctx.stream(writer);
  } catch (const std::exception& e) {
    server_.log({{"level", "error"}, {"msg", "stream failed"}, {"request_id", ctx.request_id}, {"error", e.what()}});
  }
  if (chunked && !stopping_) {
    transport().expires_after(server_.cfg.write_timeout);
    auto [last_ec, last_n] = co_await asio::async_write(stream_, http::make_chunk_last(), use_tuple);
    transport().expires_never();
    writer.bytes += last_n;
  }
  co_return n + writer.bytes;
}

// A connection over TLS when the server serves HTTPS, over TCP otherwise.
std::shared_ptr<Connection> make_session(Server::Impl& server, std::uint64_t id, tcp::socket socket,
                                         std::string address, TlsContext tls_context) {
  if (!tls_context)
    return std::make_shared<Session<beast::tcp_stream>>(server, id, std::move(address), nullptr, std::move(socket));
  auto& context = *tls_context;
  return std::make_shared<Session<TlsStream>>(server, id, std::move(address), std::move(tls_context),
                                              std::move(socket), context);
}

std::vector<RouteInfo> builtin_routes() {
  return {{http::verb::get, "/healthz"}, {http::verb::get, "/readyz"}, {http::verb::get, "/metrics"}};
}

std::optional<Response> Server::Impl::builtin(RequestContext& ctx) const {
  const auto method = ctx.request.method();
  if (method != http::verb::get && method != http::verb::head) {
    if (ctx.path != "/healthz" && ctx.path != "/readyz" && ctx.path != "/metrics") return std::nullopt;
    if (ctx.path == "/metrics" && !metrics_readers.contains(ctx.client)) return std::nullopt;
    ctx.route = ctx.path;
    auto res = problem_response(http::status::method_not_allowed, "Method Not Allowed",
                                std::string(ctx.request.method_string()) + " is not allowed on " + ctx.path + ".");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (ctx.path == "/healthz") {
    ctx.route = "/healthz";
    return json_response(http::status::ok, {{"status", "ok"}});
  }
  if (ctx.path == "/readyz") {
    ctx.route = "/readyz";
    if (draining) return problem_response(http::status::service_unavailable, "Not Ready", "The server is shutting down.");
    if (!ready) return problem_response(http::status::service_unavailable, "Not Ready", "The server is starting.");
    return json_response(http::status::ok, {{"status", "ready"}});
  }
  // Figures of the server's load are not for everyone: elsewhere /metrics does not exist.
  if (ctx.path == "/metrics" && metrics_readers.contains(ctx.client)) {
    ctx.route = "/metrics";
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = metrics->render();
    return res;
  }
  return std::nullopt;
}

asio::awaitable<void> Server::Impl::listen() {
  asio::steady_timer backoff(strand);
  for (;;) {
    auto [ec, peer] = co_await acceptor.async_accept(asio::make_strand(ioc), use_tuple);
    if (ec) {
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: back off instead of spinning, and
      // say so once every 10 s with the count, not 20 lines a second.
      ++accept_failures;
      if (Clock::now() - accept_failure_logged > std::chrono::seconds(10)) {
        log({{"level", "error"}, {"msg", "accept failed"}, {"error", ec.message()}, {"failures", accept_failures}});
        accept_failures = 0;
        accept_failure_logged = Clock::now();
      }
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    if (draining) continue;  // accepted just before the acceptor closed: drop it
    auto tls_context = current_tls();
    tcp::socket socket(std::move(peer));
    error_code peer_ec;
    const auto endpoint = socket.remote_endpoint(peer_ec);
    std::string address = peer_ec ? std::string("?") : endpoint.address().to_string();
    std::shared_ptr<Connection> conn;
    const char* refused = nullptr;
    {
      std::lock_guard lock(mu);
      const auto held = per_address.find(address);
      if (connections.size() >= static_cast<std::size_t>(std::max(0, connection_cap))) {
        refused = "max_connections";
      } else if (cfg.max_connections_per_address > 0 && held != per_address.end() &&
                 held->second >= cfg.max_connections_per_address) {
        refused = "max_connections_per_address";
      } else {
        const auto id = next_id++;
        ++per_address[address];
        conn = make_session(*this, id, std::move(socket), std::move(address), tls_context);
        connections.emplace(id, conn);
      }
    }
    if (!conn) {
      auto ex = socket.get_executor();
      asio::co_spawn(ex, reject_busy(std::move(socket), refused, std::move(tls_context)),
                     log_failure(*this, "reject failed"));
      continue;
    }
    conn->start();
  }
}

// Over the connection cap: accept, answer 503 with Retry-After, close.
// Answering beats leaving clients in the backlog with no word. Over HTTPS
// the answer needs a handshake first (within the same 2 s): a client that
// cannot read it would only see a broken connection.
asio::awaitable<void> Server::Impl::reject_busy(tcp::socket socket, const char* reason, TlsContext tls_context) {
  if (tls_context) {
    TlsStream stream(std::move(socket), *tls_context);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
    if (!ec) co_await answer_busy(stream);
  } else {
    beast::tcp_stream stream(std::move(socket));
    co_await answer_busy(stream);
  }
  log({{"level", "warn"}, {"msg", "connection refused"}, {"reason", reason}});
}

asio::awaitable<void> Server::Impl::shutdown() {
  draining = true;
  error_code ec;
  acceptor.close(ec);
  if (signals) signals->cancel(ec);
  log({{"level", "info"}, {"msg", "server draining"}, {"open_connections", open_connections()}});

  auto each_connection = [this](auto action) {
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard lock(mu);
      for (auto& [id, weak] : connections)
        if (auto c = weak.lock()) live.push_back(std::move(c));
    }
    for (auto& c : live) asio::post(c->executor(), [c, action] { action(*c); });
  };
  each_connection([](Connection& c) { c.drain(); });

  asio::steady_timer tick(strand);
  auto wait_until_closed = [&](Clock::time_point deadline) -> asio::awaitable<void> {
    while (open_connections() > 0 && Clock::now() < deadline) {
      tick.expires_after(std::chrono::milliseconds(10));
      co_await tick.async_wait(use_tuple);
    }
  };
  co_await wait_until_closed(Clock::now() + cfg.shutdown_deadline);
  if (const auto left = open_connections(); left > 0) {
    log({{"level", "warn"}, {"msg", "shutdown deadline passed"}, {"force_closed", left}});
    each_connection([](Connection& c) { c.force_close(); });
    co_await wait_until_closed(Clock::now() + std::chrono::seconds(1));
  }
  drained.set_value();
}

// Every connection holds a descriptor. The soft limit is raised to the hard
// one, and the cap kept below it with room for the database, the log, files
// and the sockets being refused: past the cap a client is told 503; past the
// descriptor limit it would wait in the backlog with no answer at all.
int Server::Impl::connection_cap_within_descriptors() {
  constexpr rlim_t reserve = 128;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return cfg.max_connections;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY) return cfg.max_connections;
  const auto room = lim.rlim_cur > reserve + 16 ? lim.rlim_cur - reserve : 16;
  if (static_cast<rlim_t>(std::max(0, cfg.max_connections)) <= room) return cfg.max_connections;
  const int cap = static_cast<int>(std::min<rlim_t>(room, std::numeric_limits<int>::max()));
  log({{"level", "warn"},
       {"msg", "max_connections lowered to fit the descriptor limit"},
       {"asked", cfg.max_connections},
       {"cap", cap},
       {"descriptor_limit", static_cast<std::uint64_t>(lim.rlim_cur)}});
  return cap;
}

core::Status Server::Impl::start() {
  if (started) return core::Error::conflict("server already started");
  auto trusted = AddressSet::parse(cfg.trusted_proxies);
  if (!trusted) return core::Error::invalid("--trusted-proxy " + trusted.error().message);
  proxies = std::move(*trusted);
  auto scrapers = AddressSet::parse(cfg.metrics_from);
  if (!scrapers) return core::Error::invalid("--metrics-from " + scrapers.error().message);
  metrics_readers = std::move(*scrapers);
  if (cfg.tls_cert.empty() != cfg.tls_key.empty())
    return core::Error::invalid("TLS needs both a certificate chain (--tls-cert) and its private key (--tls-key)");
  if (serving_tls) {
    auto loaded = load_tls_context(cfg.tls_cert, cfg.tls_key);
    if (!loaded) return loaded.error();
    tls = std::move(*loaded);
    warn_if_key_exposed();
  }
  error_code ec;
  const auto address = asio::ip::make_address(cfg.address, ec);
  if (ec) return core::Error::invalid("bad listen address '" + cfg.address + "': " + ec.message());
  if (!serving_tls && !address.is_loopback())
    log({{"level", "warn"},
         {"msg", "plain HTTP on a non-loopback address: patient data would cross the network unencrypted; "
                 "serve TLS (--tls-cert, --tls-key) or bind to loopback behind a TLS proxy"},
         {"address", cfg.address}});
  const tcp::endpoint endpoint{address, cfg.port};
  auto fail = [&](const char* step) {
    error_code ignored;
    acceptor.close(ignored);
    return core::Error::unavailable(std::string("cannot ") + step + " " + cfg.address + ":" +
                                    std::to_string(cfg.port) + ": " + ec.message());
  };
  if (acceptor.open(endpoint.protocol(), ec); ec) return fail("open");
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) return fail("configure");
  if (acceptor.bind(endpoint, ec); ec) return fail("bind");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen on");
  port = acceptor.local_endpoint(ec).port();
  connection_cap = connection_cap_within_descriptors();

  work.emplace(ioc.get_executor());
  asio::co_spawn(strand, listen(), log_failure(*this, "listener failed"));
  for (int i = 0; i < io_thread_count; ++i)
    io_threads.emplace_back([this] {
      core::set_thread_role(core::ThreadRole::io);
      // Completions log their own exceptions; this is the last net.
      for (bool done = false; !done;)
        log_exceptions(*this, "io thread", [&] {
          ioc.run();
          done = true;
        });
    });
  for (int i = 0; i < compute_thread_count; ++i)
    compute_threads.emplace_back([this] {
      core::set_thread_role(core::ThreadRole::compute);
      compute.attach();
    });
  if (serving_tls) {
    std::lock_guard lock(mu);
    reload_callbacks.push_back([this] { reload_tls(); });
  }
  started = true;
  log({{"level", "info"},
       {"msg", "server started"},
       {"address", cfg.address},
       {"port", port},
       {"tls", serving_tls},
       {"io_threads", io_thread_count},
       {"compute_threads", compute_thread_count}});
  return core::ok_status();
}

// On reload (the compute pool): new connections get the certificate now in
// the files, open ones keep theirs; files that do not load change nothing.
void Server::Impl::reload_tls() {
  auto loaded = load_tls_context(cfg.tls_cert, cfg.tls_key);
  if (!loaded) {
    log({{"level", "error"},
         {"msg", "TLS reload failed; the previous certificate is still served"},
         {"error", loaded.error().message}});
    return;
  }
  warn_if_key_exposed();
  {
    std::lock_guard lock(tls_mu);
    tls = std::move(*loaded);
  }
  log({{"level", "info"}, {"msg", "TLS certificate reloaded"}, {"cert", cfg.tls_cert}});
}

void Server::Impl::warn_if_key_exposed() const {
  if (readable_by_others(cfg.tls_key))
    log({{"level", "warn"}, {"msg", "the TLS private key is readable by other users; chmod 600 it"}, {"file", cfg.tls_key}});
}

void Server::Impl::request_stop() {
  if (!started || stop_requested.exchange(true)) return;
  asio::co_spawn(strand, shutdown(), log_failure(*this, "shutdown failed"));
}

void Server::Impl::finish() {
  if (!started || finished) return;
  finished = true;
  drained_future.wait();
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(mu);
    callbacks = stop_callbacks;
  }
  for (auto& cb : callbacks) log_exceptions(*this, "on_stop callback failed", cb);
  work.reset();
  ioc.stop();
  for (auto& t : io_threads) t.join();
  compute.stop();
  for (auto& t : compute_threads) t.join();
  signals.reset();
  log({{"level", "info"}, {"msg", "server stopped"}});
}

Server::Server(ServerConfig config, std::shared_ptr<const Router> router, std::shared_ptr<Metrics> metrics)
    : impl_(std::make_unique<Impl>(std::move(config), router ? std::move(router) : std::make_shared<Router>(),
                                   std::move(metrics))) {}

Server::~Server() {
  impl_->request_stop();
  impl_->finish();
}

core::Status Server::start() { return impl_->start(); }
std::uint16_t Server::port() const noexcept { return impl_->port; }
asio::thread_pool& Server::compute() noexcept { return impl_->compute; }
Metrics& Server::metrics() noexcept { return *impl_->metrics; }
void Server::set_ready(bool ready) noexcept { impl_->ready = ready; }
void Server::stop() { impl_->request_stop(); }

void Server::on_stop(std::function<void()> callback) {
  std::lock_guard lock(impl_->mu);
  impl_->stop_callbacks.push_back(std::move(callback));
}

void Server::run() {
  if (!impl_->started) return;
  asio::post(impl_->strand, [impl = impl_.get()] {
    if (impl->stop_requested) return;
    impl->signals.emplace(impl->strand, SIGINT, SIGTERM, SIGHUP);
    impl->wait_for_signal();
  });
  impl_->finish();
}

void Server::Impl::wait_for_signal() {
  signals->async_wait([this](error_code ec, int signal) {
    if (ec) return;
    log({{"level", "info"}, {"msg", "signal received"}, {"signal", signal}});
    if (signal != SIGHUP) {
      request_stop();
      return;
    }
    reload();
    wait_for_signal();
  });
}

void Server::Impl::reload() {
  // Reloading reads files: blocking work, for the compute pool.
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(mu);
    callbacks = reload_callbacks;
  }
  // A failed reload is logged; an exception must not end the pool's thread.
  for (auto& cb : callbacks) asio::post(compute, [this, cb] { log_exceptions(*this, "reload failed", cb); });
}

void Server::reload() { impl_->reload(); }

void Server::on_reload(std::function<void()> callback) {
  std::lock_guard lock(impl_->mu);
  impl_->reload_callbacks.push_back(std::move(callback));
}

}  // namespace careloop::server
