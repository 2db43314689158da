#include "careloop/auth/login_throttle.hpp"

#include <algorithm>

namespace careloop::auth {

void LoginThrottle::bump(Counter& c, int lock_after, std::int64_t now_ms) {
  if (c.failures == 0 || now_ms - c.first_ms > policy_.window_ms) {
    c.failures = 0;
    c.first_ms = now_ms;
  }
  if (++c.failures >= lock_after) {
    c.locked_until_ms = now_ms + policy_.lock_ms;
    c.failures = 0;
  }
}

ThrottleVerdict LoginThrottle::judge(Counter& c, int slow_after, std::int64_t now_ms) const {
  ThrottleVerdict v;
  if (c.locked_until_ms > now_ms) {
    v.retry_after_ms = c.locked_until_ms - now_ms;
    return v;
  }
  if (now_ms - c.first_ms > policy_.window_ms) c.failures = 0;
  if (c.failures >= slow_after) {
    // 1 s, 2 s, 4 s ... doubling with each failure past the threshold.
    const int extra = std::min(c.failures - slow_after, 20);
    v.delay_ms = std::min<std::int64_t>(policy_.max_delay_ms, 1000LL << extra);
  }
  return v;
}

ThrottleVerdict LoginThrottle::check(const std::string& account, const std::string& address, std::int64_t now_ms) {
  std::lock_guard lock(m_);
  prune(now_ms);
  const auto a = judge(accounts_[account], policy_.account_slow_after, now_ms);
  const auto b = judge(addresses_[address], policy_.address_slow_after, now_ms);
  return {std::max(a.delay_ms, b.delay_ms), std::max(a.retry_after_ms, b.retry_after_ms)};
}

void LoginThrottle::record_failure(const std::string& account, const std::string& address, std::int64_t now_ms) {
  std::lock_guard lock(m_);
  bump(accounts_[account], policy_.account_lock_after, now_ms);
  bump(addresses_[address], policy_.address_lock_after, now_ms);
}

void LoginThrottle::record_success(const std::string& account) {
  std::lock_guard lock(m_);
  accounts_.erase(account);
}

ThrottleVerdict LoginThrottle::reserve(const std::string& account, const std::string& address, std::int64_t now_ms) {
  std::lock_guard lock(m_);
  prune(now_ms);
  auto& by_account = accounts_[account];
  auto& by_address = addresses_[address];
  const auto a = judge(by_account, policy_.account_slow_after, now_ms);
  const auto b = judge(by_address, policy_.address_slow_after, now_ms);
  const ThrottleVerdict v{std::max(a.delay_ms, b.delay_ms), std::max(a.retry_after_ms, b.retry_after_ms)};
  if (v.retry_after_ms == 0) {
    bump(by_account, policy_.account_lock_after, now_ms);
    bump(by_address, policy_.address_lock_after, now_ms);
  }
  return v;
}

void LoginThrottle::succeeded(const std::string& account, const std::string& address) {
  std::lock_guard lock(m_);
  accounts_.erase(account);
  if (auto it = addresses_.find(address); it != addresses_.end() && it->second.failures > 0) --it->second.failures;
}

void LoginThrottle::give_back(const std::string& account, const std::string& address) {
  std::lock_guard lock(m_);
  for (auto [map, key] : {std::pair{&accounts_, &account}, std::pair{&addresses_, &address}})
    if (auto it = map->find(*key); it != map->end() && it->second.failures > 0) --it->second.failures;
}

void LoginThrottle::prune(std::int64_t now_ms) {
  // Forget quiet counters now and then so a scan of usernames cannot grow memory without bound.
  if (now_ms - last_prune_ms_ < 60'000) return;
  last_prune_ms_ = now_ms;
  for (auto* map : {&accounts_, &addresses_})
    std::erase_if(*map, [&](const auto& kv) {
      return kv.second.locked_until_ms <= now_ms && now_ms - kv.second.first_ms > policy_.window_ms;
    });
}

}  // namespace careloop::auth
