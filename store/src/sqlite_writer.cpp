#include "sqlite_writer.hpp"

#include <chrono>
#include <cstdio>
#include <exception>

#include "careloop/core/thread_role.hpp"

namespace careloop::store::detail {

Writer::Writer(Connection db, int max_batch_jobs)
    : db_(std::move(db)),
      max_batch_jobs_(static_cast<std::size_t>(max_batch_jobs > 0 ? max_batch_jobs : 1)),
      batch_size_({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}),
      commit_seconds_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}),
      thread_([this] { loop(); }) {}

Writer::~Writer() { stop(); }

void Writer::submit(std::unique_ptr<Job> job) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back(std::move(job));
      wake_.notify_one();
      return;
    }
  }
  deliver(*job, core::Error::unavailable("the store is closed"));
}

void Writer::stop_intake() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
}

void Writer::stop() {
  stop_intake();
  if (thread_.joinable()) thread_.join();
}

WriterStats Writer::stats() const {
  WriterStats s;
  {
    std::lock_guard lock(mutex_);
    s.queue_depth = queue_.size();
  }
  std::lock_guard lock(stats_mutex_);
  s.transactions = transactions_;
  s.jobs = jobs_;
  s.failed_jobs = failed_jobs_;
  s.batch_size_bounds = batch_size_.bounds;
  s.batch_size_counts = batch_size_.counts;
  s.batch_size_sum = batch_size_.sum;
  s.commit_seconds_bounds = commit_seconds_.bounds;
  s.commit_seconds_counts = commit_seconds_.counts;
  s.commit_seconds_sum = commit_seconds_.sum;
  return s;
}

void Writer::loop() {
  core::set_thread_role(core::ThreadRole::writer);
  std::vector<std::unique_ptr<Job>> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Drain before leaving: close() promises that queued callers are committed.
      if (queue_.empty()) return;
      while (!queue_.empty() && batch.size() < max_batch_jobs_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_batch(batch);
    batch.clear();
  }
}

void Writer::run_batch(std::vector<std::unique_ptr<Job>>& batch) {
  try {
    db_->prepare("BEGIN IMMEDIATE").run();
  } catch (const StoreError& e) {
    fail_all(batch, to_error(e));
    return;
  }

  std::vector<std::optional<core::Error>> errors(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    try {
      db_->prepare("SAVEPOINT job").run();
      core::Status st = [&]() -> core::Status {
        try {
          return batch[i]->run(*db_);
        } catch (const StoreError& e) {
          return to_error(e);
        } catch (const std::exception& e) {
          return core::Error::internal(e.what());
        }
      }();
      if (st) {
        db_->prepare("RELEASE job").run();
        continue;
      }
      errors[i] = st.error();
      // Some errors (disk full, I/O) make SQLite roll back the whole
      // transaction; then the jobs run so far are lost too.
      if (!db_->in_transaction()) {
        fail_all(batch, st.error());
        return;
      }
      db_->prepare("ROLLBACK TO job").run();
      db_->prepare("RELEASE job").run();
      batch[i]->discarded();
    } catch (const StoreError& e) {
      // The savepoint machinery itself failed: nothing in this transaction can be trusted.
      if (db_->in_transaction()) {
        try {
          db_->prepare("ROLLBACK").run();
        } catch (const StoreError&) {
        }
      }
      fail_all(batch, to_error(e));
      return;
    }
  }

  const auto started = std::chrono::steady_clock::now();
  try {
    db_->prepare("COMMIT").run();
  } catch (const StoreError& e) {
    if (db_->in_transaction()) {
      try {
        db_->prepare("ROLLBACK").run();
      } catch (const StoreError&) {
      }
    }
    fail_all(batch, to_error(e));
    return;
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;

  std::uint64_t failed = 0;
  for (const auto& e : errors) failed += e ? 1 : 0;
  {
    std::lock_guard lock(stats_mutex_);
    ++transactions_;
    jobs_ += batch.size() - failed;
    failed_jobs_ += failed;
    batch_size_.observe(static_cast<double>(batch.size()));
    commit_seconds_.observe(took.count());
  }

  for (std::size_t i = 0; i < batch.size(); ++i) deliver(*batch[i], std::move(errors[i]));
}

void Writer::fail_all(std::vector<std::unique_ptr<Job>>& batch, const core::Error& e) {
  // Whatever ran in this transaction is gone.
  for (auto& job : batch) job->discarded();
  {
    std::lock_guard lock(stats_mutex_);
    failed_jobs_ += batch.size();
  }
  for (auto& job : batch) deliver(*job, e);
}

void Writer::deliver(Job& job, std::optional<core::Error> error) noexcept {
  try {
    if (error)
      job.fail(std::move(*error));
    else
      job.complete();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "careloop store: a write completion threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "careloop store: a write completion threw\n");
  }
}

}  // namespace careloop::store::detail
