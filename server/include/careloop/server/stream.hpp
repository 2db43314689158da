#pragma once
// Streamed responses (Server-Sent Events). A handler that streams sets
// RequestContext::stream and returns the response head; the session writes
// the head (chunked, no Content-Length), then runs the stream body with a
// StreamWriter, then closes the connection. The writer hides the transport
// (TCP or TLS) and the chunk framing.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace careloop::server {

class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Sends one piece of the body. An error (client gone, write timeout,
  // server shutting down) means the stream is over: return.
  virtual boost::asio::awaitable<boost::system::error_code> write(std::string_view data) = 0;
  // True once the server drains: finish the stream promptly.
  virtual bool stopping() const noexcept = 0;
  // The session's executor, for timers that pace the stream.
  virtual boost::asio::any_io_executor executor() const = 0;
};

using StreamBody = std::function<boost::asio::awaitable<void>(StreamWriter&)>;

// One SSE event: optional "id:" and "event:" lines, one "data:" line per
// line of data, and the blank line that ends the event.
std::string sse_event(std::string_view data, std::string_view event = {}, std::string_view id = {});

}  // namespace careloop::server
