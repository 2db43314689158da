#include "careloop/server/body.hpp"

#include <boost/beast/core/string.hpp>

#include <string>
#include <vector>

namespace careloop::server {
namespace {

// Follows the SAX events of a document up to the lexer's failure, so that a
// string the lexer refuses (not UTF-8, a lone surrogate escape) is named by
// the JSON pointer of the member or element holding it.
class FailurePointer : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::string pointer;
  bool in_member_name = false;  // the failure is in a member's name, not its value

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    frames_.back().key = k;
    frames_.back().has_key = true;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    for (const auto& f : frames_) {
      if (f.object && !f.has_key) {
        in_member_name = true;
        break;
      }
      pointer += "/" + (f.object ? escape(f.key) : std::to_string(f.index));
    }
    return false;
  }

 private:
  struct Frame {
    bool object = false;
    bool has_key = false;
    std::string key;
    std::size_t index = 0;
  };
  static std::string escape(const std::string& k) {
    std::string out;
    for (char c : k) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
    return out;
  }
  bool open(bool object) {
    frames_.push_back({object, false, {}, 0});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return value();
  }
  // A value of the innermost container is complete.
  bool value() {
    if (frames_.empty()) return true;
    auto& f = frames_.back();
    if (f.object)
      f.has_key = false;
    else
      ++f.index;
    return true;
  }
  std::vector<Frame> frames_;
};

// True for the lexer's refusals of a string's content as text.
bool refuses_text(const nlohmann::json::parse_error& e) {
  const std::string_view what = e.what();
  return what.find("UTF-8") != std::string_view::npos || what.find("surrogate") != std::string_view::npos;
}

}  // namespace

bool is_json_media_type(std::string_view content_type) noexcept {
  auto type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  return boost::beast::iequals(type, "application/json") || boost::beast::iequals(type, "application/fhir+json");
}

JsonBody parse_json_body(const Request& request) {
  if (!is_json_media_type(request[http::field::content_type]))
    return JsonBody{problem_response(http::status::unsupported_media_type, "Unsupported Media Type",
                                     "The request body must be application/json.")};

  // The parser itself is iterative, but handlers, dump() and comparisons
  // recurse: refuse a "[[[[..." bomb at max_json_depth, before it is built.
  bool too_deep = false;
  auto guard = [&too_deep](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    using E = nlohmann::json::parse_event_t;
    if ((event == E::object_start || event == E::array_start) &&
        static_cast<std::size_t>(depth) >= max_json_depth)
      too_deep = true;
    return !too_deep;
  };
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(request.body(), guard);
  } catch (const nlohmann::json::parse_error& e) {
    if (refuses_text(e)) {
      FailurePointer where;
      (void)nlohmann::json::sax_parse(request.body(), &where);
      std::vector<core::FieldError> errors{
          {where.pointer, where.in_member_name ? "a member name is not valid UTF-8 text"
                                               : "the string is not valid UTF-8 text (or holds a lone surrogate)"}};
      auto fields = errors;
      return JsonBody{problem_response(http::status::unprocessable_entity, "Invalid Text",
                                       "A string of the request is not valid UTF-8 text.", std::move(errors)),
                      std::move(fields)};
    }
    return JsonBody{problem_response(http::status::bad_request, "Malformed JSON",
                                     "The request body is not valid JSON: syntax error at byte " +
                                         std::to_string(e.byte) + ".")};
  } catch (const nlohmann::json::out_of_range&) {
    // 1e400 and its kin: valid JSON grammar, but no double can hold it.
    return JsonBody{problem_response(http::status::bad_request, "Malformed JSON",
                                     "The request body holds a number too large to represent.")};
  }
  if (too_deep)
    return JsonBody{problem_response(http::status::bad_request, "Malformed JSON",
                                     "The JSON body is nested deeper than " + std::to_string(max_json_depth) +
                                         " levels.")};
  return JsonBody{std::move(value)};
}

}  // namespace careloop::server
