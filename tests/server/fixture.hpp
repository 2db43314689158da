#pragma once
// What the server tests share: a server on an ephemeral loopback port with
// test routes (Fixture), a small blocking Beast client (Client).
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "careloop/core/thread_role.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "careloop/server/server.hpp"

namespace careloop::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using http::status;
using http::verb;
using Clock = std::chrono::steady_clock;


struct Reply {
  http::response<http::string_body> res;
  nlohmann::json json() const { return nlohmann::json::parse(res.body()); }
  unsigned status() const { return res.result_int(); }
};

// A blocking client on one connection.
class Client {
 public:
  explicit Client(std::uint16_t port, const char* from = nullptr) : socket_(ioc_) {
    if (from) {
      // Another loopback address stands for another client machine.
      socket_.open(asio::ip::tcp::v4());
      socket_.bind({asio::ip::make_address(from), 0});
    }
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }

  void send(http::request<http::string_body> req) {
    req.set(http::field::host, "127.0.0.1");
    req.prepare_payload();
    http::write(socket_, req);
  }
  void send_raw(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  Reply read() {
    Reply r;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    http::read(socket_, buffer_, parser);
    r.res = parser.release();
    return r;
  }

  Reply request(verb method, std::string target, std::string body = {}, std::string content_type = {}) {
    http::request<http::string_body> req{method, target, 11};
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.body() = std::move(body);
    send(std::move(req));
    return read();
  }
  Reply get(std::string target) { return request(verb::get, std::move(target)); }

  // True when the server has closed its side (a read sees EOF or a reset).
  bool closed_by_server() {
    char c;
    beast::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

  tcp::socket& socket() { return socket_; }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

// A server on an ephemeral port with test routes, run on its own thread.
struct Fixture {
  explicit Fixture(server::ServerConfig cfg = {}) {
    cfg.address = "127.0.0.1";
    cfg.port = 0;
    cfg.io_threads = 2;
    cfg.compute_threads = 2;
    cfg.log_sink = [this](std::string_view line) {
      std::lock_guard lock(log_mu);
      log.emplace_back(line);
    };
    add_routes();
    srv = std::make_unique<server::Server>(cfg, router, metrics);
    auto started = srv->start();
    REQUIRE(started.ok());
    srv->set_ready(true);
    runner = std::thread([this] { srv->run(); });
  }
  ~Fixture() { shutdown(); }

  void shutdown() {
    if (!runner.joinable()) return;
    srv->stop();
    runner.join();
  }

  std::uint16_t port() const { return srv->port(); }

  std::vector<nlohmann::json> log_lines() {
    std::lock_guard lock(log_mu);
    std::vector<nlohmann::json> out;
    for (const auto& l : log) out.push_back(nlohmann::json::parse(l));
    return out;
  }
  // The line is written after the response, so the client may read first: wait a little.
  std::optional<nlohmann::json> log_of(const std::string& request_id) {
    for (auto deadline = Clock::now() + 2s; Clock::now() < deadline; std::this_thread::sleep_for(5ms))
      for (auto& l : log_lines())
        if (l.value("request_id", "") == request_id) return l;
    return std::nullopt;
  }

  void add_routes() {
    using Ctx = server::RequestContext;
    using Res = asio::awaitable<server::Response>;
    router->add(verb::get, "/items/{id}", [](Ctx& ctx) -> Res {
      co_return server::json_response(status::ok, {{"id", ctx.param("id")}});
    });
    router->add(verb::post, "/echo", [](Ctx& ctx) -> Res {
      auto body = server::parse_json_body(ctx.request);
      if (!body) co_return body.problem();
      co_return server::json_response(status::ok, *body);
    });
    router->add(verb::get, "/boom", [](Ctx&) -> Res {
      throw std::runtime_error("handler bug");
      co_return server::Response{};
    });
    router->add(verb::get, "/slow", [this](Ctx&) -> Res {
      slow_started = true;
      co_await server::offload(srv->compute(), [] { std::this_thread::sleep_for(500ms); });
      co_return server::json_response(status::ok, {{"slept_ms", 500}});
    });
    router->add(verb::get, "/where", [this](Ctx&) -> Res {
      auto before = core::thread_role();
      auto inside = co_await server::offload(srv->compute(), [] { return core::thread_role(); });
      auto after = core::thread_role();
      auto role = [](core::ThreadRole r) { return r == core::ThreadRole::io ? "io" : r == core::ThreadRole::compute ? "compute" : "other"; };
      co_return server::json_response(status::ok, {{"before", role(before)}, {"inside", role(inside)}, {"after", role(after)}});
    });
    router->add(verb::get, "/events", [](Ctx& ctx) -> Res {
      ctx.stream = [](server::StreamWriter& out) -> asio::awaitable<void> {
        asio::steady_timer pace(out.executor());
        for (int i = 1; i <= 3; ++i) {
          if (auto ec = co_await out.write(server::sse_event("{\"n\":" + std::to_string(i) + "}", "tick", std::to_string(i))))
            co_return;
          pace.expires_after(20ms);
          co_await pace.async_wait(asio::use_awaitable);
        }
      };
      server::Response res{status::ok, 11};
      res.set(http::field::content_type, "text/event-stream");
      res.set(http::field::cache_control, "no-cache");
      co_return res;
    });
    // A live stream that never ends by itself, like the clinic's alert feed.
    router->add(verb::get, "/events/live", [](Ctx& ctx) -> Res {
      ctx.stream = [](server::StreamWriter& out) -> asio::awaitable<void> {
        asio::steady_timer pace(out.executor());
        while (!out.stopping()) {
          if (auto ec = co_await out.write(server::sse_event("ping"))) co_return;
          pace.expires_after(20ms);
          co_await pace.async_wait(asio::use_awaitable);
        }
      };
      server::Response res{status::ok, 11};
      res.set(http::field::content_type, "text/event-stream");
      co_return res;
    });
  }

  std::shared_ptr<server::Router> router = std::make_shared<server::Router>();
  std::shared_ptr<server::Metrics> metrics = std::make_shared<server::Metrics>();
  std::unique_ptr<server::Server> srv;
  std::thread runner;
  std::atomic<bool> slow_started{false};
  std::mutex log_mu;
  std::vector<std::string> log;
};

inline void check_problem(const Reply& r, unsigned expected) {
  CHECK(r.status() == expected);
  CHECK(r.res[http::field::content_type] == "application/problem+json");
  auto j = r.json();
  CHECK(j["status"] == expected);
  CHECK(j.contains("type"));
  CHECK(j.contains("title"));
  CHECK(j.contains("detail"));
}

inline std::string header_only(std::string_view method_and_target, std::string_view extra = {}) {
  return std::string(method_and_target) + " HTTP/1.1\r\nHost: x\r\n" + std::string(extra) + "\r\n";
}


}  // namespace careloop::testing
