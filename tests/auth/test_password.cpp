#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <set>

#include "careloop/auth/password.hpp"

using namespace careloop;

TEST_CASE("Argon2id hashes verify only the right password") {
  auth::init();
  auto h = auth::hash_password("correct horse battery");
  REQUIRE(h.ok());
  CHECK(h->rfind("$argon2id$", 0) == 0);
  CHECK(auth::verify_password(*h, "correct horse battery"));
  CHECK_FALSE(auth::verify_password(*h, "correct horse batterY"));
  CHECK_FALSE(auth::verify_password("garbage", "x"));
  auto h2 = auth::hash_password("correct horse battery");
  CHECK(*h != *h2);  // salted
}

TEST_CASE("tokens are 256 random bits and stored only as digests") {
  auth::init();
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = auth::new_token();
    CHECK(t.size() == 43);  // 32 bytes in unpadded base64
    CHECK(seen.insert(t).second);
  }
  CHECK(auth::token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto code = auth::new_activation_code();
  CHECK(code.size() == 10);
  CHECK(code.find_first_of("01OIL") == std::string::npos);
}

TEST_CASE("password rules") {
  CHECK_FALSE(auth::check_password_rules("short").ok());
  CHECK(auth::check_password_rules("long enough").ok());
  CHECK_FALSE(auth::check_password_rules(std::string(300, 'a')).ok());
}
