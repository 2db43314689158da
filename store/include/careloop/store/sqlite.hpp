#pragma once
// The SQLite backend: how a database file is opened, and what only the
// embedded single-file store offers besides Store (an online backup to a
// file, SQLite's integrity check, the one writer's figures).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/store/store.hpp"

namespace careloop::store {

struct SqliteOptions {
  std::string path;            // database file; created if missing
  int read_connections = 4;    // pool of read-only connections
  int max_batch_jobs = 1024;   // most write jobs folded into one transaction
  bool create_if_missing = true;
  int busy_timeout_ms = 5000;  // how long a connection waits for another process's lock
};

// Figures the server exports on /metrics.
struct WriterStats {
  std::uint64_t queue_depth = 0;          // jobs waiting now
  std::uint64_t transactions = 0;         // committed so far
  std::uint64_t jobs = 0;                 // jobs committed so far
  std::uint64_t failed_jobs = 0;          // rolled back (their own error, or a failed commit)
  // Histograms: batch size (jobs per commit) and commit duration (seconds).
  std::vector<double> batch_size_bounds;  // upper bounds, ascending
  std::vector<std::uint64_t> batch_size_counts;  // cumulative per bound, last = +Inf
  double batch_size_sum = 0;
  std::vector<double> commit_seconds_bounds;
  std::vector<std::uint64_t> commit_seconds_counts;
  double commit_seconds_sum = 0;
};

class SqliteStore : public Store {
 public:
  ~SqliteStore() override = default;

  // Online backup (SQLite backup API or the engine's equivalent) to a new
  // file; a conflict if the file exists.
  virtual core::Status backup_to(const std::string& path) = 0;
  virtual core::Status integrity_check() = 0;
  virtual WriterStats writer_stats() const = 0;
};

// Opens (creating if allowed) and migrates a SQLite database. A database
// whose schema is newer than this build is refused (Errc::invalid).
core::Result<std::unique_ptr<SqliteStore>> open_sqlite(const SqliteOptions& options);

// The schema version this build migrates to.
int latest_schema_version();

}  // namespace careloop::store
