#include "careloop/server/offload.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <thread>

#include "run_sync.hpp"

using namespace careloop;
namespace asio = boost::asio;

TEST_CASE("offload runs on the pool and resumes on the caller's thread", "[offload]") {
  asio::thread_pool pool(1);
  const auto caller = std::this_thread::get_id();
  auto [inside, after, value] = testing::run_sync([&]() -> asio::awaitable<std::tuple<std::thread::id, std::thread::id, int>> {
    std::thread::id where;
    int v = co_await server::offload(pool, [&] {
      where = std::this_thread::get_id();
      return 41 + 1;
    });
    co_return std::make_tuple(where, std::this_thread::get_id(), v);
  }());
  CHECK(inside != caller);
  CHECK(after == caller);
  CHECK(value == 42);
}

TEST_CASE("offload rethrows the work's exception in the caller", "[offload]") {
  asio::thread_pool pool(1);
  auto run = [&]() -> asio::awaitable<int> {
    co_return co_await server::offload(pool, []() -> int { throw std::runtime_error("disk on fire"); });
  };
  CHECK_THROWS_WITH(testing::run_sync(run()), "disk on fire");
}

TEST_CASE("offload handles void and move-only results", "[offload]") {
  asio::thread_pool pool(1);
  bool ran = false;
  testing::run_sync([&]() -> asio::awaitable<int> {
    co_await server::offload(pool, [&] { ran = true; });
    auto p = co_await server::offload(pool, [] { return std::make_unique<int>(7); });
    // Result<T> has no default constructor: offload must not need one.
    auto r = co_await server::offload(pool, [] { return core::Result<int>(core::Error::not_found("x")); });
    co_return *p + (r.ok() ? 1 : 0);
  }());
  CHECK(ran);
}

TEST_CASE("await_completion adapts a callback that fires on a foreign thread", "[offload]") {
  const auto caller = std::this_thread::get_id();
  std::thread writer;
  // A store-style API: the completion runs later, on the "writer" thread.
  auto add_patient = [&](std::function<void(core::Result<std::int64_t>)> done) {
    writer = std::thread([done = std::move(done)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      done(std::int64_t{17});
    });
  };
  auto [id, resumed_on] = testing::run_sync([&]() -> asio::awaitable<std::pair<std::int64_t, std::thread::id>> {
    auto r = co_await server::await_completion<std::int64_t>([&](auto done) { add_patient(std::move(done)); });
    co_return std::make_pair(r.value(), std::this_thread::get_id());
  }());
  writer.join();
  CHECK(id == 17);
  CHECK(resumed_on == caller);
}

TEST_CASE("await_completion passes errors and synchronous completions through", "[offload]") {
  auto r = testing::run_sync(server::await_completion<core::Unit>(
      [](auto done) { done(core::Error::unavailable("store closed")); }));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == core::Errc::unavailable);
}
