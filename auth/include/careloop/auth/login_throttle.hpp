#pragma once
// Slows and then refuses repeated failed logins, per account and per
// address (DESIGN §4). In memory: a restart forgets, which only ever lets a
// legitimate user back in sooner. Thread-safe; time is passed in.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace careloop::auth {

struct ThrottlePolicy {
  std::int64_t window_ms = 15 * 60 * 1000;      // failures older than this are forgotten
  int account_slow_after = 3;                   // failures before answers are delayed
  int account_lock_after = 10;                  // failures before the account is refused
  int address_slow_after = 10;                  // an address may front a whole clinic (NAT)
  int address_lock_after = 50;
  std::int64_t lock_ms = 15 * 60 * 1000;        // how long a refusal lasts
  std::int64_t max_delay_ms = 8000;
};

struct ThrottleVerdict {
  std::int64_t delay_ms = 0;        // wait this long before checking the password
  std::int64_t retry_after_ms = 0;  // > 0: refuse now with 429 and Retry-After
};

class LoginThrottle {
 public:
  explicit LoginThrottle(ThrottlePolicy policy = {}) : policy_(policy) {}

  ThrottleVerdict check(const std::string& account, const std::string& address, std::int64_t now_ms);
  void record_failure(const std::string& account, const std::string& address, std::int64_t now_ms);
  // A successful login clears the account's failures (not the address's).
  void record_success(const std::string& account);

  // check() and record_failure() in one step: an attempt that may go ahead
  // is counted as failed before its password is checked, so attempts made at
  // the same moment (a check takes ~0.1 s) see each other and no more than
  // the limit ever reach the check. Call succeeded() when it was right.
  ThrottleVerdict reserve(const std::string& account, const std::string& address, std::int64_t now_ms);
  // The reserved attempt was right: the account's failures are cleared and
  // the address's count gives back the one reserve() took.
  void succeeded(const std::string& account, const std::string& address);
  // The reserved attempt was not a guess after all (the server could not
  // check it, or it failed for another reason): both counts give it back.
  void give_back(const std::string& account, const std::string& address);

 private:
  struct Counter {
    int failures = 0;
    std::int64_t first_ms = 0;
    std::int64_t locked_until_ms = 0;
  };
  void bump(Counter& c, int lock_after, std::int64_t now_ms);
  ThrottleVerdict judge(Counter& c, int slow_after, std::int64_t now_ms) const;
  void prune(std::int64_t now_ms);

  ThrottlePolicy policy_;
  std::mutex m_;
  std::unordered_map<std::string, Counter> accounts_, addresses_;
  std::int64_t last_prune_ms_ = 0;
};

}  // namespace careloop::auth
