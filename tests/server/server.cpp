// The server over real loopback sockets: one server per fixture on an
// ephemeral port, a small blocking Beast client, torn down after each test.
#include <sys/resource.h>

#include <algorithm>

#include "fixture.hpp"

using namespace careloop;
using namespace careloop::testing;

TEST_CASE("server answers a route with JSON and the standard headers", "[server]") {
  Fixture f;
  Client c(f.port());
  auto r = c.get("/items/7");
  CHECK(r.status() == 200);
  CHECK(r.json()["id"] == "7");
  CHECK(r.res[http::field::server] == "careloop");
  CHECK(r.res[http::field::content_length] == std::to_string(r.res.body().size()));
  CHECK_FALSE(r.res["X-Request-Id"].empty());
}

TEST_CASE("server answers 404 and 405 as problem+json", "[server]") {
  Fixture f;
  Client c(f.port());
  check_problem(c.get("/nope"), 404);
  auto r = c.request(verb::delete_, "/items/7");
  check_problem(r, 405);
  CHECK(r.res[http::field::allow] == "GET, HEAD");
}

TEST_CASE("server answers 405 with Allow to another method on /healthz, /readyz and /metrics", "[server][ops]") {
  Fixture f;
  Client c(f.port());
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    INFO(path);
    for (auto method : {verb::delete_, verb::post, verb::put}) {
      auto r = c.request(method, path);
      check_problem(r, 405);
      CHECK(r.res[http::field::allow] == "GET, HEAD");
    }
  }
}

TEST_CASE("server names the field of a string that is not UTF-8 with a 422", "[server]") {
  Fixture f;
  Client c(f.port());
  const std::vector<std::pair<std::string, std::string>> cases{
      {"{\"a\": {\"b\": [1, \"x\xe6\xac\"]}}", "/a/b/1"},
      {"{\"ok\": \"\xe8\xa1\x80\", \"no~/te\": \"\xc0\xaf\"}", "/no~0~1te"},
      {"[\"\xed\xa0\x80\"]", "/0"},
      {"{\"a\": \"\\ud800\"}", "/a"},
      {"\"\xff\"", ""},
  };
  for (const auto& [body, pointer] : cases) {
    INFO(body);
    auto r = c.request(verb::post, "/echo", body, "application/json");
    check_problem(r, 422);
    const auto j = nlohmann::json::parse(r.res.body());
    REQUIRE(j["errors"].size() == 1);
    CHECK(j["errors"][0]["pointer"] == pointer);
  }
  // A member name that is not UTF-8 is named by its object.
  auto r = c.request(verb::post, "/echo", "{\"a\": {\"\xff\": 1}}", "application/json");
  check_problem(r, 422);
  CHECK(nlohmann::json::parse(r.res.body())["errors"][0]["pointer"] == "/a");
}

TEST_CASE("server refuses a decoded query parameter that is not UTF-8 with a 422 naming it, and reads an unencoded bar", "[server]") {
  Fixture f;
  Client c(f.port());
  auto r = c.get("/items/7?q=%E6%AC");
  check_problem(r, 422);
  CHECK(nlohmann::json::parse(r.res.body())["errors"][0]["pointer"] == "/query/q");
  CHECK(c.get("/items/7?code=http://loinc.org|85354-9").status() == 200);
}

TEST_CASE("server refuses malformed JSON with 400 and a wrong media type with 415", "[server]") {
  Fixture f;
  Client c(f.port());
  auto bad = c.request(verb::post, "/echo", "{\"a\": [1, 2", "application/json");
  check_problem(bad, 400);
  CHECK(bad.json()["detail"].get<std::string>().find("byte") != std::string::npos);
  check_problem(c.request(verb::post, "/echo", "a=1", "application/x-www-form-urlencoded"), 415);
  auto ok = c.request(verb::post, "/echo", R"({"a":1})", "application/json");
  CHECK(ok.status() == 200);
  CHECK(ok.json()["a"] == 1);
}

TEST_CASE("server answers 413 to a body over the limit", "[server][limits]") {
  Fixture f;
  SECTION("announced by Content-Length") {
    Client c(f.port());
    auto r = c.request(verb::post, "/echo", std::string((1 << 20) + 100, 'x'), "application/json");
    check_problem(r, 413);
    CHECK(r.res[http::field::connection] == "close");
  }
  SECTION("found while reading a chunked body") {
    Client c(f.port());
    std::string raw = header_only("POST /echo", "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n");
    const std::string chunk(64 * 1024, 'x');
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
    for (int i = 0; i < 20; ++i) raw += size + chunk + "\r\n";
    raw += "0\r\n\r\n";
    c.send_raw(raw);
    check_problem(c.read(), 413);
  }
}

