#pragma once
// The only two bridges from an I/O thread to blocking work (server/README.md).
//
//   auto hash = co_await offload(server.compute(), [&] { return argon2id(pw); });
//   auto ids  = co_await await_completion<std::int64_t>(
//                   [&](auto done) { store.add_patient(p, std::move(done)); });
//
// Both suspend the coroutine, let the work run elsewhere (the compute pool,
// or the store's writer thread), and resume the coroutine on the executor it
// was running on (the session's strand), never on the foreign thread.
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "careloop/core/result.hpp"

namespace careloop::server {

namespace detail {

// Suspends the calling coroutine; `start(resume)` must arrange for
// `resume()` to be called exactly once, from any thread. The coroutine
// continues on its own executor, which is kept busy (outstanding work) in
// the meantime so its io_context does not run out of work and return.
template <class Start>
boost::asio::awaitable<void> suspend_until(Start start) {
  namespace asio = boost::asio;
  return asio::async_initiate<const asio::use_awaitable_t<>, void()>(
      [start = std::move(start)](auto handler) mutable {
        auto home = asio::prefer(asio::get_associated_executor(handler),
                                 asio::execution::outstanding_work.tracked);
        // std::function needs a copyable callable; the handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start([shared, home]() mutable { asio::post(home, std::move(*shared)); });
      },
      asio::use_awaitable);
}

template <class T>
struct Slot {
  std::optional<T> value;
};
template <>
struct Slot<void> {
  std::optional<core::Unit> value;
};

}  // namespace detail

// Runs f() on the pool and resumes on the caller's executor with its result.
// An exception thrown by f is rethrown in the caller.
template <class F, class R = std::invoke_result_t<F&>>
boost::asio::awaitable<R> offload(boost::asio::thread_pool& pool, F f) {
  // The frame outlives the suspension, so the pool job may write into it.
  detail::Slot<R> slot;
  std::exception_ptr failure;
  co_await detail::suspend_until([&](auto resume) {
    boost::asio::post(pool, [&, resume = std::move(resume)]() mutable {
      try {
        if constexpr (std::is_void_v<R>) {
          f();
          slot.value.emplace();
        } else {
          slot.value.emplace(f());
        }
      } catch (...) {
        failure = std::current_exception();
      }
      resume();
    });
  });
  if (failure) std::rethrow_exception(failure);
  if constexpr (!std::is_void_v<R>) co_return std::move(*slot.value);
}

// Adapts a store-style asynchronous call, start(std::function<void(Result<T>)>),
// whose callback runs on a foreign thread (the writer), to an awaitable that
// resumes on the caller's executor.
template <class T, class Start>
boost::asio::awaitable<core::Result<T>> await_completion(Start start) {
  std::optional<core::Result<T>> out;
  co_await detail::suspend_until([&](auto resume) {
    start(std::function<void(core::Result<T>)>(
        [&out, resume = std::move(resume)](core::Result<T> r) mutable {
          out.emplace(std::move(r));
          resume();
        }));
  });
  co_return std::move(*out);
}

}  // namespace careloop::server
