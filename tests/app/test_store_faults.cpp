// A full disk under a running server (issue 15, item 4): the files may grow
// no further (RLIMIT_FSIZE set on the child, as a small filesystem would),
// uploads are answered 503 with Retry-After, the SQLite error is logged at
// error and counted in /metrics; once there is room again the same server
// stores readings, and after a SIGKILL every acknowledged reading is there.
#define CATCH_CONFIG_MAIN
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "demo_server.hpp"

using namespace careloop::testing;
using namespace careloop::testing::demo;

namespace {

void limit_file_size(int pid, rlim_t bytes) {
  struct rlimit lim {};
  REQUIRE(prlimit(pid, RLIMIT_FSIZE, nullptr, &lim) == 0);
  lim.rlim_cur = bytes;
  REQUIRE(prlimit(pid, RLIMIT_FSIZE, &lim, nullptr) == 0);
}

std::uintmax_t size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

// A batch of heart rates taken in the last days, each with a new client id.
json batch(Fixture& f, int n, std::vector<std::string>& client_ids) {
  json readings = json::array();
  for (int i = 0; i < n; ++i) {
    client_ids.push_back(f.uuid());
    readings.push_back({{"client_id", client_ids.back()}, {"kind", "heart_rate"}, {"value", 60 + i % 40},
                        {"unit", "/min"}, {"taken_at", minutes_ago(30 + (f.serial % 5000))},
                        {"note", std::string(200, 'n')}});
  }
  return {{"readings", readings}};
}

// The value of one Prometheus sample, 0 when absent.
double counter(const std::string& text, const std::string& sample) {
  const auto at = text.find(sample + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + sample.size() + 1));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("a full disk answers 503 with Retry-After, logs and counts the cause, and recovers without a restart") {
  Fixture f;
  const auto db_size = size_or_zero(f.db);
  const auto wal_size = size_or_zero(f.db + "-wal");
  limit_file_size(f.child->pid(), std::max(db_size, wal_size) + 256 * 1024);

  std::map<std::int64_t, std::string> acknowledged;  // reading id -> client id
  std::vector<std::string> refused_ids;
  HttpResult refused;
  for (int round = 0; round < 400 && refused.status == 0; ++round) {
    std::vector<std::string> ids;
    const auto r = f.post("/api/v1/me/readings", batch(f, 200, ids), "patient", "application/json");
    if (r.status == 200) {
      const auto results = r.json().at("results");
      for (std::size_t i = 0; i < results.size(); ++i)
        if (results[i].at("status") != "rejected") acknowledged[results[i].at("id").get<std::int64_t>()] = ids[i];
    } else {
      refused = r;
      refused_ids = ids;
    }
  }
  INFO(refused.body);
  REQUIRE(refused.status == 503);
  CHECK_FALSE(std::string(refused.headers[boost::beast::http::field::retry_after]).empty());
  CHECK(content_type(refused) == "application/problem+json");
  CHECK_FALSE(acknowledged.empty());

  // The cause at error level in the log, and counted.
  const auto log = read_file(f.dir.file("serve.log"));
  CHECK_THAT(log, Catch::Contains("\"level\":\"error\"") &&
                      (Catch::Contains("disk is full") || Catch::Contains("disk I/O error")));
  const auto metrics = f.get("/metrics", "");
  INFO(metrics.body);
  CHECK(counter(metrics.body, "careloop_store_errors_total{kind=\"full\"}") +
            counter(metrics.body, "careloop_store_errors_total{kind=\"io\"}") >= 1);

  // Room again: the same server stores the next upload.
  limit_file_size(f.child->pid(), RLIM_INFINITY);
  std::vector<std::string> ids;
  const auto after = f.post("/api/v1/me/readings", batch(f, 50, ids), "patient", "application/json");
  INFO(after.body.substr(0, 300));
  REQUIRE(after.status == 200);
  const auto results = after.json().at("results");
  for (std::size_t i = 0; i < results.size(); ++i) {
    CHECK(results[i].at("status") == "created");
    acknowledged[results[i].at("id").get<std::int64_t>()] = ids[i];
  }

  // Killed without warning: every acknowledged reading is stored under the
  // id it was acknowledged with, and nothing of the refused upload is.
  f.child->signal(SIGKILL);
  f.child->wait(std::chrono::seconds(10));
  for (const auto& [id, client_id] : acknowledged) {
    const auto r = f.st->reading(id);
    REQUIRE(r.ok());
    CHECK(r->client_id == client_id);
  }
  store::ReadingQuery q;
  q.patient_id = f.patient_id;
  q.limit = 1'000'000;
  std::set<std::string> stored;
  for (const auto& r : f.st->readings(q)) stored.insert(r.client_id);
  for (const auto& cid : refused_ids) CHECK_FALSE(stored.contains(cid));
}