TEST_CASE("server answers 408 to a header that does not arrive in time", "[server][limits]") {
  server::ServerConfig cfg;
  cfg.header_timeout = 300ms;
  Fixture f(cfg);
  SECTION("half a header") {
    Client c(f.port());
    c.send_raw("GET /items/1 HTTP/1.1\r\nHost: x\r\nX-Half: ");
    const auto t0 = Clock::now();
    auto r = c.read();
    check_problem(r, 408);
    CHECK(Clock::now() - t0 < 2s);
    CHECK(c.closed_by_server());
  }
  SECTION("nothing at all") {
    Client c(f.port());
    check_problem(c.read(), 408);
  }
}

TEST_CASE("server answers 431 to a header over the limit", "[server][limits]") {
  Fixture f;
  Client c(f.port());
  c.send_raw(header_only("GET /items/1", "X-Big: " + std::string(20 * 1024, 'a') + "\r\n"));
  check_problem(c.read(), 431);
}

TEST_CASE("server answers 400 to malformed HTTP", "[server][limits]") {
  Fixture f;
  Client c(f.port());
  c.send_raw("GARBAGE\x01 / HTTP/9.9\r\n\r\n");
  check_problem(c.read(), 400);
}

TEST_CASE("server refuses a transfer coding whose last is not chunked with 400 and closes", "[server][limits]") {
  Fixture f;
  for (const char* coding : {"chunked, identity", "identity", "gzip"}) {
    INFO(coding);
    Client c(f.port());
    // Read as no body, the bytes after the header would be taken for a second request.
    c.send_raw(header_only("POST /echo", std::string("Content-Type: application/json\r\nTransfer-Encoding: ") + coding +
                                             "\r\n") +
               "GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.read();
    check_problem(r, 400);
    CHECK(r.res[http::field::connection] == "close");
  }
}

TEST_CASE("server keeps a connection alive across requests", "[server]") {
  Fixture f;
  Client c(f.port());
  const auto local = c.socket().local_endpoint();
  CHECK(c.get("/items/1").json()["id"] == "1");
  CHECK(c.get("/items/2").json()["id"] == "2");
  CHECK(c.socket().local_endpoint() == local);
  SECTION("pipelined requests are answered in order") {
    c.send_raw(header_only("GET /items/a") + header_only("GET /items/b"));
    CHECK(c.read().json()["id"] == "a");
    CHECK(c.read().json()["id"] == "b");
  }
  SECTION("Connection: close is honoured") {
    http::request<http::string_body> req{verb::get, "/items/3", 11};
    req.keep_alive(false);
    c.send(req);
    auto r = c.read();
    CHECK(r.res[http::field::connection] == "close");
    CHECK(c.closed_by_server());
  }
}

TEST_CASE("server closes an idle keep-alive connection silently", "[server][limits]") {
  server::ServerConfig cfg;
  cfg.idle_timeout = 200ms;
  Fixture f(cfg);
  Client c(f.port());
  CHECK(c.get("/items/1").status() == 200);
  const auto t0 = Clock::now();
  CHECK(c.closed_by_server());  // EOF, no 408 written
  CHECK(Clock::now() - t0 < 2s);
}

TEST_CASE("server turns a handler exception into a 500 with an id in the log", "[server]") {
  Fixture f;
  Client c(f.port());
  auto r = c.get("/boom");
  check_problem(r, 500);
  const auto id = r.json()["request_id"].get<std::string>();
  CHECK(r.res["X-Request-Id"] == id);
  CHECK(r.json()["instance"] == "urn:careloop:request:" + id);
  auto line = f.log_of(id);
  REQUIRE(line);
  CHECK((*line)["status"] == 500);
  CHECK((*line)["error"] == "handler bug");
  CHECK((*line)["level"] == "error");
  // The server carries on.
  CHECK(c.get("/items/1").status() == 200);
}

TEST_CASE("server logs one JSON line per request, without the query", "[server][log]") {
  Fixture f;
  Client c(f.port());
  http::request<http::string_body> req{verb::get, "/items/9?token=secret", 11};
  req.set("X-Request-Id", "trace-abc.1");
  c.send(req);
  auto r = c.read();
  CHECK(r.res["X-Request-Id"] == "trace-abc.1");
  REQUIRE(f.log_of("trace-abc.1"));
  std::vector<nlohmann::json> lines;
  for (auto& l : f.log_lines())
    if (l.value("msg", "") == "request") lines.push_back(l);
  REQUIRE(lines.size() == 1);
  const auto& l = lines[0];
  CHECK(l["request_id"] == "trace-abc.1");
  CHECK(l["method"] == "GET");
  CHECK(l["path"] == "/items/9");
  CHECK(l["route"] == "/items/{id}");
  CHECK(l["status"] == 200);
  CHECK(l["bytes"].get<int>() > 0);
  CHECK(l["duration_ms"].is_number());
  CHECK(l["remote"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
  CHECK(l.contains("ts"));
  CHECK(l.dump().find("secret") == std::string::npos);
}

TEST_CASE("server answers /healthz, /readyz and /metrics", "[server][ops]") {
  Fixture f;
  Client c(f.port());
  auto health = c.get("/healthz");
  CHECK(health.status() == 200);
  CHECK(health.json()["status"] == "ok");
  CHECK(c.get("/readyz").status() == 200);
  f.srv->set_ready(false);
  check_problem(c.get("/readyz"), 503);
  f.srv->set_ready(true);

  c.get("/items/1");
  c.get("/nope");
  f.metrics->add_gauge("test_answer", "The answer", [] { return 42.0; });
  auto m = c.get("/metrics");
  CHECK(m.status() == 200);
  CHECK(m.res[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  const auto& text = m.res.body();
  CHECK(text.find("# TYPE http_requests_total counter") != std::string::npos);
  CHECK(text.find(R"(http_requests_total{route="/items/{id}",method="GET",status="200"} 1)") != std::string::npos);
  CHECK(text.find(R"(http_requests_total{route="unmatched",method="GET",status="404"} 1)") != std::string::npos);
  CHECK(text.find(R"(http_request_duration_seconds_count{route="/items/{id}"} 1)") != std::string::npos);
  CHECK(text.find("http_open_connections 1\n") != std::string::npos);
  CHECK(text.find("test_answer 42\n") != std::string::npos);
}

TEST_CASE("server answers /metrics only to the addresses a setting names, 404 elsewhere", "[server][ops]") {
  server::ServerConfig cfg;
  cfg.metrics_from = {"10.0.0.0/8", "127.0.0.2"};
  Fixture f(cfg);
  Client local(f.port());
  check_problem(local.get("/metrics"), 404);
  Client allowed(f.port(), "127.0.0.2");
  auto m = allowed.get("/metrics");
  CHECK(m.status() == 200);
  CHECK(m.res.body().find("http_requests_total") != std::string::npos);
  Client other(f.port());
  check_problem(other.request(verb::post, "/metrics"), 404);
}

TEST_CASE("server caps open connections with 503", "[server][limits]") {
  server::ServerConfig cfg;
  cfg.max_connections = 2;
  Fixture f(cfg);
  Client a(f.port()), b(f.port());
  CHECK(a.get("/items/1").status() == 200);
  CHECK(b.get("/items/2").status() == 200);
  {
    Client c(f.port());
    auto r = c.get("/items/3");
    check_problem(r, 503);
    CHECK(r.res[http::field::retry_after] == "1");
  }
  // A slot frees up when a connection closes.
  a.socket().close();
  std::this_thread::sleep_for(100ms);
  Client d(f.port());
  CHECK(d.get("/items/4").status() == 200);
}

TEST_CASE("server caps the connections of one address with 503, others still served", "[server][limits]") {
  server::ServerConfig cfg;
  cfg.max_connections_per_address = 2;
  Fixture f(cfg);
  Client a(f.port()), b(f.port());
  CHECK(a.get("/items/1").status() == 200);
  CHECK(b.get("/items/2").status() == 200);
  {
    Client c(f.port());
    auto r = c.get("/items/3");
    check_problem(r, 503);
    CHECK_FALSE(r.res[http::field::retry_after].empty());
  }
  Client elsewhere(f.port(), "127.0.0.2");
  CHECK(elsewhere.get("/items/4").status() == 200);
  a.socket().close();
  std::this_thread::sleep_for(100ms);
  Client again(f.port());
  CHECK(again.get("/items/5").status() == 200);
}

TEST_CASE("server lowers its connection cap to fit the descriptor limit, and says so", "[server][limits]") {
  // This test case runs in a process of its own (ctest runs each case alone).
  // Past the cap the answer is 503, as "server caps open connections with 503" shows.
  rlimit lim{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
  lim.rlim_cur = lim.rlim_max = 1024;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
  server::ServerConfig cfg;  // asks for 10,000
  Fixture f(cfg);
  bool said = false;
  for (const auto& l : f.log_lines())
    if (l.value("msg", "") == "max_connections lowered to fit the descriptor limit") {
      said = true;
      CHECK(l.value("asked", 0) == 10000);
      CHECK(l.value("cap", 0) == 1024 - 128);
      CHECK(l.value("descriptor_limit", 0) == 1024);
    }
  CHECK(said);
  Client c(f.port());
  CHECK(c.get("/items/1").status() == 200);
}

TEST_CASE("server streams a response through the SSE mechanism", "[server][sse]") {
  Fixture f;
  Client c(f.port());
  auto r = c.get("/events");
  CHECK(r.status() == 200);
  CHECK(r.res[http::field::content_type] == "text/event-stream");
  CHECK(r.res[http::field::transfer_encoding] == "chunked");
  CHECK(r.res.body() ==
        "id: 1\nevent: tick\ndata: {\"n\":1}\n\n"
        "id: 2\nevent: tick\ndata: {\"n\":2}\n\n"
        "id: 3\nevent: tick\ndata: {\"n\":3}\n\n");
  CHECK(c.closed_by_server());
}

TEST_CASE("server ends live streams promptly when it shuts down", "[server][sse][shutdown]") {
  Fixture f;  // shutdown_deadline 10 s: the stream must not hold shutdown that long
  Client c(f.port());
  c.send(http::request<http::string_body>{verb::get, "/events/live", 11});
  std::string seen;
  char buf[512];
  while (seen.find("data: ping") == std::string::npos) seen.append(buf, c.socket().read_some(asio::buffer(buf)));
  const auto t0 = Clock::now();
  f.shutdown();
  CHECK(Clock::now() - t0 < 2s);
  beast::error_code ec;
  while (!ec) c.socket().read_some(asio::buffer(buf), ec);
  CHECK((ec == asio::error::eof || ec == asio::error::connection_reset));
}

TEST_CASE("offload runs on a compute thread and comes back to an I/O thread", "[server][offload]") {
  Fixture f;
  Client c(f.port());
  auto j = c.get("/where").json();
  CHECK(j["before"] == "io");
  CHECK(j["inside"] == "compute");
  CHECK(j["after"] == "io");
}

TEST_CASE("server shuts down gracefully, finishing the request in flight", "[server][shutdown]") {
  Fixture f;
  bool stopped_callback = false;
  f.srv->on_stop([&] { stopped_callback = true; });
  Client idle(f.port());
  CHECK(idle.get("/items/1").status() == 200);
  Client busy(f.port());
  busy.send(http::request<http::string_body>{verb::get, "/slow", 11});
  while (!f.slow_started) std::this_thread::sleep_for(5ms);
  const auto t0 = Clock::now();
  f.srv->stop();

  auto r = busy.read();
  CHECK(r.status() == 200);
  CHECK(r.json()["slept_ms"] == 500);
  CHECK(r.res[http::field::connection] == "close");
  CHECK(idle.closed_by_server());
  f.runner.join();
  CHECK(stopped_callback);
  CHECK(Clock::now() - t0 < 5s);
  // No one listens any more.
  CHECK_THROWS(Client(f.port()));
}

TEST_CASE("server force-closes what outlives the shutdown deadline", "[server][shutdown]") {
  server::ServerConfig cfg;
  cfg.shutdown_deadline = 100ms;
  Fixture f(cfg);
  Client busy(f.port());
  busy.send(http::request<http::string_body>{verb::get, "/slow", 11});
  while (!f.slow_started) std::this_thread::sleep_for(5ms);
  const auto t0 = Clock::now();
  f.shutdown();
  CHECK(Clock::now() - t0 < 2s);
  CHECK(busy.closed_by_server());
}

TEST_CASE("server start reports a port in use and a TLS certificate it cannot load", "[server]") {
  Fixture f;
  server::ServerConfig same;
  same.port = f.port();
  same.log_sink = [](std::string_view) {};
  server::Server second(same, std::make_shared<server::Router>(), nullptr);
  auto s = second.start();
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find("bind") != std::string::npos);

  server::ServerConfig tls;
  tls.port = 0;
  tls.tls_cert = "cert.pem";
  tls.tls_key = "key.pem";
  tls.log_sink = same.log_sink;
  server::Server third(tls, std::make_shared<server::Router>(), nullptr);
  auto t = third.start();
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("TLS") != std::string::npos);
  CHECK(t.error().message.find("cert.pem") != std::string::npos);
}

TEST_CASE("server warns when plain HTTP listens beyond loopback", "[server]") {
  std::vector<std::string> lines;
  std::mutex mu;
  server::ServerConfig cfg;
  cfg.port = 0;
  cfg.log_sink = [&](std::string_view line) {
    std::lock_guard lock(mu);
    lines.emplace_back(line);
  };
  auto warned = [&] {
    std::lock_guard lock(mu);
    return std::any_of(lines.begin(), lines.end(),
                       [](const std::string& l) { return l.find("unencrypted") != std::string::npos; });
  };
  {
    server::Server local(cfg, std::make_shared<server::Router>(), nullptr);
    REQUIRE(local.start().ok());
  }
  CHECK_FALSE(warned());
  cfg.address = "0.0.0.0";
  server::Server open(cfg, std::make_shared<server::Router>(), nullptr);
  REQUIRE(open.start().ok());
  CHECK(warned());
}
