#pragma once
// What every part of the store's interface shares: completions, the error
// the plain-value reads throw, blocking on a write (wait_for), and
// Transactions, a write job over an open transaction (WriteTxn).
//
// What every backend owes, whatever it is built on (one SQLite writer today;
// several servers over PostgreSQL later, DESIGN §7). Callers may rely on
// these and on nothing else about how a backend provides them:
//
// 1. Writes and their completion. A write is a job: everything it does
//    commits together or not at all. Its completion is called once, after
//    the job's transaction is durable (or with an error, nothing stored), on
//    a thread of the store: keep it quick, never wait there for another
//    write (wait_for deadlocks) and never destroy the store from it.
//
// 2. Visibility. A read started after a write's completion sees that write.
//    A read made of several queries (a patient with its details, a batch of
//    states, a page of the feed with its rows) answers from one committed
//    state. Reads never see an uncommitted or rolled-back write.
//
// 3. One writer per patient at a time. Jobs that write the same patient's
//    rows (its readings, kept state, alerts, month rows, digests, care plans,
//    visits) run one after another, each seeing every earlier one's writes;
//    jobs of different patients may run at once. Hooks and caches keyed by
//    patient (care's kept state, reports' month rows) rely on this: their
//    read-modify-write of a patient never interleaves with another's.
//    (SQLite: one writer thread. PostgreSQL: a lock on the patient taken
//    first in the job, held to commit.)
//
// 4. Sequence numbers. The sync feed (Readings::changes) and a clinic's
//    events (ClinicEvents) are numbered increasingly, and a reader that keeps
//    a cursor (the highest seq it has seen) never misses an entry: an entry
//    becomes visible only once no entry with a smaller number can still
//    commit. (SQLite: numbers are handed out by the one writer, in commit
//    order. PostgreSQL: hand them out under a lock held to commit, or let
//    readers see only below the oldest open transaction's first number.)
//
// 5. Identity. Ids come from the database; a client id sent again (a
//    reading's, a visit's, a measurement's) is the same record, answered as
//    a duplicate, however many servers receive it at once. (Content
//    duplicates of a reading under another client id are found by a check
//    within the patient's job, which guarantee 3 makes safe.)
//
// 6. How a job learns its commit. WriteTxn::after_commit runs once the job's
//    transaction is durable, before its completion, on the committing
//    thread; WriteTxn::on_rollback runs if the job's writes are discarded
//    (its own failure, or the whole transaction lost). Neither runs for the
//    other outcome. The seq numbers a job writes (record_change,
//    append_clinic_event, InsertOutcome::change_seq) are the ones readers see.
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

// Any WriteTxn work as one write job: it commits whole or not at all, and
// learns its commit through WriteTxn::after_commit / on_rollback (guarantee 6).
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
