#pragma once
// What every part of the store's interface shares: completions, the error
// the plain-value reads throw, blocking on a write (wait_for), and
// Transactions, a write job over the writer's open transaction (WriteTxn).
#include <functional>
#include <future>
#include <memory>

#include "careloop/core/result.hpp"
#include "careloop/core/thread_role.hpp"
#include "careloop/store/hooks.hpp"

namespace careloop::store {

template <class T>
using Completion = std::function<void(core::Result<T>)>;

// Thrown by the reads that return plain values (vectors, counts) when the
// store cannot answer: an I/O error, or the store is closed. Reads that
// return a Result report the same failures as an Error instead.
class StoreError : public core::Failure {
 public:
  using core::Failure::Failure;
};

// Any WriteTxn work as one write job.
class Transactions {
 public:
  virtual ~Transactions() = default;

  // Runs `fn` as one write job (its own savepoint in the group commit): an
  // error returned or thrown rolls back everything it wrote.
  virtual void transact(std::function<core::Status(WriteTxn&)> fn, Completion<core::Unit> done) = 0;
};

// Blocks until an asynchronous store call completes. For command-line
// tools and tests; never from an I/O thread.
template <class T, class Fn>
core::Result<T> wait_for(Fn&& start) {
  core::require_blocking_allowed("store::wait_for");
  auto p = std::make_shared<std::promise<core::Result<T>>>();
  auto f = p->get_future();
  start([p](core::Result<T> r) { p->set_value(std::move(r)); });
  return f.get();
}

}  // namespace careloop::store
