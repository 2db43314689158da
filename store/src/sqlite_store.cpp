// The SQLite store as a whole: opening (migrations, file modes), the write
// jobs that span table groups (transact, prune), the operations (backup,
// integrity check, writer figures) and closing. The SQL of each table group
// is in its own sqlite_*.cpp (sqlite_store.hpp lists them).
#include <chrono>
#include <filesystem>
#include <thread>

#include "careloop/core/thread_role.hpp"
#include "migrations.hpp"
#include "sqlite_store.hpp"

namespace careloop::store {
namespace detail {
namespace {

// Health data is sensitive personal information (PIPL): the database and its
// WAL and shared-memory files are readable by the service's user only. SQLite
// gives the WAL the database's mode, so the database's own mode is what
// counts; a file found looser (an older version, a copy) is tightened.
void keep_private(const std::string& path, bool say) {
  namespace fs = std::filesystem;
  for (const auto& f : {path, path + "-wal", path + "-shm", path + "-journal"}) {
    std::error_code ec;
    const auto st = fs::status(f, ec);
    if (ec || !fs::exists(st)) continue;
    constexpr auto loose = fs::perms::group_all | fs::perms::others_all;
    if ((st.permissions() & loose) == fs::perms::none) continue;
    fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace, ec);
    if (!ec && say)
      std::fprintf(stderr, "careloop store: %s was readable by others; now by its owner only (0600)\n", f.c_str());
  }
}

}  // namespace

void SqliteWriteTxn::after_commit(std::function<void()> f) { after_.after_commit.push_back(std::move(f)); }

void SqliteWriteTxn::on_rollback(std::function<void()> f) { after_.on_rollback.push_back(std::move(f)); }

                                  SqliteBackend::~SqliteBackend() { close(); }

void SqliteBackend::transact(std::function<core::Status(WriteTxn&)> fn, Completion<core::Unit> done) {
  auto after = std::make_shared<JobCallbacks>();
  write<core::Unit>(
      [fn = std::move(fn), after, hook = hook_](Connection& db) -> Result<core::Unit> {
        SqliteWriteTxn txn(db, *after, hook.get());
        return fn(txn);
      },
      then_after_commit(after, std::move(done)), discard_actions(after));
}

void SqliteBackend::set_readings_hook(std::shared_ptr<ReadingsHook> hook) { hook_ = std::move(hook); }

void SqliteBackend::prune(std::int64_t now_ms, RetentionPolicy policy, Completion<PruneCounts> done) {
  write<PruneCounts>(
      [now_ms, policy](Connection& db) -> Result<PruneCounts> {
        PruneCounts n;
        const std::int64_t sessions_before = now_ms - policy.ended_sessions_ms;
        db.prepare("DELETE FROM sessions WHERE expires_at_ms < ?1 OR revoked_at_ms < ?1").bind(1, sessions_before).run();
        n.sessions = static_cast<std::int64_t>(db.changes());
        // Not before a clinic's webhook has them: the outbox must not lose an undelivered alert.
        db.prepare(
              "DELETE FROM clinic_events WHERE at_ms < ?1 AND seq <= coalesce("
              "(SELECT w.delivered_seq FROM clinic_webhooks w WHERE w.clinic_id = clinic_events.clinic_id), "
              "9223372036854775807)")
            .bind(1, now_ms - policy.clinic_events_ms)
            .run();
        n.clinic_events = static_cast<std::int64_t>(db.changes());
        return n;
      },
      std::move(done));
}

core::Status SqliteBackend::backup_to(const std::string& path) {
  return read_result<core::Unit>([&](Connection& src) -> core::Status {
    std::error_code ec;
    if (std::filesystem::exists(path, ec))
      return Error::conflict("the backup target " + path + " already exists");
    try {
      Connection dst = Connection::open(path, detail::OpenMode::read_write_create, 5000);
      keep_private(path, false);  // a copy of every record: the owner's only, like the database
      // The backup object must be finished before dst closes.
      struct BackupFinisher {
        void operator()(sqlite3_backup* b) const noexcept { sqlite3_backup_finish(b); }
      };
      std::unique_ptr<sqlite3_backup, BackupFinisher> backup(sqlite3_backup_init(dst.get(), "main", src.get(), "main"));
      if (!backup) detail::check(dst.get(), sqlite3_errcode(dst.get()), "backup_init");
      // -1: every page in one step, so the copy is one consistent snapshot.
      int rc = SQLITE_OK;
      while ((rc = sqlite3_backup_step(backup.get(), -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (rc != SQLITE_DONE) detail::check(dst.get(), rc, "backup_step");
      detail::check(dst.get(), sqlite3_backup_finish(backup.release()), "backup_finish");
      return core::Unit{};
    } catch (const StoreError&) {
      // Leave nothing half-written behind.
      std::filesystem::remove(path, ec);
      std::filesystem::remove(path + "-wal", ec);
      std::filesystem::remove(path + "-shm", ec);
      throw;
    }
  });
}

core::Status SqliteBackend::integrity_check() {
  return read_result<core::Unit>([&](Connection& db) -> core::Status {
    ReadSnapshot snapshot(db);
    std::string problems;
    {
      Statement s = db.prepare("PRAGMA integrity_check");
      while (s.step())
        if (const std::string line = s.text(0); line != "ok") problems += line + "\n";
    }
    {
      Statement s = db.prepare("PRAGMA foreign_key_check");
      while (s.step())
        problems += "foreign key: " + s.text(0) + " row " + std::to_string(s.int64(1)) + " -> " + s.text(2) + "\n";
    }
    if (!problems.empty()) return Error::internal("integrity check failed:\n" + problems);
    return core::Unit{};
  });
}

int SqliteBackend::schema_version() {
  return read([](Connection& db) { return detail::user_version(db); });
}

WriterStats SqliteBackend::writer_stats() const { return writer_.stats(); }

void SqliteBackend::close() {
  core::require_blocking_allowed("store::close");
  // A completion calling close() would join its own thread; it only stops the intake.
  if (writer_.on_writer_thread()) {
    writer_.stop_intake();
    return;
  }
  std::lock_guard lock(close_mutex_);
  if (closed_) return;
  writer_.stop();
  pool_.close();
  try {
    // Fold the WAL into the database so the file alone is the whole state.
    writer_.connection().exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (const StoreError& e) {
    std::fprintf(stderr, "careloop store: checkpoint at close failed: %s\n", e.what());
  }
  writer_.close_connection();
  closed_ = true;
}

}  // namespace detail

using core::Error;
using detail::Connection;

core::Result<std::unique_ptr<SqliteStore>> open_sqlite(const SqliteOptions& options) {
  core::require_blocking_allowed("store::open_sqlite");
  if (options.path.empty()) return Error::invalid("no database path", {{"/path", "required"}});
  std::error_code ec;
  const bool existed = std::filesystem::exists(options.path, ec);
  if (!existed && !options.create_if_missing) return Error::not_found("no database at " + options.path);
  try {
    Connection db = Connection::open(
        options.path, existed ? detail::OpenMode::read_write : detail::OpenMode::read_write_create,
        options.busy_timeout_ms);
    detail::keep_private(options.path, existed);
    detail::migrate(db);
    return std::unique_ptr<SqliteStore>(std::make_unique<detail::SqliteBackend>(options, std::move(db)));
  } catch (const StoreError& e) {
    return detail::to_error(e);
  }
}

int latest_schema_version() { return static_cast<int>(detail::migrations().size()); }

}  // namespace careloop::store
