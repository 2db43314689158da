#pragma once
// Sends bytes over a fresh loopback TCP connection exactly as given (no
// HTTP library in between, so broken framing reaches the server intact)
// while reading the answer, and parses the first final HTTP response.
#include <chrono>
#include <cstdint>
#include <string>

namespace careloop::hostile {

struct Answer {
  bool answered = false;   // a complete response arrived
  bool timed_out = false;  // no complete response before the deadline
  bool closed = false;     // the server closed (FIN or RST) before a complete response
  std::string failure;     // connect error or unparseable response
  unsigned status = 0;
  std::string content_type;
  std::string body;
  std::size_t bytes_sent = 0;
  std::size_t bytes_received = 0;
};

// Writes `request` (stopping early once the answer is complete or the
// server stops reading), optionally shuts down the sending side after the
// last byte, and waits at most `timeout` in all.
Answer exchange(std::uint16_t port, const std::string& request, bool half_close, std::chrono::milliseconds timeout);

}  // namespace careloop::hostile
