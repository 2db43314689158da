#pragma once
// Routing: from a parsed request to a handler. A plain object with no socket,
// so routing and handlers are tested directly (STYLE: handle_request is a
// plain function).
//
// Patterns are matched segment by segment: "/api/v1/patients/{id}" binds
// params["id"]; a literal segment beats a parameter at the same place; a
// final "{*rest}" matches the rest of the path (possibly empty) for static
// files. Unknown path → 404, known path with another method → 405 + Allow,
// both application/problem+json. HEAD is served by the GET handler.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <any>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "careloop/server/http.hpp"
#include "careloop/server/stream.hpp"

namespace careloop::server {

namespace asio = boost::asio;

struct RequestContext {
  Request request;
  std::string path;                                  // percent-decoded, no query
  std::map<std::string, std::string, std::less<>> params;   // from {name} segments
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::string remote;                                // "ip:port" of the peer
  std::string client;                                // the client's address: the peer's, or what a trusted proxy forwarded
  std::string request_id;                            // also in X-Request-Id and the log line
  std::string route;                                 // matched pattern, "" when none
  asio::any_io_executor executor;                    // the session's strand
  std::chrono::steady_clock::time_point received_at{};
  // Set by an auth layer: the authenticated principal (its own type).
  std::any principal;
  // Set by a streaming handler (SSE); see stream.hpp.
  StreamBody stream;

  // First value of a query parameter.
  std::optional<std::string_view> query_param(std::string_view name) const;
  // A path parameter; "" when absent (the router guarantees declared ones).
  std::string_view param(std::string_view name) const;
};

using Handler = std::function<asio::awaitable<Response>(RequestContext&)>;

struct RouteInfo {
  http::verb method;
  std::string pattern;
};

// Builds a RequestContext for a request: decodes the target into path and
// query. nullopt, and the request left as it was, when the target is not a
// valid origin-form URI.
std::optional<RequestContext> make_context(Request&& request);

class Router {
 public:
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  // Throws std::invalid_argument for a malformed pattern or a duplicate
  // (method, pattern): a programmer error found at start-up.
  void add(http::verb method, std::string_view pattern, Handler handler);

  std::vector<RouteInfo> routes() const;

  struct Match {
    const Handler* handler = nullptr;    // null: no handler for the method
    std::string pattern;                 // "" when no route has this path
    std::vector<http::verb> allowed;     // methods the path accepts
  };
  // Pure lookup; fills ctx.params when the path is known.
  Match match(http::verb method, std::string_view path,
              std::map<std::string, std::string, std::less<>>& params) const;

  // Finds the handler and runs it; 404/405 problem responses otherwise.
  // Sets ctx.route and ctx.params.
  asio::awaitable<Response> dispatch(RequestContext& ctx) const;

  // Rewrites the router's own 404/405 answers for paths under `prefix`
  // (e.g. "/fhir/", whose clients expect an OperationOutcome, not
  // problem+json). The function gets the problem response and returns the
  // one to send; status and Allow must be kept.
  using RefusalFormat = std::function<Response(Response problem)>;
  void set_refusal_format(std::string prefix, RefusalFormat format);

 private:
  Response refusal(const std::string& path, Response problem) const;
  std::vector<std::pair<std::string, RefusalFormat>> refusal_formats_;
  struct Node;
  static const Node* find(const Node* node, const std::vector<std::string>& segs, std::size_t i,
                          std::map<std::string, std::string, std::less<>>& params);
  std::unique_ptr<Node> root_;
  std::vector<RouteInfo> routes_;
};

}  // namespace careloop::server
