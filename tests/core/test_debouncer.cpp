// core::Debouncer: one run per burst of schedules, and its rule for failed
// runs (retry what may pass later, drop what cannot, nothing after stop).
#include <catch2/catch.hpp>

#include <boost/asio/post.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "careloop/core/debouncer.hpp"

using namespace careloop;
using namespace std::chrono_literals;

namespace {

struct Logs {
  std::mutex m;
  std::vector<std::string> lines;
  core::Debouncer::LogSink sink() {
    return [this](const std::string& l) {
      std::lock_guard lock(m);
      lines.push_back(l);
    };
  }
  std::size_t size() {
    std::lock_guard lock(m);
    return lines.size();
  }
};

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 5s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!p()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

core::DebouncerSettings quick(const char* name) { return {name, 20ms, 30ms, 3}; }

}  // namespace

TEST_CASE("a debouncer runs a patient once for a burst of schedules") {
  boost::asio::thread_pool pool(2);
  std::atomic<int> runs{0};
  core::Debouncer d(pool, quick("burst"), [&](std::int64_t) {
    ++runs;
    return core::ok_status();
  });
  for (int i = 0; i < 20; ++i) d.schedule(7);
  REQUIRE(eventually([&] { return runs.load() == 1; }));
  std::this_thread::sleep_for(150ms);
  CHECK(runs.load() == 1);
  CHECK(d.counts().done == 1);
  d.stop();
  pool.join();
}

TEST_CASE("a run that throws is caught, logged with its cause and retried with back-off until it passes") {
  boost::asio::thread_pool pool(1);
  Logs logs;
  std::atomic<int> runs{0};
  core::Debouncer d(pool, quick("flaky"), [&](std::int64_t) -> core::Status {
    if (++runs < 3) throw core::Failure(core::Errc::unavailable, "database is locked");
    return core::ok_status();
  }, logs.sink());
  d.schedule(1);
  REQUIRE(eventually([&] { return d.counts().done == 1; }));
  const auto c = d.counts();
  CHECK(c.failed == 2);
  CHECK(c.retried == 2);
  CHECK(c.dropped == 0);
  REQUIRE(logs.size() == 2);
  CHECK_THAT(logs.lines[0], Catch::Contains("\"level\":\"error\"") && Catch::Contains("database is locked") &&
                                Catch::Contains("\"job\":\"flaky\"") && Catch::Contains("retry in 30 ms"));
  CHECK_THAT(logs.lines[1], Catch::Contains("retry in 60 ms"));
  // The pool's thread is still there.
  std::promise<void> alive;
  boost::asio::post(pool, [&] { alive.set_value(); });
  CHECK(alive.get_future().wait_for(5s) == std::future_status::ready);
  d.stop();
  pool.join();
}

TEST_CASE("a run that keeps failing is dropped after max_attempts, one that cannot pass at once") {
  boost::asio::thread_pool pool(1);
  Logs logs;
  std::atomic<int> io_runs{0}, missing_runs{0};
  core::Debouncer io(pool, quick("io"), [&](std::int64_t) -> core::Status {
    ++io_runs;
    throw std::runtime_error("disk I/O error");
  }, logs.sink());
  core::Debouncer missing(pool, quick("missing"), [&](std::int64_t) -> core::Status {
    ++missing_runs;
    return core::Error::not_found("patient 9 not found");
  }, logs.sink());
  io.schedule(1);
  missing.schedule(9);
  REQUIRE(eventually([&] { return io.counts().dropped == 1 && missing.counts().dropped == 1; }));
  std::this_thread::sleep_for(200ms);
  CHECK(io_runs.load() == 3);
  CHECK(io.counts().failed == 3);
  CHECK(missing_runs.load() == 1);
  CHECK(missing.counts().retried == 0);
  io.stop();
  missing.stop();
  pool.join();
}

TEST_CASE("after stop a debouncer neither runs nor retries") {
  boost::asio::thread_pool pool(1);
  std::atomic<int> runs{0};
  core::Debouncer d(pool, {"stopping", 20ms, 100ms, 5}, [&](std::int64_t) -> core::Status {
    ++runs;
    throw core::Failure(core::Errc::unavailable, "the store is closed");
  }, [](const std::string&) {});
  d.schedule(1);
  REQUIRE(eventually([&] { return runs.load() == 1; }));
  d.stop();
  d.schedule(2);
  std::this_thread::sleep_for(400ms);
  CHECK(runs.load() == 1);
  pool.join();
}
