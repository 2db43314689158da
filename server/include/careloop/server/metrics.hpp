#pragma once
// A small Prometheus registry (text exposition format 0.0.4) for /metrics:
// the server's own request figures plus whatever the application adds
// (writer queue depth, commit batch histograms from the store).
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace careloop::server {

class Metrics {
 public:
  Metrics();

  // One finished request: http_requests_total{route,method,status} and
  // http_request_duration_seconds{route}. `route` is the matched pattern
  // (bounded cardinality), never the raw path.
  void observe_request(std::string_view route, std::string_view method, unsigned status,
                       double seconds);
  void connection_opened() noexcept { open_connections_.fetch_add(1, std::memory_order_relaxed); }
  void connection_closed() noexcept { open_connections_.fetch_sub(1, std::memory_order_relaxed); }
  std::int64_t open_connections() const noexcept { return open_connections_.load(std::memory_order_relaxed); }

  // A gauge read when /metrics is scraped. `name` must be a valid metric name.
  void add_gauge(std::string name, std::string help, std::function<double()> read);
  // Appends complete metric families (HELP, TYPE, samples) to `out`.
  void add_collector(std::function<void(std::string& out)> collect);

  std::string render() const;

  static const std::vector<double>& duration_bounds();

 private:
  struct Histogram {
    std::vector<std::uint64_t> counts;  // per bound, not cumulative; last = +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct Gauge {
    std::string name, help;
    std::function<double()> read;
  };

  mutable std::mutex mu_;  // guards the maps and the extension lists
  std::map<std::tuple<std::string, std::string, unsigned>, std::uint64_t> requests_;
  std::map<std::string, Histogram, std::less<>> durations_;
  std::vector<Gauge> gauges_;
  std::vector<std::function<void(std::string&)>> collectors_;
  std::atomic<std::int64_t> open_connections_{0};
};

// Escapes a label value: backslash, double quote and newline.
std::string escape_label(std::string_view value);
// Formats a sample value the way Prometheus reads it (+Inf, NaN, shortest).
std::string format_value(double v);

}  // namespace careloop::server
