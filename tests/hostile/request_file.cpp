#include "request_file.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <string_view>

namespace careloop::hostile {
namespace {

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<std::size_t> parse_size(std::string_view s) {
  std::size_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + sep.size());
  }
}

// A parsed template: literal text, placeholders and REPEAT blocks.
struct Node {
  enum class Kind { text, variable, index, repeat } kind = Kind::text;
  std::string text;         // literal bytes, or the variable's name
  std::size_t count = 0;    // REPEAT count, or the index's zero-padded width
  std::vector<Node> block;  // REPEAT body
};

class TemplateParser {
 public:
  explicit TemplateParser(std::string_view src) : src_(src) {}

  // Parses until the end of input (depth 0) or the matching {{END}}.
  bool parse(std::vector<Node>& out, int depth, std::string& error) {
    while (pos_ < src_.size()) {
      const auto open = src_.find("{{", pos_);
      if (open != pos_) {
        const auto end = open == std::string_view::npos ? src_.size() : open;
        out.push_back({Node::Kind::text, std::string(src_.substr(pos_, end - pos_)), 0, {}});
        pos_ = end;
        continue;
      }
      const auto close = src_.find("}}", open + 2);
      if (close == std::string_view::npos) {
        error = "unterminated {{ at byte " + std::to_string(open);
        return false;
      }
      const std::string_view inner = src_.substr(open + 2, close - open - 2);
      pos_ = close + 2;
      if (inner == "END") {
        if (depth == 0) {
          error = "{{END}} without {{REPEAT n}}";
          return false;
        }
        return true;
      }
      if (!placeholder(inner, out, depth, error)) return false;
    }
    if (depth > 0) {
      error = "{{REPEAT n}} without its {{END}}";
      return false;
    }
    return true;
  }

 private:
  bool placeholder(std::string_view inner, std::vector<Node>& out, int depth, std::string& error) {
    if (inner == "CRLF") return literal(out, "\r\n");
    if (inner == "CR") return literal(out, "\r");
    if (inner == "LF") return literal(out, "\n");
    if (inner.starts_with("BYTES ")) {
      std::string bytes;
      for (auto hex : split(trim(inner.substr(6)), " ")) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
        if (hex.size() != 2 || ec != std::errc() || p != hex.data() + hex.size()) {
          error = "{{BYTES}} takes two-digit hex bytes separated by spaces, not '" + std::string(hex) + "'";
          return false;
        }
        bytes += static_cast<char>(v);
      }
      return literal(out, bytes);
    }
    if (inner.starts_with("REPEAT ")) {
      auto n = parse_size(trim(inner.substr(7)));
      if (!n) {
        error = "{{REPEAT n}} needs a count, not '" + std::string(inner) + "'";
        return false;
      }
      Node node{Node::Kind::repeat, {}, *n, {}};
      if (!parse(node.block, depth + 1, error)) return false;
      out.push_back(std::move(node));
      return true;
    }
    if (inner == "I" || inner.starts_with("I:")) {
      if (depth == 0) {
        error = "{{I}} outside a {{REPEAT n}} block";
        return false;
      }
      std::size_t width = 0;
      if (inner.size() > 2) {
        auto w = parse_size(inner.substr(2));
        if (!w || *w > 20) {
          error = "{{I:width}} needs a width from 0 to 20";
          return false;
        }
        width = *w;
      }
      out.push_back({Node::Kind::index, {}, width, {}});
      return true;
    }
    const bool name = !inner.empty() && std::all_of(inner.begin(), inner.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
    });
    if (!name) {
      error = "unknown placeholder {{" + std::string(inner) + "}}";
      return false;
    }
    out.push_back({Node::Kind::variable, std::string(inner), 0, {}});
    return true;
  }

  static bool literal(std::vector<Node>& out, std::string bytes) {
    out.push_back({Node::Kind::text, std::move(bytes), 0, {}});
    return true;
  }

  std::string_view src_;
  std::size_t pos_ = 0;
};

bool render_nodes(const std::vector<Node>& nodes, const Variables& vars, std::size_t index, std::string& out,
                  std::string& error, std::size_t max_bytes) {
  for (const auto& n : nodes) {
    switch (n.kind) {
      case Node::Kind::text: out += n.text; break;
      case Node::Kind::variable: {
        auto it = vars.find(n.text);
        if (it == vars.end()) {
          error = "unknown variable {{" + n.text + "}}";
          return false;
        }
        out += it->second;
        break;
      }
      case Node::Kind::index: {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%0*zu", static_cast<int>(n.count), index);
        out += buf;
        break;
      }
      case Node::Kind::repeat:
        for (std::size_t i = 0; i < n.count; ++i)
          if (!render_nodes(n.block, vars, i, out, error, max_bytes)) return false;
        break;
    }
    if (out.size() > max_bytes) {
      error = "the expansion is larger than " + std::to_string(max_bytes) + " bytes";
      return false;
    }
  }
  return true;
}

bool parse_expect(std::string_view value, std::vector<Expectation>& out, std::string& error) {
  for (auto token : split(trim(value), " ")) {
    if (token.empty()) continue;
    if (token == "4xx") {
      out.push_back({Outcome::any_4xx, 0});
    } else if (token == "entry-rejected") {
      out.push_back({Outcome::entry_rejected, 0});
    } else if (token == "closed") {
      out.push_back({Outcome::closed, 0});
    } else if (auto n = parse_size(token); n && *n >= 400 && *n <= 499) {
      out.push_back({Outcome::status, static_cast<unsigned>(*n)});
    } else {
      error = "expect: '" + std::string(token) + "' is not 4xx, a status 400-499, entry-rejected or closed";
      return false;
    }
  }
  if (out.empty()) error = "expect: needs at least one outcome";
  return !out.empty();
}

}  // namespace

