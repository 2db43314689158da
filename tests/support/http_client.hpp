#pragma once
// A small blocking HTTP/1.1 client over a real loopback socket, for tests.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

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
  HttpClient(std::string host, unsigned short port);
  ~HttpClient();

  // One request on a keep-alive connection (reconnects when needed).
  // Returns nullopt when the connection failed or the answer never came.
  std::optional<HttpResult> request(http::verb method, const std::string& target, const std::string& body = "",
                                    const std::string& bearer = "", const std::string& content_type = "application/json");
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
  boost::asio::io_context ioc_;
  std::optional<boost::asio::ip::tcp::socket> socket_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace careloop::testing
