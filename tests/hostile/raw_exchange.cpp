#include "raw_exchange.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>

namespace careloop::hostile {
namespace {

using Clock = std::chrono::steady_clock;

class Socket {
 public:
  Socket() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

enum class Parse { incomplete, complete, invalid };

// Decodes a chunked body starting at `at`; complete once the last chunk and
// the trailer's blank line are in.
Parse dechunk(std::string_view data, std::size_t at, std::string& body) {
  body.clear();
  for (;;) {
    const auto eol = data.find("\r\n", at);
    if (eol == std::string_view::npos) return Parse::incomplete;
    auto size_text = data.substr(at, eol - at);
    size_text = size_text.substr(0, size_text.find(';'));
    std::size_t size = 0;
    auto [p, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (ec != std::errc() || p != size_text.data() + size_text.size()) return Parse::invalid;
    at = eol + 2;
    if (size == 0) return data.find("\r\n\r\n", eol) != std::string_view::npos || data.substr(at, 2) == "\r\n"
                              ? Parse::complete
                              : Parse::incomplete;
    if (data.size() < at + size + 2) return Parse::incomplete;
    body.append(data.substr(at, size));
    at += size + 2;
  }
}

// Parses the first final response in `data`; `eof` says no more bytes come.
Parse parse_response(std::string_view data, bool eof, Answer& a) {
  std::size_t start = 0;
  for (;;) {
    const auto head_end = data.find("\r\n\r\n", start);
    if (head_end == std::string_view::npos) return eof && data.size() > start ? Parse::invalid : Parse::incomplete;
    const std::string_view head = data.substr(start, head_end - start);
    const auto line_end = head.find("\r\n");
    const std::string_view status_line = head.substr(0, line_end);
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12) return Parse::invalid;
    unsigned status = 0;
    auto [p, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status);
    if (ec != std::errc() || p != status_line.data() + 12) return Parse::invalid;
    std::optional<std::size_t> length;
    bool chunked = false;
    std::string content_type;
    std::string_view fields = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
    while (!fields.empty()) {
      const auto eol = fields.find("\r\n");
      const auto line = fields.substr(0, eol);
      fields.remove_prefix(eol == std::string_view::npos ? fields.size() : eol + 2);
      const auto colon = line.find(':');
      if (colon == std::string_view::npos) return Parse::invalid;
      const auto name = line.substr(0, colon);
      const auto value = trim(line.substr(colon + 1));
      if (iequals(name, "content-length")) {
        std::size_t n = 0;
        auto [q, e] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (e != std::errc() || q != value.data() + value.size()) return Parse::invalid;
        length = n;
      } else if (iequals(name, "transfer-encoding")) {
        chunked = value.find("chunked") != std::string_view::npos;
      } else if (iequals(name, "content-type")) {
        content_type = std::string(value);
      }
    }
    const std::size_t body_start = head_end + 4;
    if (status >= 100 && status < 200) {  // 100 Continue: the final answer follows
      start = body_start;
      continue;
    }
    a.status = status;
    a.content_type = content_type;
    if (chunked) {
      auto r = dechunk(data, body_start, a.body);
      return r == Parse::incomplete && eof ? Parse::invalid : r;
    }
    if (length) {
      if (data.size() < body_start + *length) return eof ? Parse::invalid : Parse::incomplete;
      a.body = std::string(data.substr(body_start, *length));
      return Parse::complete;
    }
    if (!eof) return Parse::incomplete;  // delimited by the close
    a.body = std::string(data.substr(body_start));
    return Parse::complete;
  }
}

}  // namespace

Answer exchange(std::uint16_t port, const std::string& request, bool half_close, std::chrono::milliseconds timeout) {
  Answer a;
  const auto deadline = Clock::now() + timeout;
  auto remaining_ms = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<long long>(0, left));
  };
  Socket s;
  if (s.fd() < 0) {
    a.failure = std::string("socket: ") + std::strerror(errno);
    return a;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s.fd(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    a.failure = std::string("connect: ") + std::strerror(errno);
    return a;
  }

  std::string received;
  bool sending = true, connected = false;
  char buf[64 * 1024];
  for (;;) {
    const int wait = remaining_ms();
    if (wait == 0) {
      a.timed_out = true;
      break;
    }
    pollfd p{s.fd(), static_cast<short>(POLLIN | (sending || !connected ? POLLOUT : 0)), 0};
    const int ready = ::poll(&p, 1, wait);
    if (ready < 0 && errno != EINTR) {
      a.failure = std::string("poll: ") + std::strerror(errno);
      return a;
    }
    if (ready <= 0) continue;
    if (!connected && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        a.failure = std::string("connect: ") + std::strerror(err);
        return a;
      }
      connected = true;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(s.fd(), buf, sizeof buf, 0);
      if (n > 0) {
        received.append(buf, static_cast<std::size_t>(n));
        const auto r = parse_response(received, false, a);
        if (r == Parse::complete) {
          a.answered = true;
          break;
        }
        if (r == Parse::invalid) {
          a.failure = "unparseable response";
          break;
        }
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        // FIN or RST: whatever arrived is all there is.
        const auto r = received.empty() ? Parse::incomplete : parse_response(received, true, a);
        if (r == Parse::complete) a.answered = true;
        else if (r == Parse::invalid) a.failure = "unparseable response";
        else a.closed = true;
        break;
      }
    }
    if (sending && connected && (p.revents & POLLOUT)) {
      const std::size_t chunk = std::min<std::size_t>(request.size() - a.bytes_sent, 256 * 1024);
      const ssize_t n = chunk == 0 ? 0 : ::send(s.fd(), request.data() + a.bytes_sent, chunk, MSG_NOSIGNAL);
      if (n >= 0) {
        a.bytes_sent += static_cast<std::size_t>(n);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        sending = false;  // the server stopped reading (EPIPE, ECONNRESET): its answer may be waiting
      }
      if (a.bytes_sent == request.size()) {
        sending = false;
        if (half_close) ::shutdown(s.fd(), SHUT_WR);
      }
    }
  }
  a.bytes_received = received.size();
  return a;
}

}  // namespace careloop::hostile
