// care/src/library.cpp: the server's protocol set, and the refusal of an
// invalid folder with the errors `careloop protocols check` prints.
#include <catch2/catch.hpp>

#include "careloop/care/care.hpp"

using namespace careloop;
using namespace careloop::care;

TEST_CASE("the library loads the default protocol of each programme") {
  auto lib = ProtocolLibrary::load(CARELOOP_PROTOCOL_DIR);
  REQUIRE(lib.ok());
  REQUIRE((*lib)->set().protocols().size() == 2);
  CHECK((*lib)->rule("cn-hypertension-primary-2020", "bp_critical_high") != nullptr);
  CHECK((*lib)->rule("cn-hypertension-primary-2020", "no_such_rule") == nullptr);
}

TEST_CASE("an invalid folder or an unknown protocol id is refused") {
  auto bad = ProtocolLibrary::load(CARELOOP_INVALID_DIR);
  REQUIRE_FALSE(bad.ok());
  for (const auto& e : protocols::check_directory(CARELOOP_INVALID_DIR))
    CHECK(bad.error().message.find(protocols::format(e)) != std::string::npos);
  auto unknown = ProtocolLibrary::load(CARELOOP_PROTOCOL_DIR, {"no-such-protocol"});
  REQUIRE_FALSE(unknown.ok());
  // Two hypertension protocols at once cannot both decide.
  auto two = ProtocolLibrary::load(CARELOOP_PROTOCOL_DIR, {"cn-hypertension-primary-2020", "who-hearts-hypertension-2021"});
  CHECK_FALSE(two.ok());
}
