#include "careloop/mobile_api/reading_json.hpp"

#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>

#include "careloop/core/plausibility.hpp"
#include "careloop/core/units.hpp"
#include "careloop/core/utf8.hpp"

namespace careloop::mobile_api {
namespace {

using nlohmann::json;
using core::FieldError;

// Collects the field errors of one item while reading its fields.
class ItemReader {
 public:
  ItemReader(const json& item, const std::string& pointer) : item_(item), pointer_(pointer) {}

  std::optional<double> number(const char* field, bool required) {
    const auto it = item_.find(field);
    if (it == item_.end() || it->is_null()) {
      if (required) error(field, std::string(field) + " is required");
      return std::nullopt;
    }
    if (!it->is_number()) {
      error(field, std::string(field) + " must be a number");
      return std::nullopt;
    }
    const double v = it->get<double>();
    if (!std::isfinite(v)) {
      error(field, std::string(field) + " must be a finite number");
      return std::nullopt;
    }
    return v;
  }

  std::optional<std::string> string(const char* field, bool required, std::size_t max_chars) {
    const auto it = item_.find(field);
    if (it == item_.end() || it->is_null()) {
      if (required) error(field, std::string(field) + " is required");
      return std::nullopt;
    }
    if (!it->is_string()) {
      error(field, std::string(field) + " must be a string");
      return std::nullopt;
    }
    auto s = it->get<std::string>();
    if (core::utf8_length(s) > max_chars) {
      error(field, std::string(field) + " is longer than " + std::to_string(max_chars) + " characters");
      return std::nullopt;
    }
    return s;
  }

  // A string that must be one of a closed set; `parse` returns nullopt for others.
  template <class Parse>
  auto choice(const char* field, bool required, Parse parse, const char* allowed) -> decltype(parse("")) {
    auto s = string(field, required, 64);
    if (!s) return std::nullopt;
    auto v = parse(*s);
    if (!v) error(field, std::string(field) + " must be " + allowed);
    return v;
  }

  void error(const char* field, std::string detail) { errors.push_back({pointer_ + "/" + field, std::move(detail)}); }

  std::vector<FieldError> errors;

