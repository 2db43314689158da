#pragma once
// The one debounced scheduler of the follow-ups of a write (DESIGN §7a):
// rescoring, re-planning and reviews run once per patient, `delay` after the
// patient's last schedule, on a pool. A job that fails never reaches the
// pool's thread: it is caught, logged at error with its cause, and retried
// or dropped by one rule:
//
//   - unavailable or internal (the store busy, locked, full, an I/O error,
//     closed; any exception that is not a core::Failure): retried after
//     retry_after, doubling, at most max_attempts runs in all; then dropped;
//   - invalid, not_found, conflict, forbidden: dropped at once (a rerun
//     would fail the same way);
//   - after stop(): nothing runs or is retried.
//
// A dropped job is not lost work: the next write of the patient, or the
// periodic sweep that covers every patient, schedules it again.
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "careloop/core/result.hpp"

namespace careloop::core {

struct DebouncerSettings {
  std::string job;                              // its name in the log: "rescore", "replan", "review"
  std::chrono::milliseconds delay{2000};        // after the last schedule of a patient
  std::chrono::milliseconds retry_after{5000};  // before the second run; doubles for each further run
  int max_attempts = 3;                         // runs of one schedule in all
};

struct DebouncerCounts {
  std::uint64_t done = 0;     // runs that succeeded
  std::uint64_t failed = 0;   // runs that failed (each logged)
  std::uint64_t retried = 0;  // failed runs scheduled again
  std::uint64_t dropped = 0;  // schedules given up
};

class Debouncer {
 public:
  using Job = std::function<Status(std::int64_t patient_id)>;
  // Receives one finished JSON object per failed run; stderr when empty.
  using LogSink = std::function<void(const std::string& json_line)>;

  Debouncer(boost::asio::thread_pool& pool, DebouncerSettings settings, Job job, LogSink log = {});
  ~Debouncer();
  Debouncer(const Debouncer&) = delete;
  Debouncer& operator=(const Debouncer&) = delete;

  // Cheap and thread-safe; a patient already pending is pushed back to
  // `delay` from now (a pending retry is replaced by a fresh first run).
  void schedule(std::int64_t patient_id);
  // Pending runs and retries are dropped; waits for none.
  void stop();
  DebouncerCounts counts() const noexcept;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace careloop::core
