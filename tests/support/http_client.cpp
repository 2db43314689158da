#include "http_client.hpp"

#include <boost/asio/connect.hpp>

namespace careloop::testing {

HttpClient::HttpClient(std::string host, unsigned short port) : host_(std::move(host)), port_(port) {}
HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (socket_) {
    boost::system::error_code ec;
    socket_->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    socket_->close(ec);
    socket_.reset();
  }
  buffer_.clear();
}

bool HttpClient::connect() {
  close();
  boost::system::error_code ec;
  socket_.emplace(ioc_);
  socket_->connect({boost::asio::ip::make_address(host_), port_}, ec);
  if (ec) {
    socket_.reset();
    return false;
  }
  return true;
}

std::optional<HttpResult> HttpClient::request(http::verb method, const std::string& target, const std::string& body,
                                              const std::string& bearer, const std::string& content_type) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, host_);
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  if (!body.empty() || method == http::verb::post || method == http::verb::put) {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.prepare_payload();
  // A kept-alive connection may have been closed by the server: retry once on a fresh one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!socket_ && !connect()) return std::nullopt;
    boost::system::error_code ec;
    http::write(*socket_, req, ec);
    if (ec) {
      close();
      continue;
    }
    http::response<http::string_body> res;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(*socket_, buffer_, parser, ec);
    if (ec) {
      close();
      if (attempt == 0 && (ec == http::error::end_of_stream || ec == boost::asio::error::connection_reset)) continue;
      return std::nullopt;
    }
    res = parser.release();
    HttpResult out;
    out.status = res.result_int();
    out.body = res.body();
    for (const auto& f : res) out.headers.set(f.name_string(), f.value());
    if (!res.keep_alive()) close();
    return out;
  }
  return std::nullopt;
}

}  // namespace careloop::testing