 private:
  const json& item_;
  const std::string& pointer_;
};

std::optional<std::string> exact(std::string_view s, std::string_view want) {
  return s == want ? std::optional<std::string>(std::string(s)) : std::nullopt;
}

}  // namespace

bool is_uuid(const std::string& s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

ParsedItem parse_reading(const json& item, const std::string& pointer, std::int64_t now_ms) {
  if (!item.is_object()) return std::vector<FieldError>{{pointer, "each reading must be a JSON object"}};
  ItemReader in(item, pointer);
  core::Reading r;

  if (auto id = in.string("client_id", true, 36)) {
    if (is_uuid(*id)) {
      for (auto& c : *id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.client_id = *id;
    } else {
      in.error("client_id", "client_id must be a UUID such as 0b7e4a0c-5d9e-4f8a-9c1e-2f3a4b5c6d7e");
    }
  }
  auto kind = in.choice("kind", true, core::parse_reading_kind,
                        "one of blood_pressure, glucose, weight, heart_rate, hba1c, medication");
  if (auto t = in.string("taken_at", true, 40)) {
    auto parsed = core::parse_iso8601(*t);
    if (parsed.instant)
      r.taken_at = *parsed.instant;
    else
      in.error("taken_at", "taken_at: " + parsed.error);
  }
  if (auto s = in.string("source", false, max_source_chars)) r.source = *s;
  if (auto s = in.string("note", false, max_note_chars)) r.note = *s;
  if (!kind) return std::move(in.errors);
  r.kind = *kind;

  switch (r.kind) {
    case core::ReadingKind::blood_pressure: {
      r.systolic_mmhg = in.number("systolic", true);
      r.diastolic_mmhg = in.number("diastolic", true);
      r.pulse_bpm = in.number("pulse", false);
      in.choice("unit", true, [](std::string_view s) { return exact(s, "mmHg"); }, "\"mmHg\"");
      r.value_as_sent = r.systolic_mmhg;
      r.unit_as_sent = "mmHg";
      break;
    }
    case core::ReadingKind::glucose: {
      auto v = in.number("value", true);
      auto unit = in.choice("unit", true, core::parse_glucose_unit, "\"mmol/L\" or \"mg/dL\"");
      r.glucose_context = in.choice("context", true, core::parse_glucose_context,
                                    "one of fasting, before_meal, after_meal, bedtime, random");
      if (v && unit) {
        r.value_as_sent = v;
        r.unit_as_sent = *unit == core::GlucoseUnit::mg_dl ? "mg/dL" : "mmol/L";
        r.glucose_mmol_l = core::glucose_to_mmol_l(*v, *unit);
      }
      break;
    }
    case core::ReadingKind::weight: {
      auto v = in.number("value", true);
      auto unit = in.choice("unit", true, core::parse_weight_unit, "\"kg\", \"g\" or \"lb\"");
      if (v && unit) {
        r.value_as_sent = v;
        r.unit_as_sent = item.at("unit").get<std::string>();
        r.weight_kg = core::weight_to_kg(*v, *unit);
      }
      break;
    }
    case core::ReadingKind::heart_rate: {
      r.pulse_bpm = in.number("value", true);
      in.choice("unit", false, [](std::string_view s) { return s == "/min" || s == "bpm" ? std::optional<std::string>(std::string(s)) : std::nullopt; },
                "\"/min\"");
      r.value_as_sent = r.pulse_bpm;
      r.unit_as_sent = "/min";
      break;
    }
    case core::ReadingKind::hba1c: {
      auto v = in.number("value", true);
      auto unit = in.choice("unit", true, core::parse_hba1c_unit, "\"%\" or \"mmol/mol\"");
      if (v && unit) {
        r.value_as_sent = v;
        r.unit_as_sent = *unit == core::Hba1cUnit::mmol_mol ? "mmol/mol" : "%";
        r.hba1c_percent = core::hba1c_to_percent(*v, *unit);
      }
      break;
    }
    case core::ReadingKind::medication: {
      if (auto name = in.string("name", true, 100)) {
        if (name->empty()) in.error("name", "name must not be empty");
        r.medication_name = *name;
      }
      r.medication_status = in.choice("status", true, core::parse_medication_status, "\"taken\" or \"missed\"");
      break;
    }
  }
  if (!in.errors.empty()) return std::move(in.errors);
  if (auto problems = core::check_plausibility(r, pointer, now_ms); !problems.empty()) return problems;
  r.received_at_ms = now_ms;
  return r;
}

core::Result<ParsedBatch> parse_reading_batch(const json& body, std::int64_t now_ms) {
  if (!body.is_object()) return core::Error::invalid("the body must be a JSON object", {{"", "expected {\"readings\": [...]}"}});
  const auto it = body.find("readings");
  if (it == body.end() || !it->is_array())
    return core::Error::invalid("readings must be an array", {{"/readings", "readings must be an array of readings"}});
  if (it->empty()) return core::Error::invalid("no readings", {{"/readings", "readings must hold at least one reading"}});
  if (it->size() > max_batch_readings)
    return core::Error::invalid("too many readings",
                                {{"/readings", "at most " + std::to_string(max_batch_readings) + " readings per request"}});
  ParsedBatch out;
  out.items.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& item = (*it)[i];
    std::string cid;
    if (item.is_object()) {
      auto c = item.find("client_id");
      if (c != item.end() && c->is_string()) cid = c->get<std::string>().substr(0, 64);
    }
    out.client_ids.push_back(std::move(cid));
    out.items.push_back(parse_reading(item, "/readings/" + std::to_string(i), now_ms));
  }
  return out;
}

json to_json(const core::Reading& r) {
  json j{{"id", r.id},
         {"client_id", r.client_id},
         {"kind", core::to_string(r.kind)},
         {"taken_at", core::format_iso8601(r.taken_at)},
         {"received_at", core::format_iso8601_utc(r.received_at_ms)},
         {"seq", r.change_seq}};
  if (!r.source.empty()) j["source"] = r.source;
  if (!r.note.empty()) j["note"] = r.note;
  switch (r.kind) {
    case core::ReadingKind::blood_pressure:
      j["systolic"] = r.systolic_mmhg.value_or(0);
      j["diastolic"] = r.diastolic_mmhg.value_or(0);
      if (r.pulse_bpm) j["pulse"] = *r.pulse_bpm;
      j["unit"] = "mmHg";
      break;
    case core::ReadingKind::glucose:
      j["value"] = r.glucose_mmol_l.value_or(0);
      j["unit"] = "mmol/L";
      if (r.glucose_context) j["context"] = core::to_string(*r.glucose_context);
      break;
    case core::ReadingKind::weight:
      j["value"] = r.weight_kg.value_or(0);
      j["unit"] = "kg";
      break;
    case core::ReadingKind::heart_rate:
      j["value"] = r.pulse_bpm.value_or(0);
      j["unit"] = "/min";
      break;
    case core::ReadingKind::hba1c:
      j["value"] = r.hba1c_percent.value_or(0);
      j["unit"] = "%";
      break;
    case core::ReadingKind::medication:
      j["name"] = r.medication_name;
      if (r.medication_status) j["status"] = core::to_string(*r.medication_status);
      break;
  }
  if (r.value_as_sent && !r.unit_as_sent.empty() && r.kind != core::ReadingKind::blood_pressure)
    j["as_sent"] = {{"value", *r.value_as_sent}, {"unit", r.unit_as_sent}};
  return j;
}

}  // namespace careloop::mobile_api
