#include "sqlite_handle.hpp"

#include <array>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "careloop/core/time.hpp"

namespace careloop::store::detail {

core::Errc errc_of(int sqlite_rc) noexcept {
  switch (sqlite_rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return core::Errc::conflict;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return core::Errc::not_found;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_CONSTRAINT_DATATYPE:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return core::Errc::invalid;
    default:
      break;
  }
  // Conditions of the machine, not of the request: another process holds the
  // lock, the disk is full or failing, the file cannot be written. They pass
  // (or an operator fixes them) without a restart, so callers answer 503 and
  // retry; what remains (corruption, misuse, a file that cannot be opened at
  // all) is internal.
  switch (sqlite_rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      return core::Errc::unavailable;
    default:
      return core::Errc::internal;
  }
}

namespace {

StoreFaultKind kind_of(int rc) noexcept {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return StoreFaultKind::busy;
    case SQLITE_FULL: return StoreFaultKind::full;
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_NOLFS: return StoreFaultKind::io;
    default: return StoreFaultKind::other;
  }
}

std::array<std::atomic<std::uint64_t>, 4> fault_counts{};
std::mutex fault_log_mutex;
std::array<std::int64_t, 4> fault_logged_at_ms{};   // the last line written, per kind
std::array<std::uint64_t, 4> fault_unlogged{};      // failures since, not written

// One line at error per kind and second (a full disk fails every write), with
// the number of failures that line stands for.
void note_fault(int rc, const std::string& what) {
  const auto kind = static_cast<std::size_t>(kind_of(rc));
  fault_counts[kind].fetch_add(1, std::memory_order_relaxed);
  const std::int64_t now = core::now_utc_ms();
  std::uint64_t also = 0;
  {
    std::lock_guard lock(fault_log_mutex);
    if (now - fault_logged_at_ms[kind] < 1000) {
      ++fault_unlogged[kind];
      return;
    }
    fault_logged_at_ms[kind] = now;
    also = std::exchange(fault_unlogged[kind], 0);
  }
  static constexpr const char* names[] = {"busy", "full", "io", "other"};
  const nlohmann::json line{{"level", "error"}, {"msg", "store failure"}, {"kind", names[kind]},
                            {"sqlite_code", rc}, {"error", what}, {"also_since_last_line", also},
                            {"ts", core::format_iso8601_utc(now)}};
  std::fprintf(stderr, "%s\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

}  // namespace careloop::store::detail

namespace careloop::store {

StoreFaultCounts store_fault_counts() noexcept {
  const auto& n = detail::fault_counts;
  StoreFaultCounts c;
  c.busy = n[0].load(std::memory_order_relaxed);
  c.full = n[1].load(std::memory_order_relaxed);
  c.io = n[2].load(std::memory_order_relaxed);
  c.other = n[3].load(std::memory_order_relaxed);
  return c;
}

}  // namespace careloop::store

namespace careloop::store::detail {

void check(sqlite3* db, int rc, std::string_view context) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  std::string what(context);
  what += ": ";
  what += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int code = db ? sqlite3_extended_errcode(db) : rc;
  // Constraint answers are the store's expected replies; the rest is a fault.
  if (const auto errc = errc_of(code); errc == core::Errc::unavailable || errc == core::Errc::internal)
    note_fault(code, what);
  throw SqliteError(code, what);
}

Statement::~Statement() {
  if (!stmt_) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Statement& Statement::bind(int i, std::int64_t v) {
  check(sqlite3_db_handle(stmt_), sqlite3_bind_int64(stmt_, i, v), "bind");
  return *this;
}

Statement& Statement::bind(int i, double v) {
  check(sqlite3_db_handle(stmt_), sqlite3_bind_double(stmt_, i, v), "bind");
  return *this;
}

Statement& Statement::bind(int i, std::string_view v) {
  // SQLITE_TRANSIENT: SQLite copies, so the caller's string may go away.
  check(sqlite3_db_handle(stmt_),
        sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8), "bind");
  return *this;
}

Statement& Statement::bind(int i, std::nullopt_t) {
  check(sqlite3_db_handle(stmt_), sqlite3_bind_null(stmt_, i), "bind");
  return *this;
}

Statement& Statement::bind_blob(int i, std::string_view bytes) {
  check(sqlite3_db_handle(stmt_), sqlite3_bind_blob64(stmt_, i, bytes.data(), bytes.size(), SQLITE_TRANSIENT),
        "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // sqlite3_errmsg names the failed constraint ("UNIQUE constraint failed: users.username").
  check(sqlite3_db_handle(stmt_), rc, "step");
  return false;
}

void Statement::run() {
  while (step()) {
  }
}

std::string Statement::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}

std::string_view Statement::blob_view(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col));
  return p ? std::string_view(p, n) : std::string_view();
}

std::string Statement::blob(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}

