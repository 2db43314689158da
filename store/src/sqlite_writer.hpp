#pragma once
// The single writer: one thread owns the write connection and commits the
// jobs of every waiting caller in one transaction (group commit). Each job
// runs inside its own SAVEPOINT, so a job that fails is rolled back alone;
// completions run only after COMMIT has returned, in submission order.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/store/sqlite.hpp"
#include "sqlite_handle.hpp"

namespace careloop::store::detail {

// One caller's write: the SQL to run and the completion to call.
class Job {
 public:
  virtual ~Job() = default;
  // Runs inside the job's savepoint. An error (returned or thrown) rolls the job back.
  virtual core::Status run(Connection& db) = 0;
  // After COMMIT: delivers the value that run() produced.
  virtual void complete() = 0;
  virtual void fail(core::Error e) = 0;
  // The job's writes were discarded after run() (its savepoint rolled back or
  // the transaction lost); called before fail(). May be called for a job
  // that never ran.
  virtual void discarded() noexcept {}
};

template <class T, class Fn>
class TypedJob final : public Job {
 public:
  TypedJob(Fn fn, Completion<T> done, std::function<void()> on_discard = {})
      : fn_(std::move(fn)), done_(std::move(done)), on_discard_(std::move(on_discard)) {}

  core::Status run(Connection& db) override {
    core::Result<T> r = fn_(db);
    if (!r) return r.error();
    value_.emplace(std::move(r).value());
    return core::Unit{};
  }
  void complete() override { done_(std::move(*value_)); }
  void fail(core::Error e) override { done_(std::move(e)); }
  void discarded() noexcept override {
    if (!on_discard_) return;
    try {
      on_discard_();
    } catch (...) {
      // A cache that cannot forget is the hook's bug; the job fails either way.
    }
  }

 private:
  Fn fn_;
  Completion<T> done_;
  std::function<void()> on_discard_;
  std::optional<T> value_;
};

// Cumulative histogram in the Prometheus sense: counts[i] is the number of
// observations <= bounds[i]; the last count is +Inf.
struct Histogram {
  explicit Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}
  void observe(double v) noexcept {
    for (std::size_t i = 0; i < bounds.size(); ++i)
      if (v <= bounds[i]) ++counts[i];
    ++counts.back();
    sum += v;
  }
  std::vector<double> bounds;
  std::vector<std::uint64_t> counts;
  double sum = 0;
};

class Writer {
 public:
  Writer(Connection db, int max_batch_jobs);
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  // Queues a job. After stop() the job fails at once, on the caller's thread,
  // with Errc::unavailable.
  void submit(std::unique_ptr<Job> job);

  template <class T, class Fn>
  void submit(Fn fn, Completion<T> done, std::function<void()> on_discard = {}) {
    submit(std::make_unique<TypedJob<T, Fn>>(std::move(fn), std::move(done), std::move(on_discard)));
  }

  // Stops taking jobs, commits what is queued, completes every caller and
  // joins the thread. Idempotent. Must not be called from the writer thread.
  void stop();
  // Stops taking jobs without waiting; for a completion, which runs on the writer thread.
  void stop_intake();
  bool on_writer_thread() const noexcept { return std::this_thread::get_id() == thread_.get_id(); }

  WriterStats stats() const;

  // The write connection, for the owner's last words once stop() has
  // returned (a checkpoint); close_connection() then closes it.
  Connection& connection() noexcept { return *db_; }
  void close_connection() noexcept { db_.reset(); }

 private:
  void loop();
  void run_batch(std::vector<std::unique_ptr<Job>>& batch);
  void fail_all(std::vector<std::unique_ptr<Job>>& batch, const core::Error& e);
  // Completions are the callers' code: one that throws must not kill the writer.
  static void deliver(Job& job, std::optional<core::Error> error) noexcept;

  std::optional<Connection> db_;
  const std::size_t max_batch_jobs_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;

  mutable std::mutex stats_mutex_;
  std::uint64_t transactions_ = 0;
  std::uint64_t jobs_ = 0;
  std::uint64_t failed_jobs_ = 0;
  Histogram batch_size_;
  Histogram commit_seconds_;

  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace careloop::store::detail
