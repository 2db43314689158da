#include "http_client.hpp"

namespace careloop::testing {

HttpClient::HttpClient(std::string host, unsigned short port, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}
HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (stream_) {
    boost::system::error_code ec;
    stream_->socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    stream_->socket().close(ec);
    stream_.reset();
  }
  buffer_.clear();
}

bool HttpClient::connect() {
  close();
  stream_.emplace(ioc_);
  boost::system::error_code ec = boost::asio::error::timed_out;
  stream_->expires_after(timeout_);
  stream_->async_connect({boost::asio::ip::make_address(host_), port_},
                         [&](const boost::system::error_code& e) { ec = e; });
  ioc_.restart();
  ioc_.run();
  if (ec) {
    stream_.reset();
    return false;
  }
  return true;
}

std::optional<HttpResult> HttpClient::request(http::verb method, const std::string& target, const std::string& body,
                                              const std::string& bearer, const std::string& content_type,
                                              const std::vector<std::pair<std::string, std::string>>& headers) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, host_);
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  if (!body.empty() || method == http::verb::post || method == http::verb::put) {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.prepare_payload();
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = stream_.has_value();
    if (!reused && !connect()) return std::nullopt;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    boost::system::error_code write_ec = boost::asio::error::timed_out, read_ec = boost::asio::error::timed_out;
    std::size_t read_bytes = 0;
    stream_->expires_after(timeout_);  // for the write and the read together
    http::async_write(*stream_, req, [&](const boost::system::error_code& e, std::size_t) {
      write_ec = e;
      if (e) return;
      http::async_read(*stream_, buffer_, parser, [&](const boost::system::error_code& r, std::size_t n) {
        read_ec = r;
        read_bytes = n;
      });
    });
    ioc_.restart();
    ioc_.run();
    const auto ec = write_ec ? write_ec : read_ec;
    if (ec) {
      close();
      // The server closed a kept-alive connection while it sat idle: nothing
      // of this request was read, so sending it again cannot store it twice.
      const bool stale = reused && read_bytes == 0 &&
                         (ec == http::error::end_of_stream || ec == boost::asio::error::connection_reset ||
                          ec == boost::asio::error::broken_pipe || ec == boost::asio::error::eof);
      if (attempt == 0 && stale) continue;
      return std::nullopt;
    }
    auto res = parser.release();
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
