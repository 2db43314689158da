// A child `careloop serve` is killed with SIGKILL while readings are being
// committed; after reopening, every acknowledged reading is there exactly
// once and the database passes its integrity check.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "careloop/store/sqlite.hpp"
#include "child_process.hpp"
#include "http_client.hpp"
#include "temp_dir.hpp"

using namespace careloop::testing;
using nlohmann::json;

namespace {

const std::string bin = CARELOOP_BIN;

std::string uuid(std::mt19937_64& rng) {
  char buf[40];
  const auto a = rng(), b = rng();
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xFFFF), static_cast<unsigned>(a & 0xFFF),
                static_cast<unsigned>(b >> 52), static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
  return buf;
}

struct Server {
  std::unique_ptr<ChildProcess> child;
  int port = 0;
};

Server start_server(const TempDir& dir, const std::string& db, int round) {
  Server s;
  const auto log = dir.file("serve-" + std::to_string(round) + ".log");
  s.child = std::make_unique<ChildProcess>(
      std::vector<std::string>{bin, "--db", db, "serve", "--port", "0", "--io-threads", "2", "--compute-threads", "2"}, log);
  const auto line = s.child->wait_for_line("serving", std::chrono::seconds(20));
  REQUIRE(!line.empty());
  s.port = port_from_serving_line(line);
  REQUIRE(s.port > 0);
  return s;
}

std::string login(int port) {
  HttpClient c("127.0.0.1", static_cast<unsigned short>(port));
  auto r = c.post_json("/api/v1/auth/login", {{"username", "patient01"}, {"password", "demo-patient"}});
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return r->json().at("token").get<std::string>();
}

}  // namespace

TEST_CASE("SIGKILL during commits loses no acknowledged reading") {
  TempDir dir("crash");
  const auto db = dir.file("crash.db");
  auto demo = run_command({bin, "--db", db, "demo", "--patients", "10", "--clinics", "1", "--days", "3", "--end-date", "2026-11-01"});
  REQUIRE(demo.exit_code == 0);

  std::mutex m;
  std::set<std::string> acknowledged;
  std::int64_t readings_before = 0;
  std::int64_t patient_id = 0;
  {
    careloop::store::SqliteOptions o;
    o.path = db;
    auto st = careloop::store::open_sqlite(o);
    REQUIRE(st.ok());
    readings_before = (*st)->count_readings();
    patient_id = *(*st)->user_by_username("patient01")->patient_id;
  }

  for (int round = 0; round < 3; ++round) {
    auto server = start_server(dir, db, round);
    const auto token = login(server.port);
    std::atomic<bool> stop{false};
    std::atomic<int> acked_this_round{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        std::mt19937_64 rng(static_cast<std::uint64_t>(round * 100 + w + 1));
        HttpClient client("127.0.0.1", static_cast<unsigned short>(server.port));
        int minute = 0;
        while (!stop) {
          json batch = json::array();
          std::vector<std::string> ids;
          const int n = 1 + static_cast<int>(rng() % 40);
          for (int i = 0; i < n; ++i) {
            ids.push_back(uuid(rng));
            // Distinct instants per writer and round, so no two readings are content duplicates.
            char when[40];
            const int m_total = ++minute;
            std::snprintf(when, sizeof when, "2026-0%d-%02dT%02d:%02d:%02dZ", 1 + round, 1 + w, m_total / 3600 % 24,
                          m_total / 60 % 60, m_total % 60);
            batch.push_back({{"client_id", ids.back()}, {"kind", "blood_pressure"}, {"taken_at", when},
                             {"systolic", 120 + static_cast<int>(rng() % 40)}, {"diastolic", 80}, {"unit", "mmHg"}});
          }
          auto r = client.post_json("/api/v1/me/readings", {{"readings", batch}}, token);
          if (!r) break;  // the server is gone
          if (r->status != 200) continue;
          const auto results = r->json().at("results");
          std::lock_guard lock(m);
          for (std::size_t i = 0; i < results.size(); ++i) {
            const auto status = results[i].at("status").get<std::string>();
            if (status == "created" || status == "duplicate") {
              acknowledged.insert(ids[i]);
              ++acked_this_round;
            }
          }
        }
      });
    }
    // Let writes flow, then kill the server in the middle of them.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (acked_this_round < 300 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + round * 50));
    server.child->signal(SIGKILL);
    CHECK(server.child->wait(std::chrono::seconds(10)) == 128 + SIGKILL);
    stop = true;
    for (auto& t : writers) t.join();
    CHECK(acked_this_round >= 300);
  }

  careloop::store::SqliteOptions o;
  o.path = db;
  auto st = careloop::store::open_sqlite(o);
  REQUIRE(st.ok());
  CHECK((*st)->integrity_check().ok());
  careloop::store::ReadingQuery q;
  q.patient_id = patient_id;
  q.limit = 1'000'000;
  std::set<std::string> stored;
  std::size_t rows = 0;
  for (const auto& r : (*st)->readings(q)) {
    stored.insert(r.client_id);
    ++rows;
  }
  CHECK(rows == stored.size());  // nothing stored twice
  std::size_t missing = 0;
  for (const auto& id : acknowledged) missing += stored.count(id) == 0;
  CHECK(missing == 0);
  INFO("acknowledged " << acknowledged.size() << ", readings before " << readings_before);
  CHECK(acknowledged.size() >= 900);
}
