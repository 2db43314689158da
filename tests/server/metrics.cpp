#include "careloop/server/metrics.hpp"

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

using namespace careloop;

namespace {
bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}
}  // namespace

TEST_CASE("metrics render the Prometheus text format", "[metrics]") {
  server::Metrics m;
  m.observe_request("/api/v1/patients/{id}", "GET", 200, 0.003);
  m.observe_request("/api/v1/patients/{id}", "GET", 200, 0.2);
  m.observe_request("/api/v1/patients/{id}", "GET", 404, 20.0);
  m.connection_opened();
  m.add_gauge("careloop_writer_queue_depth", "Write jobs waiting", [] { return 3.0; });
  m.add_collector([](std::string& out) { out += "# HELP x_total X\n# TYPE x_total counter\nx_total 1\n"; });
  const auto text = m.render();

  CHECK(has_line(text, "# HELP http_requests_total HTTP requests answered, by route pattern, method and status."));
  CHECK(has_line(text, "# TYPE http_requests_total counter"));
  CHECK(has_line(text, R"(http_requests_total{route="/api/v1/patients/{id}",method="GET",status="200"} 2)"));
  CHECK(has_line(text, R"(http_requests_total{route="/api/v1/patients/{id}",method="GET",status="404"} 1)"));
  CHECK(has_line(text, "# TYPE http_request_duration_seconds histogram"));
  CHECK(has_line(text, R"(http_request_duration_seconds_bucket{route="/api/v1/patients/{id}",le="0.005"} 1)"));
  CHECK(has_line(text, R"(http_request_duration_seconds_bucket{route="/api/v1/patients/{id}",le="0.25"} 2)"));
  CHECK(has_line(text, R"(http_request_duration_seconds_bucket{route="/api/v1/patients/{id}",le="10"} 2)"));
  CHECK(has_line(text, R"(http_request_duration_seconds_bucket{route="/api/v1/patients/{id}",le="+Inf"} 3)"));
  CHECK(has_line(text, R"(http_request_duration_seconds_count{route="/api/v1/patients/{id}"} 3)"));
  CHECK(has_line(text, R"(http_request_duration_seconds_sum{route="/api/v1/patients/{id}"} 20.203)"));
  CHECK(has_line(text, "# TYPE http_open_connections gauge"));
  CHECK(has_line(text, "http_open_connections 1"));
  CHECK(has_line(text, "# TYPE careloop_writer_queue_depth gauge"));
  CHECK(has_line(text, "careloop_writer_queue_depth 3"));
  CHECK(has_line(text, "x_total 1"));
  CHECK(text.back() == '\n');
}

TEST_CASE("metrics escape label values", "[metrics]") {
  CHECK(server::escape_label("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  CHECK(server::format_value(1.0 / 0.0) == "+Inf");
  CHECK(server::format_value(0.25) == "0.25");
}

TEST_CASE("metrics count correctly from many threads", "[metrics]") {
  server::Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) m.observe_request("/r", "GET", 200, 0.001);
    });
  for (auto& t : threads) t.join();
  CHECK(has_line(m.render(), R"(http_requests_total{route="/r",method="GET",status="200"} 40000)"));
}
