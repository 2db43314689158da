#pragma once
// One hostile request as a data file (README.md has the format): the
// directives at its top, and the template of the bytes to send, expanded
// with the runner's tokens and the compact generators ({{REPEAT n}}...).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace careloop::hostile {

// What the runner accepts as the answer to one file.
enum class Outcome {
  any_4xx,         // "4xx": any status 400-499
  status,          // "413": exactly this status
  entry_rejected,  // 200 batch-response Bundle whose every entry answered 4xx
  closed,          // the server closed the connection without answering
};

struct Expectation {
  Outcome outcome = Outcome::any_4xx;
  unsigned status = 0;  // for Outcome::status
};

// The media type a 4xx must carry.
enum class ErrorMedia { problem, fhir };

struct RequestFile {
  std::string name;      // file name, e.g. "042-readings-systolic-1e400.http"
  std::string defect;    // why the request as a whole is invalid
  std::string category;  // one of categories()
  std::vector<Expectation> expect;  // any of these passes
  ErrorMedia media = ErrorMedia::problem;
  std::string target;    // the request target of the first line, unexpanded ("" when unreadable)
  bool raw = false;                  // "framing: raw"
  bool keep_content_length = false;  // "content-length: as-written"
  bool half_close = false;           // "send: half-close"
  std::string head;  // template of the header block (non-raw), lines joined with CRLF
  std::string body;  // template of the body (non-raw) or of the whole request (raw)
};

// Parses a file; an error message naming the line when it is malformed.
std::optional<RequestFile> parse_request_file(const std::string& name, const std::string& text, std::string& error);

// Values of the named placeholders ({{HOST}}, {{PATIENT_TOKEN}}, ...).
using Variables = std::map<std::string, std::string, std::less<>>;

// Expands a template: variables, {{CRLF}} {{CR}} {{LF}}, {{BYTES hh ...}},
// {{REPEAT n}}...{{END}} with {{I}} / {{I:width}} inside. nullopt and an
// error for an unknown placeholder, an unbalanced block or output beyond
// max_bytes.
std::optional<std::string> expand(const std::string& tmpl, const Variables& vars, std::string& error,
                                  std::size_t max_bytes = 64u << 20);

// The bytes to send for a file.
std::optional<std::string> render(const RequestFile& file, const Variables& vars, std::string& error);

// The categories the issue asks the corpus to cover.
const std::vector<std::string>& categories();

}  // namespace careloop::hostile
