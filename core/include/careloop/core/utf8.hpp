#pragma once
// UTF-8 as the API receives and stores it: names, notes and device names are
// mostly Chinese, so lengths count code points and cuts fall between them.
#include <cstddef>
#include <optional>
#include <string_view>

namespace careloop::core {

// The byte offset of the first byte that is not well-formed UTF-8 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or nullopt.
std::optional<std::size_t> first_invalid_utf8(std::string_view s) noexcept;
inline bool valid_utf8(std::string_view s) noexcept { return !first_invalid_utf8(s); }

// Code points of a valid string (continuation bytes are not counted).
std::size_t utf8_length(std::string_view s) noexcept;

// The longest prefix of at most `max_chars` code points that ends on a
// character boundary of a valid string.
std::string_view utf8_prefix(std::string_view s, std::size_t max_chars) noexcept;

}  // namespace careloop::core
