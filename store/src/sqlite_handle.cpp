#include "sqlite_handle.hpp"

#include <string>

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
      return core::Errc::internal;
  }
}

void check(sqlite3* db, int rc, std::string_view context) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  std::string what(context);
  what += ": ";
  what += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw SqliteError(db ? sqlite3_extended_errcode(db) : rc, what);
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
