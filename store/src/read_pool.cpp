#include "read_pool.hpp"

#include "careloop/core/thread_role.hpp"

namespace careloop::store::detail {

ReadPool::ReadPool(const std::string& path, int size, int busy_timeout_ms) {
  const int n = size > 0 ? size : 1;
  all_.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) all_.push_back(Connection::open(path, OpenMode::read_only, busy_timeout_ms));
  for (auto& c : all_) idle_.push_back(&c);
}

ReadPool::Lease ReadPool::acquire() {
  core::require_blocking_allowed("store read");
  std::unique_lock lock(mutex_);
  returned_.wait(lock, [this] { return closed_ || !idle_.empty(); });
  if (closed_) throw StoreError(core::Errc::unavailable, "the store is closed");
  Connection* c = idle_.back();
  idle_.pop_back();
  return Lease(*this, c);
}

void ReadPool::give_back(Connection* conn) noexcept {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(conn);
  }
  // Both a waiting reader and a waiting close() may care.
  returned_.notify_all();
}

void ReadPool::close() {
  std::unique_lock lock(mutex_);
  closed_ = true;
  returned_.notify_all();
  returned_.wait(lock, [this] { return idle_.size() == all_.size(); });
  idle_.clear();
  all_.clear();
}

}  // namespace careloop::store::detail