const std::vector<std::string>& categories() {
  static const std::vector<std::string> all{
      "truncated",    "deep-nesting", "wrong-type", "huge-number",  "nan-infinity", "string-number",
      "invalid-utf8", "missing-offset", "batch-size", "big-body",   "header-flood", "injection",
      "unknown-kind", "fhir-wrong-type", "framing",   "auth",       "media-type",   "bad-query",
  };
  return all;
}

std::optional<std::string> expand(const std::string& tmpl, const Variables& vars, std::string& error,
                                  std::size_t max_bytes) {
  std::vector<Node> nodes;
  TemplateParser parser(tmpl);
  if (!parser.parse(nodes, 0, error)) return std::nullopt;
  std::string out;
  if (!render_nodes(nodes, vars, 0, out, error, max_bytes)) return std::nullopt;
  return out;
}

std::optional<RequestFile> parse_request_file(const std::string& name, const std::string& text, std::string& error) {
  RequestFile f;
  f.name = name;
  std::string_view rest = text;
  int line_no = 0;
  bool have_expect = false;
  std::optional<ErrorMedia> media;
  while (!rest.empty() && rest.front() == '#') {
    ++line_no;
    const auto eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      error = "line " + std::to_string(line_no) + ": a directive is '# key: value'";
      return std::nullopt;
    }
    const auto key = trim(line.substr(1, colon - 1));
    const auto value = trim(line.substr(colon + 1));
    auto bad = [&](const std::string& why) {
      error = "line " + std::to_string(line_no) + ": " + why;
      return std::nullopt;
    };
    if (key == "defect") {
      f.defect = std::string(value);
    } else if (key == "category") {
      f.category = std::string(value);
      if (std::find(categories().begin(), categories().end(), f.category) == categories().end())
        return bad("unknown category '" + f.category + "'");
    } else if (key == "expect") {
      if (!parse_expect(value, f.expect, error)) return bad(error);
      have_expect = true;
    } else if (key == "media") {
      if (value == "problem") media = ErrorMedia::problem;
      else if (value == "fhir") media = ErrorMedia::fhir;
      else return bad("media is problem or fhir");
    } else if (key == "content-length") {
      if (value != "as-written") return bad("content-length: as-written is the only choice");
      f.keep_content_length = true;
    } else if (key == "send") {
      if (value != "half-close") return bad("send: half-close is the only choice");
      f.half_close = true;
    } else if (key == "framing") {
      if (value != "raw") return bad("framing: raw is the only choice");
      f.raw = true;
    } else {
      return bad("unknown directive '" + std::string(key) + "'");
    }
  }
  if (f.defect.empty()) {
    error = "no '# defect:' line naming what makes the request invalid";
    return std::nullopt;
  }
  if (f.category.empty()) {
    error = "no '# category:' line";
    return std::nullopt;
  }
  if (!have_expect) f.expect.push_back({Outcome::any_4xx, 0});

  // The file's own final newline is not part of the request.
  std::string_view request = rest;
  if (!request.empty() && request.back() == '\n') request.remove_suffix(1);
  const auto first_line = request.substr(0, std::min(request.find('\n'), request.find("{{")));
  if (auto parts = split(first_line, " "); parts.size() >= 2) f.target = std::string(parts[1]);
  f.media = media.value_or(f.target.starts_with("/fhir") ? ErrorMedia::fhir : ErrorMedia::problem);

  if (f.raw) {
    // Raw files write CRLF as a plain line break; {{LF}} and {{CR}} send bare ones.
    bool first = true;
    for (auto line : split(request, "\n")) {
      if (!first) f.body += "\r\n";
      f.body += line;
      first = false;
    }
    return f;
  }
  const auto blank = request.find("\n\n");
  const std::string_view head = request.substr(0, blank);
  f.body = blank == std::string_view::npos ? "" : std::string(request.substr(blank + 2));
  for (auto line : split(head, "\n")) {
    if (!f.head.empty()) f.head += "\r\n";
    f.head += line;
  }
  if (f.head.empty()) {
    error = "no request line";
    return std::nullopt;
  }
  return f;
}

std::optional<std::string> render(const RequestFile& file, const Variables& vars, std::string& error) {
  if (file.raw) return expand(file.body, vars, error);
  auto head = expand(file.head, vars, error);
  if (!head) return std::nullopt;
  auto body = expand(file.body, vars, error);
  if (!body) return std::nullopt;

  std::vector<std::string_view> lines = split(*head, "\r\n");
  bool chunked = false;
  if (!file.keep_content_length) {
    std::erase_if(lines, [](std::string_view l) { return iequals_prefix(l, "content-length:"); });
  }
  for (auto l : lines) chunked = chunked || iequals_prefix(l, "transfer-encoding:");
  std::string out;
  for (auto l : lines) {
    out += l;
    out += "\r\n";
  }
  const std::string_view method = lines.front().substr(0, lines.front().find(' '));
  const bool sends_body = !body->empty() || method == "POST" || method == "PUT" || method == "PATCH";
  if (!file.keep_content_length && !chunked && sends_body)
    out += "Content-Length: " + std::to_string(body->size()) + "\r\n";
  out += "\r\n";
  out += *body;
  return out;
}

}  // namespace careloop::hostile
