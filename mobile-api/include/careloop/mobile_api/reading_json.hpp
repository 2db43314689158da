#pragma once
// Readings as the mobile API writes them in JSON, both ways. Parsing turns
// one item of a batch into a canonical core::Reading or into the list of
// what is wrong with it, each named by JSON pointer.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "careloop/core/reading.hpp"
#include "careloop/core/result.hpp"

namespace careloop::mobile_api {

inline constexpr std::size_t max_batch_readings = 500;
inline constexpr std::size_t max_note_chars = 500;
inline constexpr std::size_t max_source_chars = 64;

// One item: a reading ready for the store, or its field errors.
using ParsedItem = std::variant<core::Reading, std::vector<core::FieldError>>;

// Parses item `index` of a batch. `pointer` is its JSON pointer ("/readings/7").
ParsedItem parse_reading(const nlohmann::json& item, const std::string& pointer, std::int64_t now_ms);

struct ParsedBatch {
  std::vector<std::string> client_ids;  // as sent, for the results ("" when missing)
  std::vector<ParsedItem> items;
};

// Parses {"readings": [...]}. Errors of the whole request (not an object,
// no array, more than 500 items) come back as an Error; item errors inside.
core::Result<ParsedBatch> parse_reading_batch(const nlohmann::json& body, std::int64_t now_ms);

// True for a canonical 8-4-4-4-12 hex UUID (any version).
bool is_uuid(const std::string& s) noexcept;

nlohmann::json to_json(const core::Reading& r);

}  // namespace careloop::mobile_api
