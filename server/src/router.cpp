#include "careloop/server/router.hpp"

#include <boost/url/parse.hpp>

#include "careloop/core/utf8.hpp"

#include <algorithm>
#include <stdexcept>

namespace careloop::server {

namespace {

using Params = std::map<std::string, std::string, std::less<>>;

std::vector<std::string_view> split_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
  std::vector<std::string_view> out;
  pattern.remove_prefix(1);
  while (!pattern.empty()) {
    const auto slash = pattern.find('/');
    out.push_back(pattern.substr(0, slash));
    if (slash == std::string_view::npos) break;
    pattern.remove_prefix(slash + 1);
    // A trailing '/' is a segment of its own: "/a/" and "/a" are different paths.
    if (pattern.empty()) out.emplace_back();
  }
  return out;
}

bool is_param(std::string_view seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

std::string allow_header(const std::vector<http::verb>& verbs) {
  std::string out;
  for (auto v : verbs) {
    if (!out.empty()) out += ", ";
    out += http::to_string(v);
  }
  return out;
}

}  // namespace

struct Router::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
  std::unique_ptr<Node> param;
  std::string param_name;
  std::unique_ptr<Node> wildcard;  // "{*name}": the rest of the path
  std::string wildcard_name;
  std::map<http::verb, Handler> handlers;
  std::string pattern;
};

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

void Router::add(http::verb method, std::string_view pattern, Handler handler) {
  const auto segments = split_pattern(pattern);
  Node* node = root_.get();
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto seg = segments[i];
    if (is_param(seg) && seg[1] == '*') {
      if (i + 1 != segments.size())
        throw std::invalid_argument("a {*wildcard} must be the last segment: " + std::string(pattern));
      if (!node->wildcard) {
        node->wildcard = std::make_unique<Node>();
        node->wildcard_name = std::string(seg.substr(2, seg.size() - 3));
      } else if (node->wildcard_name != seg.substr(2, seg.size() - 3)) {
        throw std::invalid_argument("conflicting wildcard names at: " + std::string(pattern));
      }
      node = node->wildcard.get();
    } else if (is_param(seg)) {
      const auto name = seg.substr(1, seg.size() - 2);
      if (!node->param) {
        node->param = std::make_unique<Node>();
        node->param_name = std::string(name);
      } else if (node->param_name != name) {
        // Two names for one position would make params depend on the route order.
        throw std::invalid_argument("conflicting parameter names at: " + std::string(pattern));
      }
      node = node->param.get();
    } else {
      if (seg.find_first_of("{}") != std::string_view::npos)
        throw std::invalid_argument("malformed route segment in: " + std::string(pattern));
      auto& child = node->literals[std::string(seg)];
      if (!child) child = std::make_unique<Node>();
      node = child.get();
    }
  }
  if (node->handlers.contains(method))
    throw std::invalid_argument("duplicate route: " + std::string(http::to_string(method)) + " " + std::string(pattern));
  node->handlers.emplace(method, std::move(handler));
  node->pattern = std::string(pattern);
  routes_.push_back({method, std::string(pattern)});
}

std::vector<RouteInfo> Router::routes() const { return routes_; }

// Depth-first: literal, then parameter, then wildcard, backtracking when a
// branch does not end on a node with handlers.
const Router::Node* Router::find(const Node* node, const std::vector<std::string>& segs, std::size_t i,
                                 Params& params) {
  if (i == segs.size()) {
    if (!node->handlers.empty()) return node;
    // "/static/{*rest}" also matches "/static" with rest = "".
    if (node->wildcard && !node->wildcard->handlers.empty()) {
      params[node->wildcard_name] = "";
      return node->wildcard.get();
    }
    return nullptr;
  }
  if (auto it = node->literals.find(segs[i]); it != node->literals.end())
    if (auto* hit = find(it->second.get(), segs, i + 1, params)) return hit;
  if (node->param && !segs[i].empty()) {
    if (auto* hit = find(node->param.get(), segs, i + 1, params)) {
      params[node->param_name] = segs[i];
      return hit;
    }
  }
  if (node->wildcard && !node->wildcard->handlers.empty()) {
    std::string rest;
    for (std::size_t j = i; j < segs.size(); ++j) {
      if (j > i) rest += '/';
      rest += segs[j];
    }
    params[node->wildcard_name] = std::move(rest);
    return node->wildcard.get();
  }
  return nullptr;
}

