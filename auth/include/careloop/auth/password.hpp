#pragma once
// Argon2id password hashing and bearer tokens (DESIGN §4, Security).
// Hashing is deliberately slow: call it from the compute pool, never on an
// I/O thread (it checks).
#include <string>
#include <string_view>

#include "careloop/core/result.hpp"

namespace careloop::auth {

// Must be called once before any other function (initialises libsodium).
void init();

// Argon2id hash in libsodium's self-describing string form ($argon2id$v=19$...).
core::Result<std::string> hash_password(std::string_view password);
bool verify_password(std::string_view stored_hash, std::string_view password);

// Rules for a new password; the message says what to change.
core::Status check_password_rules(std::string_view password);

// 256 random bits, URL-safe base64 without padding.
std::string new_token();
// Hex SHA-256 of a token: the only form in which tokens are stored.
std::string token_digest(std::string_view token);

// A short code a clinic hands a patient to activate an account: 10 characters
// from an alphabet without look-alikes (no 0/O, 1/I/L), about 50 bits.
std::string new_activation_code();

}  // namespace careloop::auth
