#include "careloop/auth/password.hpp"

#include <sodium.h>

#include <array>
#include <cstdio>
#include <stdexcept>

#include "careloop/core/thread_role.hpp"

namespace careloop::auth {

void init() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

core::Result<std::string> hash_password(std::string_view password) {
  core::require_blocking_allowed("argon2id hash");
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str(out.data(), password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    return core::Error::internal("password hashing ran out of memory");
  return std::string(out.data());
}

bool verify_password(std::string_view stored_hash, std::string_view password) {
  core::require_blocking_allowed("argon2id verify");
  // crypto_pwhash_str_verify needs a NUL-terminated hash.
  const std::string h(stored_hash);
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

core::Status check_password_rules(std::string_view password) {
  if (password.size() < 8) return core::Error::invalid("a password needs at least 8 characters");
  if (password.size() > 256) return core::Error::invalid("a password may have at most 256 characters");
  return core::ok_status();
}

std::string new_token() {
  std::array<unsigned char, 32> raw{};
  randombytes_buf(raw.data(), raw.size());
  std::array<char, sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)> out{};
  sodium_bin2base64(out.data(), out.size(), raw.data(), raw.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string(out.data());
}

std::string token_digest(std::string_view token) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(token.data()), token.size());
  std::array<char, crypto_hash_sha256_BYTES * 2 + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return std::string(hex.data());
}

std::string new_activation_code() {
  static constexpr char alphabet[] = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";  // 31 symbols
  std::string code;
  for (int i = 0; i < 10; ++i) code += alphabet[randombytes_uniform(sizeof alphabet - 1)];
  return code;
}

}  // namespace careloop::auth
