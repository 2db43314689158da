// Signing a webhook delivery (HMAC-SHA256, libsodium) and the retry schedule.
#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "careloop/webhooks/webhooks.hpp"

namespace careloop::webhooks {

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  // sodium_init is idempotent and thread-safe; -1 only when the library cannot start at all.
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  // The streaming API takes a key of any length (hashed first when longer than a block, as RFC 2104 says).
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&state, mac);
  char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  sodium_memzero(&state, sizeof state);
  return std::string(hex, 2 * crypto_auth_hmacsha256_BYTES);
}

std::string signature_header(std::string_view secret, std::int64_t unix_s, std::int64_t event_id,
                             std::string_view body) {
  // The event id is signed too: a captured body must not be replayable under another id (receivers dedup on it).
  const std::string t = std::to_string(unix_s);
  const std::string id = std::to_string(event_id);
  std::string signed_text;
  signed_text.reserve(t.size() + 1 + id.size() + 1 + body.size());
  signed_text.append(t).append(".").append(id).append(".").append(body);
  return "t=" + t + ",v2=" + hmac_sha256_hex(secret, signed_text);
}

std::chrono::milliseconds backoff_delay(const Backoff& b, int attempts, double u) noexcept {
  const double initial = static_cast<double>(std::max<std::int64_t>(1, b.initial.count()));
  const double cap = static_cast<double>(std::max(b.initial.count(), b.max.count()));
  // 2^62 is far past any cap; the exponent is bounded so the double stays finite.
  const int doublings = std::clamp(attempts - 1, 0, 62);
  const double full = std::min(cap, initial * std::ldexp(1.0, doublings));
  const double jittered = full / 2 + std::clamp(u, 0.0, 1.0) * full / 2;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(jittered)));
}

}  // namespace careloop::webhooks
