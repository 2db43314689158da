#pragma once
// A fixed pool of read-only connections. A compute thread checks one out,
// reads, and the lease gives it back; with WAL, readers never wait for the
// writer and see the last committed transaction.
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "sqlite_handle.hpp"

namespace careloop::store::detail {

class ReadPool {
 public:
  class Lease {
   public:
    Lease(ReadPool& pool, Connection* conn) noexcept : pool_(&pool), conn_(conn) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_->give_back(conn_); }
    Connection& operator*() const noexcept { return *conn_; }
    Connection* operator->() const noexcept { return conn_; }

   private:
    ReadPool* pool_;
    Connection* conn_;
  };

  ReadPool(const std::string& path, int size, int busy_timeout_ms);

  // Waits for a free connection. Throws StoreError(unavailable) once closed.
  Lease acquire();

  // Refuses new leases, waits for the leased connections to come back and
  // closes them all. Idempotent.
  void close();

 private:
  void give_back(Connection* conn) noexcept;

  std::vector<Connection> all_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<Connection*> idle_;
  bool closed_ = false;
};

}  // namespace careloop::store::detail
