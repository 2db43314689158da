#include "careloop/server/proxy.hpp"

#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

namespace careloop::server {
namespace {

namespace ip = boost::asio::ip;

// The address's bytes, IPv4-mapped IPv6 read as IPv4 (a dual-stack socket).
std::vector<unsigned char> bytes_of(ip::address a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = ip::make_address_v4(ip::v4_mapped, a.to_v6());
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return {b.begin(), b.end()};
  }
  const auto b = a.to_v6().to_bytes();
  return {b.begin(), b.end()};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One hop as written: "203.0.113.7", "203.0.113.7:4711", "[2001:db8::1]:4711",
// "2001:db8::1", a quoted Forwarded value; nullopt for "unknown", obfuscated
// names and anything else that is not an address.
std::optional<ip::address> hop_address(std::string_view v) {
  v = trim(v);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (!v.empty() && v.front() == '[') {
    const auto close = v.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    v = v.substr(1, close - 1);
  } else if (std::count(v.begin(), v.end(), ':') == 1) {
    v = v.substr(0, v.find(':'));  // IPv4 with a port
  }
  boost::system::error_code ec;
  const auto a = ip::make_address(std::string(v), ec);
  if (ec) return std::nullopt;
  return a;
}

// The hops a proxy lists, in order (client first): Forwarded's for= values
// when the header is there, else X-Forwarded-For's; every header line.
std::vector<std::string_view> listed_hops(const Request& request) {
  std::vector<std::string_view> hops;
  auto split = [&](std::string_view line, bool forwarded) {
    while (!line.empty()) {
      const auto comma = line.find(',');
      auto element = line.substr(0, comma);
      line = comma == std::string_view::npos ? std::string_view{} : line.substr(comma + 1);
      if (!forwarded) {
        hops.push_back(element);
        continue;
      }
      // forwarded-element: pairs separated by ';', the one that matters is for=.
      bool found = false;
      while (!element.empty()) {
        const auto semi = element.find(';');
        auto pair = trim(element.substr(0, semi));
        element = semi == std::string_view::npos ? std::string_view{} : element.substr(semi + 1);
        if (pair.size() > 4 && boost::beast::iequals(pair.substr(0, 4), "for=")) {
          hops.push_back(pair.substr(4));
          found = true;
        }
      }
      if (!found) hops.push_back("unknown");
    }
  };
  bool any_forwarded = false;
  for (auto [it, end] = request.equal_range(http::field::forwarded); it != end; ++it) {
    split(it->value(), true);
    any_forwarded = true;
  }
  if (!any_forwarded)
    for (auto [it, end] = request.equal_range("X-Forwarded-For"); it != end; ++it) split(it->value(), false);
  return hops;
}

}  // namespace

core::Result<AddressSet> AddressSet::parse(const std::vector<std::string>& cidrs) {
  AddressSet out;
  for (const auto& text : cidrs) {
    const auto slash = text.find('/');
    boost::system::error_code ec;
    const auto base = ip::make_address(text.substr(0, slash), ec);
    if (ec) return core::Error::invalid(text + ": not an IP address or CIDR block");
    const unsigned bits = base.is_v4() ? 32 : 128;
    unsigned prefix = bits;
    if (slash != std::string::npos) {
      const auto digits = std::string_view(text).substr(slash + 1);
      auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (err != std::errc() || end != digits.data() + digits.size() || prefix > bits)
        return core::Error::invalid(text + ": the prefix must be 0 to " + std::to_string(bits));
    }
    out.nets_.push_back({base, prefix});
  }
  return out;
}

bool AddressSet::contains(const ip::address& a) const noexcept {
  const auto bytes = bytes_of(a);
  for (const auto& n : nets_) {
    const auto base = bytes_of(n.base);
    if (base.size() != bytes.size()) continue;
    unsigned left = n.prefix;
    bool match = true;
    for (std::size_t i = 0; i < base.size() && left > 0 && match; ++i) {
      const unsigned take = std::min(left, 8u);
      const auto mask = static_cast<unsigned char>(0xFF << (8 - take));
      match = (base[i] & mask) == (bytes[i] & mask);
      left -= take;
    }
    if (match) return true;
  }
  return false;
}

bool AddressSet::contains(std::string_view address) const noexcept {
  boost::system::error_code ec;
  const auto a = ip::make_address(std::string(address), ec);
  return !ec && contains(a);
}

std::string AddressSet::client_address(const ip::address& peer, const Request& request) const {
  ip::address client = peer;
  if (!contains(peer)) return client.to_string();
  const auto hops = listed_hops(request);
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    const auto a = hop_address(*it);
    if (!a) break;  // not an address: trust stops at the last proxy
    client = *a;
    if (!contains(*a)) break;
  }
  return client.to_string();
}

}  // namespace careloop::server
