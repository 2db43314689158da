#pragma once
// Behind a reverse proxy every connection comes from the proxy: the client's
// address (for the login throttle, the audit log and the request log) is
// read from Forwarded (RFC 7239) or X-Forwarded-For, but only when the peer
// is a proxy the operator named (--trusted-proxy CIDR...); from anyone else
// those headers are ignored, since a client can write whatever it likes.
#include <boost/asio/ip/address.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/server/http.hpp"

namespace careloop::server {

// A set of addresses given as CIDR blocks: the trusted proxies, the hosts
// that may read /metrics.
class AddressSet {
 public:
  AddressSet() = default;
  // "10.0.0.0/8", "192.0.2.7", "::1/128", "fd00::/8"; an error names the bad one.
  static core::Result<AddressSet> parse(const std::vector<std::string>& cidrs);

  bool empty() const noexcept { return nets_.empty(); }
  bool contains(const boost::asio::ip::address& a) const noexcept;
  bool contains(std::string_view address) const noexcept;

  // The client of a request that arrived from `peer`, this set being the
  // trusted proxies. From a trusted proxy: the hops it lists, read from the
  // right, until the first one that is not itself a trusted proxy (a proxy
  // may forward another's list); a hop that is not an address ends the walk
  // at the last trusted one. Otherwise: the peer itself.
  std::string client_address(const boost::asio::ip::address& peer, const Request& request) const;

 private:
  struct Net {
    boost::asio::ip::address base;
    unsigned prefix = 0;
  };
  std::vector<Net> nets_;
};

}  // namespace careloop::server
