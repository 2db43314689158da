#pragma once
// A small blocking HTTP/1.1 client over a real loopback socket, for tests.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <chrono>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace careloop::testing {

namespace http = boost::beast::http;

struct HttpResult {
  unsigned status = 0;
  std::string body;
  http::fields headers;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

class HttpClient {
 public:
  // Each request (connect, write, read) must finish within `timeout`, or it
  // fails (nullopt) and the connection is closed: a hung server fails the
  // test instead of hanging it.
  HttpClient(std::string host, unsigned short port, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~HttpClient();

  // One request on a keep-alive connection (reconnects when needed). A
  // request is sent again, once, only when a reused idle connection turns out
  // to have been closed by the server before it read anything; a request on a
  // fresh connection is never repeated (a POST must not be stored twice by
  // the client's doing). Returns nullopt when the connection failed, the
  // answer never came, or the time ran out.
  std::optional<HttpResult> request(http::verb method, const std::string& target, const std::string& body = "",
                                    const std::string& bearer = "", const std::string& content_type = "application/json",
                                    const std::vector<std::pair<std::string, std::string>>& headers = {});
  std::optional<HttpResult> get(const std::string& target, const std::string& bearer = "") {
    return request(http::verb::get, target, "", bearer);
  }
  std::optional<HttpResult> post_json(const std::string& target, const nlohmann::json& body, const std::string& bearer = "") {
    return request(http::verb::post, target, body.dump(), bearer);
  }
  void close();

 private:
  bool connect();
  std::string host_;
  unsigned short port_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context ioc_;
  std::optional<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace careloop::testing
