// The ceiling: a bare Beast keep-alive server answering "ok" to anything.
// Same threading model as careloop::server (one io_context, N I/O threads,
// a strand and a coroutine per connection, a fresh parser per request), but
// no router, metrics, logging or limits beyond Beast's defaults. Benchmarks
// of the real server are reported as ratios to this, measured in the same run.
//
//   careloop_bench_bare_beast --port 8090 --threads 2
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> session(beast::tcp_stream stream) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) break;
    const auto& req = parser.get();
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "bare-beast");
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(req.keep_alive());
    res.body() = "ok";
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> listen(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(acceptor.get_executor()), use_tuple);
    if (ec) {
      if (!acceptor.is_open()) co_return;
      continue;
    }
    auto ex = socket.get_executor();
    asio::co_spawn(ex, session(beast::tcp_stream(std::move(socket))), asio::detached);
  }
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--port N (default 8090)] [--threads N (default: cores)]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 8090;
  int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage(argv[0]);
    if (arg == "--port")
      port = static_cast<unsigned short>(std::atoi(argv[++i]));
    else if (arg == "--threads")
      threads = std::max(1, std::atoi(argv[++i]));
    else
      return usage(argv[0]);
  }

  asio::io_context ioc{threads};
  tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), port}};
  std::fprintf(stderr, "bare_beast: http://127.0.0.1:%u/ on %d threads\n",
               static_cast<unsigned>(acceptor.local_endpoint().port()), threads);
  asio::co_spawn(ioc, listen(acceptor), asio::detached);

  asio::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&](beast::error_code, int) { ioc.stop(); });

  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}
