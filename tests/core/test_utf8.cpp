#include <catch2/catch.hpp>

#include <string>

#include "careloop/core/utf8.hpp"

using namespace careloop;

TEST_CASE("UTF-8: well-formed text passes, the first bad byte is found") {
  CHECK(core::valid_utf8(""));
  CHECK(core::valid_utf8("plain ASCII"));
  CHECK(core::valid_utf8("血压 150/95 \xf0\x9f\xa9\xba"));
  CHECK(core::valid_utf8("\xef\xbf\xbf\xf4\x8f\xbf\xbf"));  // a noncharacter and U+10FFFF are text
  CHECK(core::first_invalid_utf8("ab\x80") == 2u);           // a lone continuation
  CHECK(core::first_invalid_utf8("a\xc3") == 1u);            // cut short
  CHECK(core::first_invalid_utf8("\xe6\xac\xa7\xe5\xa7") == 3u);
  CHECK(core::first_invalid_utf8("\xc0\xaf") == 0u);         // overlong '/'
  CHECK(core::first_invalid_utf8("\xe0\x80\xaf") == 0u);     // overlong, three bytes
  CHECK(core::first_invalid_utf8("\xed\xa0\x80") == 0u);     // a surrogate
  CHECK(core::first_invalid_utf8("\xf4\x90\x80\x80") == 0u); // past U+10FFFF
  CHECK(core::first_invalid_utf8("caf\xe9") == 3u);          // Latin-1
  CHECK(core::first_invalid_utf8("\xff") == 0u);
}

TEST_CASE("UTF-8: lengths count characters and prefixes end between them") {
  const std::string device = "欧姆龙电子血压计上臂式智能蓝牙版型号一二三四";
  CHECK(device.size() == 66);
  CHECK(core::utf8_length(device) == 22);
  CHECK(core::utf8_prefix(device, 64) == device);
  CHECK(core::utf8_prefix(device, 3) == "欧姆龙");
  CHECK(core::utf8_prefix(device, 0).empty());
  CHECK(core::utf8_prefix("ab\xf0\x9f\xa9\xba" "c", 3) == "ab\xf0\x9f\xa9\xba");
  for (std::size_t n = 0; n <= 22; ++n) CHECK(core::valid_utf8(core::utf8_prefix(device, n)));
}