namespace {

const char* storage_class(int type) noexcept {
  switch (type) {
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT: return "REAL";
    case SQLITE_TEXT: return "TEXT";
    case SQLITE_BLOB: return "BLOB";
    default: return "NULL";
  }
}

}  // namespace

void Row::mismatch(int col, int type) const {
  const char* name = s_.column_name(col);
  throw StoreError(core::Errc::internal, std::string("column ") + std::to_string(col) + " (" +
                                             (name ? name : "beyond the row") + ") is " +
                                             storage_class(s_.type(col)) + " where " + storage_class(type) +
                                             " was expected, in: " + s_.sql());
}

void Row::unknown(int col, std::string_view value) const {
  const char* name = s_.column_name(col);
  throw StoreError(core::Errc::internal, "unexpected value in the database: " + std::string(value) + " (column " +
                                             (name ? name : "?") + ")");
}

int Row::take(int type, bool or_null) {
  const int col = col_++;
  if (col >= s_.column_count()) mismatch(col, type);
  const int got = s_.type(col);
  if (got == type || (or_null && got == SQLITE_NULL) || (type == SQLITE_FLOAT && got == SQLITE_INTEGER)) return col;
  mismatch(col, type);
}

std::int64_t Row::int64() { return s_.int64(take(SQLITE_INTEGER, false)); }

std::optional<std::int64_t> Row::opt_int64() { return s_.opt_int64(take(SQLITE_INTEGER, true)); }

double Row::real() { return s_.real(take(SQLITE_FLOAT, false)); }

std::optional<double> Row::opt_real() { return s_.opt_real(take(SQLITE_FLOAT, true)); }

std::string_view Row::view() { return s_.view(take(SQLITE_TEXT, false)); }

std::optional<std::string> Row::opt_text() {
  const int col = take(SQLITE_TEXT, true);
  return s_.is_null(col) ? std::nullopt : std::optional<std::string>(s_.text(col));
}

std::string_view Row::blob_view() { return s_.blob_view(take(SQLITE_BLOB, false)); }

std::optional<std::string> Row::opt_blob() {
  const int col = take(SQLITE_BLOB, true);
  return s_.is_null(col) ? std::nullopt : std::optional<std::string>(s_.blob(col));
}

std::optional<std::string_view> Row::opt_blob_view() {
  const int col = take(SQLITE_BLOB, true);
  return s_.is_null(col) ? std::nullopt : std::optional<std::string_view>(s_.blob_view(col));
}

Row& Row::at(std::string_view name) {
  for (int i = 0, n = s_.column_count(); i < n; ++i)
    if (const char* c = s_.column_name(i); c && name == c) {
      col_ = i;
      return *this;
    }
  throw StoreError(core::Errc::internal, "no column " + std::string(name) + " in: " + s_.sql());
}

Connection Connection::open(const std::string& path, OpenMode mode, int busy_timeout_ms) {
  int flags = SQLITE_OPEN_NOMUTEX;  // one thread per connection at a time
  switch (mode) {
    case OpenMode::read_write_create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
    case OpenMode::read_write: flags |= SQLITE_OPEN_READWRITE; break;
    case OpenMode::read_only: flags |= SQLITE_OPEN_READONLY; break;
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // sqlite3_open_v2 hands back a handle even on failure; own it either way.
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    const std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    throw SqliteError(rc, "open " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  Connection conn(std::move(db));
  check(conn.get(), sqlite3_busy_timeout(conn.get(), busy_timeout_ms), "busy_timeout");
  conn.exec("PRAGMA foreign_keys = ON");
  if (mode != OpenMode::read_only) {
    // The journal mode is persistent in the file; a reader inherits it.
    conn.exec("PRAGMA journal_mode = WAL");
  }
  // FULL: a commit is on disk before the writer reports it (DESIGN §3.4).
  conn.exec("PRAGMA synchronous = FULL");
  // 32 MiB of page cache per connection: the readings table carries four
  // indexes, and index pages that stay cached make both inserts and history reads cheap.
  conn.exec("PRAGMA cache_size = -32768");
  conn.exec("PRAGMA temp_store = MEMORY");
  return conn;
}

Statement Connection::prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StmtPtr stmt(raw);
    check(db_.get(), rc, "prepare");
    it = cache_.emplace(std::string(sql), std::move(stmt)).first;
  }
  // A statement still stepping belongs to an enclosing loop: using it again would reset that loop.
  assert(!sqlite3_stmt_busy(it->second.get()));
  return Statement(it->second.get());
}

void Connection::exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_.get());
    sqlite3_free(err);
    throw SqliteError(sqlite3_extended_errcode(db_.get()), msg);
  }
}

std::int64_t Connection::query_int64(const char* sql) {
  Statement s = prepare(sql);
  return s.step() ? s.int64(0) : 0;
}

}  // namespace careloop::store::detail
