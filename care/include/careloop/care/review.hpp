#pragma once
// Alerts after the commit and on a schedule (issue 4 items 6–7): the full
// review of a patient (every tier of the protocols over the windows, plus
// the signals raised from stored data: a risk model's high band, an approved
// plan's follow-up gone by), the timers (escalation, snooze ends,
// auto-resolve), and risk alerts written with their scores.
//
// Split in two so the writer thread only does writes: prepare_review reads
// and evaluates on a compute thread; apply_reviews and tick_alerts run the
// alert book in one Store::transact job, writing alert rows and clinic events
// together. A review read a moment before its job runs may miss a reading
// committed in between; that reading's own commit schedules another review.
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "careloop/core/debouncer.hpp"
#include "careloop/care/care.hpp"

namespace careloop::care {

// One patient's signals at one instant. Not copyable: the signals point
// into `extra` and into the library.
struct Review {
  std::int64_t patient_id = 0;
  std::int64_t now_ms = 0;
  protocols::ExtraSignals extra;
  std::vector<protocols::AlertSignal> signals;  // the rules' (all tiers) and extra's
};

// Reads the patient, its kept state caught up with every stored reading, the
// newest score of each risk model and the approved care plan, and evaluates.
// Blocking: a compute thread or a command. Errors: not_found patient.
core::Result<std::unique_ptr<Review>> prepare_review(store::Store& st, const ProtocolLibrary& library,
                                                     std::int64_t patient_id, std::int64_t now_ms);

struct ReviewOutcome {
  std::int64_t patients = 0;  // whose book was looked at
  std::int64_t events = 0;    // clinic events written
};

// Each review's book updated with Scope::full (opens, updates, finds cleared
// conditions, runs the timers), in one write job.
void apply_reviews(store::Store& st, std::shared_ptr<const ProtocolLibrary> library,
                   std::shared_ptr<ClinicEventHub> hub, std::vector<std::unique_ptr<Review>> reviews,
                   store::Completion<ReviewOutcome> done);

// The timers alone (AlertBook::tick: escalation, snooze ends, auto-resolve
// of conditions already found cleared) for these patients, in one write job.
void tick_alerts(store::Store& st, std::shared_ptr<const ProtocolLibrary> library, std::shared_ptr<ClinicEventHub> hub,
                 std::vector<std::int64_t> patient_ids, std::int64_t now_ms, store::Completion<ReviewOutcome> done);

// Blocking helpers for commands and the schedule: prepare and apply, in
// write jobs of `batch` patients. A patient that cannot be read is skipped.
core::Result<ReviewOutcome> review_patients(store::Store& st, std::shared_ptr<const ProtocolLibrary> library,
                                            std::shared_ptr<ClinicEventHub> hub, const std::vector<std::int64_t>& ids,
                                            std::int64_t now_ms, int batch = 200);

// Risk alerts in the write job of the scores (scoring/ calls it through the
// seam app/ wires): a score in the high band opens "risk_high:<model id>"
// (warning; probability and top factors as its reason) unless that model's
// alert is already open; a score out of it clears and resolves the alert.
// Each patient's book, rows and clinic events are written in `txn`.
core::Status apply_risk_alerts(store::WriteTxn& txn, const ProtocolLibrary& library,
                               const std::shared_ptr<ClinicEventHub>& hub,
                               const std::vector<store::StoredRiskScore>& scores, std::int64_t now_ms);

// The words of a risk alert and of a follow-up-overdue alert.
protocols::Text risk_reason(const store::StoredRiskScore& score);

// After new readings, debounced: a patient scheduled again before `delay`
// ran out is reviewed once, `delay` after the last schedule, on `pool`.
// schedule() is cheap and thread-safe (the hook calls it after the commit,
// on the writer thread).
class Reviewer {
 public:
  Reviewer(store::Store& st, std::shared_ptr<const ProtocolLibrary> library, std::shared_ptr<ClinicEventHub> hub,
           boost::asio::thread_pool& pool, std::chrono::milliseconds delay,
           std::function<std::int64_t()> clock = {});
  Reviewer(const Reviewer&) = delete;
  Reviewer& operator=(const Reviewer&) = delete;

  void schedule(std::int64_t patient_id);
  // Pending reviews are dropped (the schedule's sweep or the next reading reruns them).
  void stop();
  std::uint64_t reviewed() const noexcept;
  core::DebouncerCounts counts() const noexcept;

 private:
  core::Debouncer debouncer_;
};

struct ScheduleSettings {
  std::chrono::milliseconds interval{60'000};        // timers (escalation, snooze ends)
  std::chrono::milliseconds full_every{3'600'000};   // full reviews of candidates
  // A patient whose newest BP or glucose reading crossed this age since the
  // last full sweep is reviewed: it must equal the protocols' stale-data
  // threshold (14 days in the library); a review decides.
  int stale_after_days = 14;
  int batch = 200;  // patients per write job
};

struct SweepSummary {
  std::int64_t ticked = 0;    // patients whose timers were run
  std::int64_t reviewed = 0;  // patients given a full review
  std::int64_t events = 0;
  bool full = false;          // this sweep did the full reviews
};

// The schedule: every `interval` the timers of the patients whose alerts
// may be due (indexed queries, not every patient); every `full_every` a full
// review of the patients with unresolved alerts (conditions cleared by time,
// auto-resolve), of those whose last reading became stale since the last
// full sweep, and of those whose approved plan's follow-up date has passed.
// Runs on `pool` (blocking reads and waits on the writer), never an I/O thread.
class AlertSchedule {
 public:
  AlertSchedule(store::Store& st, std::shared_ptr<const ProtocolLibrary> library, std::shared_ptr<ClinicEventHub> hub,
                ScheduleSettings settings, std::function<std::int64_t()> clock = {});
  ~AlertSchedule();
  AlertSchedule(const AlertSchedule&) = delete;
  AlertSchedule& operator=(const AlertSchedule&) = delete;

  // Sweeps one interval from now (the first sweep is a full one), then every interval, on `pool`.
  void start(boost::asio::thread_pool& pool);
  // No new sweep starts; waits for a running one to finish.
  void stop();

  // One sweep now (the clock's time). Blocking; start() calls it, tests call it.
  core::Result<SweepSummary> sweep();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace careloop::care
