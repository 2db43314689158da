// webhooks/src/signature.cpp: HMAC-SHA256 against RFC 4231, the signature
// header (checked with OpenSSL's HMAC, as a receiver would), and the back-off schedule.
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "careloop/webhooks/webhooks.hpp"

using namespace careloop::webhooks;
using std::chrono::milliseconds;

namespace {
std::string bytes(std::size_t n, unsigned char b) { return std::string(n, static_cast<char>(b)); }
}  // namespace

TEST_CASE("HMAC-SHA256 gives the RFC 4231 test vectors") {
  // RFC 4231 §4.2–4.8 (test case 5, a truncated output, does not apply).
  CHECK(hmac_sha256_hex(bytes(20, 0x0b), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmac_sha256_hex(bytes(20, 0xaa), bytes(50, 0xdd)) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  std::string key4;
  for (int i = 1; i <= 25; ++i) key4.push_back(static_cast<char>(i));
  CHECK(hmac_sha256_hex(key4, bytes(50, 0xcd)) == "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  // Keys longer than the block are hashed first.
  CHECK(hmac_sha256_hex(bytes(131, 0xaa), "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(hmac_sha256_hex(bytes(131, 0xaa),
                        "This is a test using a larger than block-size key and a larger than block-size data. The key "
                        "needs to be hashed before being used by the HMAC algorithm.") ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST_CASE("the signature header signs \"<t>.<event id>.<body>\"") {
  // Expected value from Python's hmac module: hmac.new(secret, b"1764064800.42." + body, sha256).
  CHECK(signature_header("whsec-0123456789abcdef", 1764064800, 42, R"({"event":"alert.opened"})") ==
        "t=1764064800,v2=7841ad3bc4635c05d11d89eecaff82a31fcb5aeacaee2483cb2c65e2e71614d8");
  // Another instant, another signature: a replayed body with a new t does not verify.
  CHECK(signature_header("whsec-0123456789abcdef", 1764064801, 42, R"({"event":"alert.opened"})") !=
        signature_header("whsec-0123456789abcdef", 1764064800, 42, R"({"event":"alert.opened"})"));
}

TEST_CASE("a receiver verifies the event id it dedups on with any HMAC: OpenSSL's, over \"<t>.<id>.<body>\"") {
  const std::string secret = "clinic-gateway-secret-0123", body = R"({"event":"alert.opened","alert":{"id":7}})";
  const std::string header = signature_header(secret, 1764064800, 1001, body);
  auto openssl_hmac = [&](const std::string& message) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    REQUIRE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                 reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &n));
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < n; ++i) hex += {digits[mac[i] >> 4], digits[mac[i] & 15]};
    return hex;
  };
  CHECK(header == "t=1764064800,v2=" + openssl_hmac("1764064800.1001." + body));
  // The same body and time under another event id: the signature does not carry over.
  CHECK(header.substr(header.find("v2=") + 3) != openssl_hmac("1764064800.1002." + body));
  CHECK(signature_header(secret, 1764064800, 1002, body) != header);
}

TEST_CASE("back-off doubles from the first delay to the cap, jittered into [d/2, d]") {
  const Backoff b{milliseconds(1000), milliseconds(300'000)};
  // u = 1: the whole delay.
  CHECK(backoff_delay(b, 1, 1.0) == milliseconds(1000));
  CHECK(backoff_delay(b, 2, 1.0) == milliseconds(2000));
  CHECK(backoff_delay(b, 3, 1.0) == milliseconds(4000));
  CHECK(backoff_delay(b, 9, 1.0) == milliseconds(256'000));
  CHECK(backoff_delay(b, 10, 1.0) == milliseconds(300'000));  // 512 s capped at 5 min
  CHECK(backoff_delay(b, 1000, 1.0) == milliseconds(300'000));
  // u = 0: half of it; in between, in between.
  CHECK(backoff_delay(b, 1, 0.0) == milliseconds(500));
  CHECK(backoff_delay(b, 4, 0.0) == milliseconds(4000));
  CHECK(backoff_delay(b, 4, 0.5) == milliseconds(6000));
  CHECK(backoff_delay(b, 20, 0.0) == milliseconds(150'000));
  // Out-of-range inputs stay in range.
  CHECK(backoff_delay(b, 0, 1.0) == milliseconds(1000));
  CHECK(backoff_delay(b, 3, 7.0) == milliseconds(4000));
}