Router::Match Router::match(http::verb method, std::string_view path, Params& params) const {
  Match m;
  if (path.empty() || path.front() != '/') return m;
  std::vector<std::string> segs;
  for (auto s : split_pattern(path)) segs.emplace_back(s);
  Params found;
  const Node* node = find(root_.get(), segs, 0, found);
  if (!node) return m;
  params = std::move(found);
  m.pattern = node->pattern;
  for (const auto& [verb, h] : node->handlers) m.allowed.push_back(verb);
  if (node->handlers.contains(http::verb::get) && !node->handlers.contains(http::verb::head))
    m.allowed.push_back(http::verb::head);
  std::sort(m.allowed.begin(), m.allowed.end());
  auto it = node->handlers.find(method);
  if (it == node->handlers.end() && method == http::verb::head) it = node->handlers.find(http::verb::get);
  if (it != node->handlers.end()) m.handler = &it->second;
  return m;
}

asio::awaitable<Response> Router::dispatch(RequestContext& ctx) const {
  // Decoded parameters become strings that are logged, searched and echoed:
  // they must be text.
  for (const auto& [name, value] : ctx.query)
    if (!core::valid_utf8(name) || !core::valid_utf8(value))
      co_return refusal(ctx.path, problem_response(http::status::unprocessable_entity, "Invalid query",
                                                   "A query parameter is not valid UTF-8 text once decoded.",
                                                   {{"/query/" + (core::valid_utf8(name) ? name : std::string("?")),
                                                     "not valid UTF-8 text"}}));
  auto m = match(ctx.request.method(), ctx.path, ctx.params);
  ctx.route = m.pattern;
  if (m.pattern.empty())
    co_return refusal(ctx.path,
                      problem_response(http::status::not_found, "Not Found", "No resource at " + ctx.path + "."));
  if (!m.handler) {
    auto res = problem_response(http::status::method_not_allowed, "Method Not Allowed",
                                std::string(ctx.request.method_string()) + " is not allowed on " + ctx.path + ".");
    res.set(http::field::allow, allow_header(m.allowed));
    co_return refusal(ctx.path, std::move(res));
  }
  co_return co_await (*m.handler)(ctx);
}

void Router::set_refusal_format(std::string prefix, RefusalFormat format) {
  refusal_formats_.emplace_back(std::move(prefix), std::move(format));
}

Response Router::refusal(const std::string& path, Response problem) const {
  for (const auto& [prefix, format] : refusal_formats_)
    if (path.starts_with(prefix) || path + "/" == prefix) return format(std::move(problem));
  return problem;
}

std::optional<std::string_view> RequestContext::query_param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

std::string_view RequestContext::param(std::string_view name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string_view{} : std::string_view(it->second);
}

namespace {

// FHIR writes token searches as code=system|code and clients send the bar
// (and other characters RFC 3986 leaves out) unencoded in the query: encode
// them there, as browsers do, so such a target is read rather than refused.
std::string encode_query_extras(std::string target) {
  const auto q = target.find('?');
  if (q == std::string::npos) return target;
  std::string out = target.substr(0, q + 1);
  static constexpr char hex[] = "0123456789ABCDEF";
  for (std::size_t i = q + 1; i < target.size(); ++i) {
    const char c = target[i];
    if (c == '|' || c == '^' || c == '`' || c == '{' || c == '}' || c == '"' || c == '<' || c == '>' || c == '\\') {
      out += '%';
      out += hex[static_cast<unsigned char>(c) >> 4];
      out += hex[static_cast<unsigned char>(c) & 0xF];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<RequestContext> make_context(Request&& request) {
  auto target = encode_query_extras(std::string(request.target()));
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return std::nullopt;
  RequestContext ctx;
  ctx.path = parsed->path();
  if (ctx.path.empty()) ctx.path = "/";
  for (auto param : parsed->params()) ctx.query.emplace_back(param.key, param.value);
  ctx.request = std::move(request);
  return ctx;
}

}  // namespace careloop::server
