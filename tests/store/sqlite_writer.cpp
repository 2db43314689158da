// store/src/sqlite_writer.cpp: group commit, one failing job among others,
// completions after COMMIT, close() draining the queue.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fixture.hpp"
#include "sqlite_handle.hpp"

using namespace careloop;
using namespace careloop::store;
using namespace careloop::store::testing;

namespace {

// Counts completions and lets a test wait for all of them.
class Latch {
 public:
  explicit Latch(int n) : left_(n) {}
  void count_down() {
    std::lock_guard lock(m_);
    if (--left_ == 0) cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [this] { return left_ == 0; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int left_;
};

// Holds the writer thread inside a completion until released, so that the
// writes submitted meanwhile queue up and go into one transaction together.
class WriterGate {
 public:
  explicit WriterGate(Store& store) {
    AuditEntry e;
    e.action = "test.gate";
    store.append_audit(e, [this](core::Status) {
      std::unique_lock lock(m_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return open_; });
    });
    std::unique_lock lock(m_);
    cv_.wait(lock, [this] { return entered_; });
  }
  void open() {
    std::lock_guard lock(m_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

NewUser user_named(const std::string& name) {
  NewUser u;
  u.user.username = name;
  u.user.role = core::Role::admin;
  u.password_hash = "$argon2id$h";
  return u;
}

}  // namespace

TEST_CASE("group commit: concurrent writers share transactions and all succeed") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  const auto before = store->writer_stats();

  constexpr int threads = 8;
  constexpr int per_thread = 250;
  Latch all_done(threads * per_thread);
  std::atomic<int> created{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const auto id = std::to_string(t) + "-" + std::to_string(i);
        store->insert_readings(patient, {bp(id, 1'750'000'000'000 + t * 1'000'000 + i, 120, 80)},
                               [&](core::Result<std::vector<InsertOutcome>> r) {
                                 if (r && r->size() == 1 && (*r)[0].status == InsertStatus::created)
                                   ++created;
                                 else
                                   ++failed;
                                 all_done.count_down();
                               });
      }
    });
  for (auto& w : writers) w.join();
  all_done.wait();

  CHECK(created == threads * per_thread);
  CHECK(failed == 0);
  CHECK(store->count_readings(patient) == threads * per_thread);
  must(store->integrity_check());

  const auto after = store->writer_stats();
  const auto jobs = after.jobs - before.jobs;
  const auto transactions = after.transactions - before.transactions;
  CHECK(jobs == threads * per_thread);
  INFO("transactions: " << transactions << " for " << jobs << " jobs");
  CHECK(transactions < jobs);
  CHECK(after.queue_depth == 0);
  CHECK(after.failed_jobs == 0);

  // Cumulative histograms: the +Inf bucket counts every transaction, sums add up.
  REQUIRE(after.batch_size_bounds.size() == 11);
  REQUIRE(after.batch_size_counts.size() == 12);
  CHECK(after.batch_size_counts.back() == after.transactions);
  CHECK(std::is_sorted(after.batch_size_counts.begin(), after.batch_size_counts.end()));
  CHECK(after.batch_size_sum == Approx(static_cast<double>(after.jobs)));
  CHECK(after.batch_size_counts[0] < after.transactions);  // some batch held more than one job
  REQUIRE(after.commit_seconds_counts.size() == after.commit_seconds_bounds.size() + 1);
  CHECK(after.commit_seconds_counts.back() == after.transactions);
  CHECK(after.commit_seconds_sum > 0);
}

TEST_CASE("a failing job is rolled back alone, the rest of its batch commits") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  REQUIRE(must(wait_for<std::int64_t>([&](auto done) { store->add_user(user_named("taken"), done); })) > 0);

  const auto before = store->writer_stats();
  WriterGate gate(*store);
  std::vector<core::Result<std::int64_t>> results(3, core::Error::internal("not completed"));
  Latch done(3);
  const char* names[] = {"first", "taken", "third"};
  for (int i = 0; i < 3; ++i)
    store->add_user(user_named(names[i]), [&, i](core::Result<std::int64_t> r) {
      results[static_cast<std::size_t>(i)] = std::move(r);
      done.count_down();
    });
  gate.open();
  done.wait();

