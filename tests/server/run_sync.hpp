#pragma once
// Runs a coroutine to completion on a private io_context: handlers and the
// router are tested as plain functions, without a socket.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <optional>
#include <utility>

namespace careloop::testing {

// Through std::optional: co_spawn wants a default-constructible result,
// and core::Result<T> has none.
template <class T>
boost::asio::awaitable<std::optional<T>> wrap(boost::asio::awaitable<T> work) {
  co_return co_await std::move(work);
}

template <class T>
T run_sync(boost::asio::awaitable<T> work) {
  boost::asio::io_context ioc;
  auto result = boost::asio::co_spawn(ioc, wrap(std::move(work)), boost::asio::use_future);
  ioc.run();
  return std::move(*result.get());
}

}  // namespace careloop::testing
