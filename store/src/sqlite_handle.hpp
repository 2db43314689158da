#pragma once
// RAII over the SQLite C API: connections and statements live in unique_ptrs
// with their free functions as deleters, and every SQLite failure becomes a
// SqliteError here so that callers read top to bottom. The store's public
// functions turn SqliteError into core::Error (to_error) at the boundary.
// Row reads a result row's columns in order (or by name) with their types
// checked, for the row mappers.
#include <sqlite3.h>

#include <cassert>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
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

  // The column's storage class in this row (SQLITE_INTEGER, SQLITE_FLOAT,
  // SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL), read before any value of it.
  int type(int col) const noexcept { return sqlite3_column_type(stmt_, col); }
  int column_count() const noexcept { return sqlite3_column_count(stmt_); }
  // The column's name as the SELECT gives it (its AS alias, else the column); null past the end.
  const char* column_name(int col) const noexcept { return sqlite3_column_name(stmt_, col); }
  // The statement's SQL text, for messages.
  std::string sql() const { return sqlite3_sql(stmt_) ? sqlite3_sql(stmt_) : ""; }

 private:
  sqlite3_stmt* stmt_;
};

// A cursor over the current row's columns, for row mappers: each read takes
// the next column in the SELECT's order (or the one `at` names) and checks
// its type, so that a mapper reads like the SELECT it maps and a column
// added, dropped or moved in one but not the other fails at once, naming the
// column, instead of shifting every value after it:
//   Row r(s);
//   a.id = r.int64();
//   a.note = r.opt_text().value_or("");
// A value of the wrong storage class (NULL where one is required, text where
// a number is) throws StoreError(internal). INTEGER reads as a real (SQLite
// returns whole numbers of REAL expressions that way); nothing else converts.
// Text and blob views are valid until the statement steps again.
class Row {
 public:
  explicit Row(const Statement& s, int first = 0) noexcept : s_(s), col_(first) {}

  std::int64_t int64();
  std::optional<std::int64_t> opt_int64();
  int int32() { return static_cast<int>(int64()); }
  bool boolean() { return int64() != 0; }
  double real();
  std::optional<double> opt_real();
  std::string text() { return std::string(view()); }
  std::string_view view();
  std::optional<std::string> opt_text();
  std::string blob() { return std::string(blob_view()); }
  std::string_view blob_view();
  std::optional<std::string> opt_blob();
  std::optional<std::string_view> opt_blob_view();
  // An enum stored by its wire name, read with its parser (core::parse_role,
  // ...); a name the parser does not know throws StoreError(internal).
  template <class Parse>
  auto enumeration(Parse parse) -> typename std::invoke_result_t<Parse, std::string_view>::value_type {
    const int col = col_;
    const std::string_view name = view();
    if (auto e = parse(name)) return *e;
    unknown(col, name);
  }
  template <class Parse>
  auto opt_enumeration(Parse parse) -> std::invoke_result_t<Parse, std::string_view> {
    if (null_next()) {
      skip();
      return std::nullopt;
    }
    return enumeration(parse);
  }
  // Whether the next column is NULL (it is not consumed).
  bool null_next() const noexcept { return s_.is_null(col_); }
  void skip(int columns = 1) noexcept { col_ += columns; }

  // Moves to the column of this name (as the SELECT names it: the column, or
  // its AS alias); throws StoreError(internal) when there is none.
  Row& at(std::string_view name);
  int column() const noexcept { return col_; }

 private:
  // The index of the next column after checking its storage class
  // (SQLITE_INTEGER, ...; `or_null` also accepts NULL).
  int take(int type, bool or_null);
  [[noreturn]] void mismatch(int col, int type) const;
  [[noreturn]] void unknown(int col, std::string_view value) const;

  const Statement& s_;
  int col_;
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