  CHECK(results[0].ok());
  REQUIRE_FALSE(results[1].ok());
  CHECK(results[1].error().code == core::Errc::conflict);
  CHECK(results[2].ok());
  CHECK(store->users().size() == 3);
  CHECK(must(store->user_by_username("third")).id == results[2].value());

  // The gate's own transaction, then one for all three.
  const auto after = store->writer_stats();
  CHECK(after.transactions - before.transactions == 2);
  CHECK(after.jobs - before.jobs == 3);
  CHECK(after.failed_jobs - before.failed_jobs == 1);
}

TEST_CASE("a completion runs after COMMIT: a fresh connection already sees the row") {
  TempDir dir;
  const auto path = dir.file("care.db");
  auto store = open_store(path);
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);

  std::int64_t seen = -1;
  auto r = wait_for<std::vector<InsertOutcome>>([&](auto done) {
    store->insert_readings(patient, {bp("fresh", 1'750'000'000'000, 120, 80)},
                           [&, done](core::Result<std::vector<InsertOutcome>> out) {
                             if (out) {
                               auto db = detail::Connection::open(path, detail::OpenMode::read_only, 1000);
                               auto s = db.prepare("SELECT count(*) FROM readings WHERE id = ?");
                               s.bind(1, (*out)[0].id);
                               seen = s.step() ? s.int64(0) : -1;
                             }
                             done(std::move(out));
                           });
  });
  REQUIRE(r.ok());
  CHECK(seen == 1);
}

TEST_CASE("close() commits every queued write and completes its caller") {
  TempDir dir;
  const auto path = dir.file("care.db");
  auto store = open_store(path);
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);

  constexpr int n = 300;
  std::atomic<int> ok{0};
  std::atomic<int> completed{0};
  {
    WriterGate gate(*store);
    for (int i = 0; i < n; ++i)
      store->insert_readings(patient, {bp("q" + std::to_string(i), 1'750'000'000'000 + i, 120, 80)},
                             [&](core::Result<std::vector<InsertOutcome>> r) {
                               if (r) ++ok;
                               ++completed;
                             });
    CHECK(store->writer_stats().queue_depth == n);
    gate.open();
  }
  store->close();
  CHECK(completed == n);
  CHECK(ok == n);

  auto reopened = open_store(path);
  CHECK(reopened->count_readings(patient) == n);
}

TEST_CASE("a batch that cannot begin (the database locked elsewhere) fails every job as unavailable, and the writer goes on") {
  TempDir dir;
  const auto path = dir.file("care.db");
  SqliteOptions options;
  options.busy_timeout_ms = 50;
  auto store = open_store(path, options);

  std::vector<core::Status> results;
  std::mutex m;
  Latch done(3);
  auto other = detail::Connection::open(path, detail::OpenMode::read_write, 50);
  {
    WriterGate gate(*store);
    // Another process holds the write lock for longer than the busy timeout.
    other.exec("BEGIN IMMEDIATE");
    for (int i = 0; i < 3; ++i) {
      AuditEntry e;
      e.action = "blocked";
      store->append_audit(e, [&](core::Status s) {
        std::lock_guard lock(m);
        results.push_back(std::move(s));
        done.count_down();
      });
    }
    gate.open();
  }
  done.wait();
  // A lock held elsewhere passes: unavailable (503, retried), not internal.
  for (const auto& s : results) {
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == core::Errc::unavailable);
  }
  CHECK(store_fault_counts().busy >= 1);
  other.exec("ROLLBACK");

  AuditEntry e;
  e.action = "after";
  CHECK(wait_for<core::Unit>([&](auto d) { store->append_audit(e, d); }).ok());
  CHECK(store->writer_stats().failed_jobs == 3);
}
