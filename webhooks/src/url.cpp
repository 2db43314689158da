// What a webhook URL may be: absolute http(s) with a host, nothing secret in it.
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cctype>

#include "careloop/webhooks/webhooks.hpp"

namespace careloop::webhooks {

core::Result<Target> parse_url(std::string_view text) {
  auto bad = [](std::string why) { return core::Error::invalid("invalid webhook URL", {{"/url", std::move(why)}}); };
  if (text.empty()) return bad("url is required");
  if (text.size() > 2000) return bad("url must be at most 2000 characters");
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) return bad("url must be an absolute http:// or https:// URL (" + parsed.error().message() + ")");
  const boost::urls::url_view u = *parsed;
  std::string scheme(u.scheme());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme != "http" && scheme != "https") return bad("url must start with http:// or https://");
  if (!u.has_authority() || u.encoded_host().empty()) return bad("url must name a host");
  if (u.has_userinfo()) return bad("url must not carry a user name or password (the secret signs the requests)");
  if (u.has_fragment()) return bad("url must not have a fragment");
  Target t;
  t.https = scheme == "https";
  t.host = u.host_address();
  if (u.has_port()) {
    // port_number() wraps values above 65535, so the digits are checked here.
    const std::string_view digits = u.port();
    if (digits.empty() || digits.size() > 5 || std::stoul(std::string(digits)) == 0 ||
        std::stoul(std::string(digits)) > 65535)
      return bad("url has an invalid port (1 to 65535)");
    t.port = std::to_string(std::stoul(std::string(digits)));
  } else {
    t.port = t.https ? "443" : "80";
  }
  t.host_header = std::string(u.encoded_host_and_port());
  t.path = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (u.has_query()) t.path += "?" + std::string(u.encoded_query());
  return t;
}

}  // namespace careloop::webhooks
