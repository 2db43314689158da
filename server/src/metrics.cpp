#include "careloop/server/metrics.hpp"

#include <charconv>
#include <cmath>

namespace careloop::server {

const std::vector<double>& Metrics::duration_bounds() {
  static const std::vector<double> bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,   0.25,   0.5,   1,    2.5,   5,    10};
  return bounds;
}

Metrics::Metrics() = default;

void Metrics::observe_request(std::string_view route, std::string_view method, unsigned status, double seconds) {
  const auto& bounds = duration_bounds();
  std::size_t bucket = 0;
  while (bucket < bounds.size() && seconds > bounds[bucket]) ++bucket;
  // One short critical section per request; contention is far below the
  // cost of the request itself at the rates one SQLite writer allows.
  std::lock_guard lock(mu_);
  ++requests_[{std::string(route), std::string(method), status}];
  auto it = durations_.find(route);
  if (it == durations_.end())
    it = durations_.emplace(std::string(route), Histogram{std::vector<std::uint64_t>(bounds.size() + 1), 0, 0}).first;
  ++it->second.counts[bucket];
  it->second.sum += seconds;
  ++it->second.count;
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mu_);
  gauges_.push_back({std::move(name), std::move(help), std::move(read)});
}

void Metrics::add_collector(std::function<void(std::string&)> collect) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc{} ? std::string(buf, end) : "NaN";
}

std::string Metrics::render() const {
  std::string out;
  // Copy the extension lists, then call them unlocked: a collector may be
  // slow (it asks the store) and must not block request accounting.
  std::vector<Gauge> gauges;
  std::vector<std::function<void(std::string&)>> collectors;
  {
    std::lock_guard lock(mu_);
    out += "# HELP http_requests_total HTTP requests answered, by route pattern, method and status.\n";
    out += "# TYPE http_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
      const auto& [route, method, status] = key;
      out += "http_requests_total{route=\"" + escape_label(route) + "\",method=\"" + escape_label(method) +
             "\",status=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
    }
    out += "# HELP http_request_duration_seconds Time from request header to response written, by route pattern.\n";
    out += "# TYPE http_request_duration_seconds histogram\n";
    const auto& bounds = duration_bounds();
    for (const auto& [route, h] : durations_) {
      const auto label = "route=\"" + escape_label(route) + "\"";
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += h.counts[i];
        const auto le = i < bounds.size() ? format_value(bounds[i]) : std::string("+Inf");
        out += "http_request_duration_seconds_bucket{" + label + ",le=\"" + le + "\"} " +
               std::to_string(cumulative) + "\n";
      }
      out += "http_request_duration_seconds_sum{" + label + "} " + format_value(h.sum) + "\n";
      out += "http_request_duration_seconds_count{" + label + "} " + std::to_string(h.count) + "\n";
    }
    gauges = gauges_;
    collectors = collectors_;
  }
  out += "# HELP http_open_connections Client connections open now.\n";
  out += "# TYPE http_open_connections gauge\n";
  out += "http_open_connections " + std::to_string(open_connections()) + "\n";
  for (const auto& g : gauges) {
    out += "# HELP " + g.name + " " + g.help + "\n";
    out += "# TYPE " + g.name + " gauge\n";
    out += g.name + " " + format_value(g.read()) + "\n";
  }
  for (const auto& c : collectors) c(out);
  return out;
}

}  // namespace careloop::server
