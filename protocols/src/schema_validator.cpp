#include "schema_validator.hpp"

#include <algorithm>

#include "careloop/protocols/protocol.hpp"

namespace careloop::protocols::detail {
namespace {

using nlohmann::json;

const std::set<std::string> annotations{"$schema", "$id", "$comment", "title", "description", "examples", "$defs", "default"};
const std::set<std::string> implemented{"type",     "properties", "required",  "additionalProperties", "items", "enum",
                                        "minimum",  "maximum",    "minItems",  "minLength",            "minProperties", "$ref"};

std::string type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "other";
  }
}

bool has_type(const json& j, const std::string& t) {
  const std::string actual = type_name(j);
  if (t == actual) return true;
  if (t == "number" && actual == "integer") return true;
  // 3.0 is an integer in JSON Schema.
  if (t == "integer" && actual == "number") return j.get<double>() == static_cast<double>(static_cast<long long>(j.get<double>()));
  return false;
}

std::string escape(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

}  // namespace

SchemaValidator::SchemaValidator(json schema) : schema_(std::move(schema)) {
  check_schema(schema_, "#");
  if (schema_.contains("$defs"))
    for (const auto& [name, s] : schema_["$defs"].items()) check_schema(s, "#/$defs/" + name);
}

void SchemaValidator::check_schema(const json& s, const std::string& where) {
  if (!s.is_object()) {
    problems_.push_back(where + ": a schema is an object");
    return;
  }
  for (const auto& [k, v] : s.items()) {
    if (annotations.count(k)) continue;
    if (!implemented.count(k)) {
      problems_.push_back(where + ": keyword '" + k + "' is not implemented by the C++ validator");
      continue;
    }
    if (k == "properties")
      for (const auto& [name, sub] : v.items()) check_schema(sub, where + "/properties/" + name);
    if (k == "items") check_schema(v, where + "/items");
    if (k == "additionalProperties" && v.is_object()) check_schema(v, where + "/additionalProperties");
    if (k == "$ref") {
      const auto ref = v.get<std::string>();
      const std::string prefix = "#/$defs/";
      if (ref.rfind(prefix, 0) != 0 || !schema_.contains("$defs") || !schema_["$defs"].contains(ref.substr(prefix.size())))
        problems_.push_back(where + ": unresolved $ref " + ref);
    }
  }
}

const json& SchemaValidator::resolve(const json& s) const {
  if (s.contains("$ref")) return schema_["$defs"][s["$ref"].get<std::string>().substr(8)];
  return s;
}

void SchemaValidator::validate(const json& instance, const std::string& file, std::vector<LoadError>& out) const {
  validate(instance, schema_, file, "", out);
}

void SchemaValidator::validate(const json& inst, const json& schema, const std::string& file, const std::string& ptr,
                               std::vector<LoadError>& out) const {
  const json& s = resolve(schema);
  auto fail = [&](const std::string& p, std::string msg) { out.push_back({file, p, std::move(msg)}); };
  if (s.contains("type")) {
    std::vector<std::string> types;
    if (s["type"].is_array())
      for (const auto& t : s["type"]) types.push_back(t.get<std::string>());
    else
      types.push_back(s["type"].get<std::string>());
    if (std::none_of(types.begin(), types.end(), [&](const std::string& t) { return has_type(inst, t); })) {
      std::string want;
      for (const auto& t : types) want += (want.empty() ? "" : " or ") + t;
      fail(ptr, "expected " + want + ", found " + type_name(inst));
      return;
    }
  }
  if (s.contains("enum")) {
    const auto& e = s["enum"];
    if (std::find(e.begin(), e.end(), inst) == e.end()) {
      std::string allowed;
      for (const auto& v : e) allowed += (allowed.empty() ? "" : ", ") + v.dump();
      fail(ptr, inst.dump() + " is not one of " + allowed);
    }
  }
  if (inst.is_number()) {
    if (s.contains("minimum") && inst.get<double>() < s["minimum"].get<double>())
      fail(ptr, inst.dump() + " is below the minimum " + s["minimum"].dump());
    if (s.contains("maximum") && inst.get<double>() > s["maximum"].get<double>())
      fail(ptr, inst.dump() + " is above the maximum " + s["maximum"].dump());
  }
  if (inst.is_string() && s.contains("minLength") && inst.get<std::string>().size() < s["minLength"].get<std::size_t>())
    fail(ptr, "must not be empty");
  if (inst.is_array()) {
    if (s.contains("minItems") && inst.size() < s["minItems"].get<std::size_t>())
      fail(ptr, "needs at least " + s["minItems"].dump() + " item(s)");
    if (s.contains("items"))
      for (std::size_t i = 0; i < inst.size(); ++i) validate(inst[i], s["items"], file, ptr + "/" + std::to_string(i), out);
  }
  if (inst.is_object()) {
    if (s.contains("minProperties") && inst.size() < s["minProperties"].get<std::size_t>())
      fail(ptr, "needs at least " + s["minProperties"].dump() + " member(s)");
    if (s.contains("required"))
      for (const auto& r : s["required"])
        if (!inst.contains(r.get<std::string>())) fail(ptr, "missing required member \"" + r.get<std::string>() + "\"");
    const json* props = s.contains("properties") ? &s["properties"] : nullptr;
    for (const auto& [k, v] : inst.items()) {
      const std::string p = ptr + "/" + escape(k);
      if (props && props->contains(k)) {
        validate(v, (*props)[k], file, p, out);
      } else if (s.contains("additionalProperties")) {
        const auto& ap = s["additionalProperties"];
        if (ap.is_boolean() && !ap.get<bool>())
          fail(p, "unknown member \"" + k + "\"");
        else if (ap.is_object())
          validate(v, ap, file, p, out);
      }
    }
  }
}

std::set<std::string> SchemaValidator::property_names() const {
  std::set<std::string> names;
  auto walk = [&](auto&& self, const json& s) -> void {
    if (!s.is_object()) return;
    if (s.contains("properties"))
      for (const auto& [k, v] : s["properties"].items()) {
        names.insert(k);
        self(self, v);
      }
    if (s.contains("items")) self(self, s["items"]);
    if (s.contains("additionalProperties")) self(self, s["additionalProperties"]);
  };
  walk(walk, schema_);
  if (schema_.contains("$defs"))
    for (const auto& [k, v] : schema_["$defs"].items()) walk(walk, v);
  return names;
}

const SchemaValidator& protocol_schema() {
  static const SchemaValidator v(json::parse(protocol_schema_text()));
  return v;
}

}  // namespace careloop::protocols::detail
