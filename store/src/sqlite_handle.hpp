#pragma once
// RAII over the SQLite C API: connections and statements live in unique_ptrs
// with their free functions as deleters, and every SQLite failure becomes a
// SqliteError here so that callers read top to bottom. The store's public
// functions turn SqliteError into core::Error (to_error) at the boundary.
#include <sqlite3.h>

#include <cassert>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "careloop/core/result.hpp"
#include "careloop/store/store.hpp"

namespace careloop::store::detail {

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Maps a SQLite result code to the error a caller can act on: a unique key
// taken is a conflict, a missing parent row is not_found, a CHECK is invalid,
// the rest (I/O, disk full, corruption) is internal.
core::Errc errc_of(int sqlite_rc) noexcept;

// A failed SQLite call, with its extended result code.
class SqliteError : public StoreError {
 public:
  SqliteError(int rc, const std::string& what) : StoreError(errc_of(rc), what), rc_(rc) {}
  int sqlite_code() const noexcept { return rc_; }

 private:
  int rc_;
};

inline core::Error to_error(const StoreError& e) { return {e.code(), e.what(), {}}; }

// Throws SqliteError when rc is not SQLITE_OK (nor one of the "ok" codes).
void check(sqlite3* db, int rc, std::string_view context);

// A borrowed prepared statement. Binding is by position (1-based) or all at
// once; the statement is reset and its bindings cleared on destruction, so a
// cached statement is ready for the next caller.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  Statement& bind(int i, std::int64_t v);
  Statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Statement& bind(int i, bool v) { return bind(i, static_cast<std::int64_t>(v ? 1 : 0)); }
  Statement& bind(int i, double v);
  Statement& bind(int i, std::string_view v);
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, std::nullopt_t);
  template <class T>
  Statement& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind(i, std::nullopt);
  }
  Statement& bind_blob(int i, std::string_view bytes);

  // Binds every argument in order, starting at parameter 1.
  template <class... Args>
  Statement& bind_all(const Args&... args) {
    int i = 0;
    (bind(++i, args), ...);
    return *this;
  }

  // true: a row is ready; false: done. Throws SqliteError on failure.
  bool step();
  // Steps a statement that returns no rows.
  void run();

  bool is_null(int col) const noexcept { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::int64_t int64(int col) const noexcept { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const noexcept { return sqlite3_column_double(stmt_, col); }
  std::string text(int col) const;
  // The column's text without a copy: valid until the next step, reset or column call.
  std::string_view view(int col) const noexcept {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string_view();
  }
  std::string blob(int col) const;
  // The bytes without a copy: valid until the next step or reset.
  std::string_view blob_view(int col) const;
  std::optional<std::int64_t> opt_int64(int col) const {
    return is_null(col) ? std::nullopt : std::optional<std::int64_t>(int64(col));
  }
  std::optional<double> opt_real(int col) const {
    return is_null(col) ? std::nullopt : std::optional<double>(real(col));
  }

 private:
  sqlite3_stmt* stmt_;
};

enum class OpenMode { read_write_create, read_write, read_only };

// One SQLite connection and its cache of prepared statements. Not
// thread-safe: one thread uses a connection at a time (the writer, or a
// reader that checked it out of the pool).
class Connection {
 public:
  // Opens and applies the pragmas every CareLoop connection runs with.
  static Connection open(const std::string& path, OpenMode mode, int busy_timeout_ms);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  ~Connection() = default;

  // A statement prepared once (SQLITE_PREPARE_PERSISTENT) and cached by its
  // text. Do not hold two Statements of the same text at once.
  Statement prepare(std::string_view sql);
  // Runs one or more statements without results (DDL, pragmas, BEGIN).
  void exec(const char* sql);
  // The first column of the first row of a one-shot query.
  std::int64_t query_int64(const char* sql);

  std::int64_t last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_.get()); }
  int changes() const noexcept { return sqlite3_changes(db_.get()); }
  bool in_transaction() const noexcept { return sqlite3_get_autocommit(db_.get()) == 0; }
  sqlite3* get() const noexcept { return db_.get(); }

 private:
  explicit Connection(DbPtr db) : db_(std::move(db)) {}

  // Declared first so it is destroyed last, after the cached statements.
  DbPtr db_;
  std::unordered_map<std::string, StmtPtr> cache_;
};

}  // namespace careloop::store::detail
