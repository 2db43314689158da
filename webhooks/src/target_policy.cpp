// Where a webhook may go: https unless allowed otherwise, and never, unless
// the operator names it, an address inside the deployment (loopback, private
// networks, link-local with the cloud metadata service, multicast, reserved
// ranges). The transport checks every resolved address at every connection.
#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "careloop/webhooks/webhooks.hpp"

namespace careloop::webhooks {
namespace {

namespace ip = boost::asio::ip;

struct Range {
  std::array<unsigned char, 16> base;  // the first bytes matter, as many as the prefix covers
  unsigned prefix = 0;                 // in bits
  std::string_view why;
};

constexpr Range v4(unsigned char a, unsigned char b, unsigned char c, unsigned char d, unsigned prefix,
                   std::string_view why) {
  return {{a, b, c, d}, prefix, why};
}

// IANA's IPv4 special-purpose registry, less what a receiver on the Internet could be; the most specific first.
constexpr std::array ranges_v4{
    v4(0, 0, 0, 0, 8, "unspecified"),
    v4(10, 0, 0, 0, 8, "private"),
    v4(100, 64, 0, 0, 10, "shared (carrier-grade NAT)"),
    v4(127, 0, 0, 0, 8, "loopback"),
    v4(169, 254, 0, 0, 16, "link-local"),
    v4(172, 16, 0, 0, 12, "private"),
    v4(192, 0, 0, 0, 24, "reserved"),
    v4(192, 0, 2, 0, 24, "documentation"),
    v4(192, 88, 99, 0, 24, "reserved"),
    v4(192, 168, 0, 0, 16, "private"),
    v4(198, 18, 0, 0, 15, "benchmarking"),
    v4(198, 51, 100, 0, 24, "documentation"),
    v4(203, 0, 113, 0, 24, "documentation"),
    v4(224, 0, 0, 0, 4, "multicast"),
    v4(255, 255, 255, 255, 32, "broadcast"),
    v4(240, 0, 0, 0, 4, "reserved"),
};

constexpr Range v6(std::array<unsigned char, 16> base, unsigned prefix, std::string_view why) {
  return {base, prefix, why};
}

// IPv6 ranges other than those that carry an IPv4 address to judge (handled before these).
constexpr std::array ranges_v6{
    v6({}, 128, "unspecified"),
    v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"),
    v6({0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "private (local NAT64)"),
    // IPv4-compatible (::a.b.c.d) and IPv4-translated forms: deprecated.
    v6({}, 8, "reserved"),
    v6({0x01, 0x00}, 64, "reserved (discard)"),
    // IETF protocol assignments, Teredo (which carries an IPv4 address) among them.
    v6({0x20, 0x01}, 23, "reserved"),
    v6({0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"),
    v6({0x20, 0x02}, 16, "6to4 (carries an IPv4 address)"),
    v6({0x3f, 0xff}, 20, "documentation"),
    v6({0xfc}, 7, "private (unique local)"),
    v6({0xfe, 0x80}, 10, "link-local"),
    v6({0xfe, 0xc0}, 10, "private (site-local)"),
    v6({0xff}, 8, "multicast"),
};

bool in(std::span<const unsigned char> bytes, const Range& r) {
  unsigned left = r.prefix;
  for (std::size_t i = 0; i < bytes.size() && left > 0; ++i) {
    const unsigned take = std::min(left, 8u);
    const auto mask = static_cast<unsigned char>(0xFF << (8 - take));
    if ((bytes[i] & mask) != (r.base[i] & mask)) return false;
    left -= take;
  }
  return true;
}

template <std::size_t N>
std::string_view first_match(std::span<const unsigned char> bytes, const std::array<Range, N>& table) {
  for (const auto& r : table)
    if (in(bytes, r)) return r.why;
  return {};
}

}  // namespace

std::string_view refused_range(const ip::address& a) noexcept {
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return first_match(b, ranges_v4);
  }
  const auto v6addr = a.to_v6();
  const auto b = v6addr.to_bytes();
  // ::ffff:a.b.c.d and 64:ff9b::a.b.c.d (NAT64) reach the IPv4 address they carry.
  constexpr std::array<unsigned char, 12> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  constexpr std::array<unsigned char, 12> nat64{0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::equal(mapped.begin(), mapped.end(), b.begin()) || std::equal(nat64.begin(), nat64.end(), b.begin()))
    return first_match(std::span<const unsigned char>(b).subspan(12), ranges_v4);
  return first_match(b, ranges_v6);
}

std::string TargetPolicy::refusal(const ip::address& a) const {
  const std::string_view why = refused_range(a);
  if (why.empty() || allow.contains(a)) return {};
  return a.to_string() + " is " + std::string(why);
}

core::Result<Target> check_url(std::string_view url, const TargetPolicy& policy) {
  auto t = parse_url(url);
  if (!t) return t;
  auto bad = [](std::string why) { return core::Error::invalid("invalid webhook URL", {{"/url", std::move(why)}}); };
  if (!t->https && !policy.allow_http)
    return bad("url must be https:// (http:// would send patient data in clear; the server allows it only with "
               "--webhook-allow-http)");
  boost::system::error_code ec;
  const auto literal = ip::make_address(t->host, ec);
  if (!ec) {
    if (auto why = policy.refusal(literal); !why.empty())
      return bad("url must not point inside the deployment: " + why +
                 " (the server allows such addresses only when --webhook-allow names them)");
  }
  return t;
}

}  // namespace careloop::webhooks
