#pragma once
// A validator for the subset of JSON Schema (draft 2020-12) that
// protocols/schema.json uses: type, properties, required,
// additionalProperties, items, enum, minimum, maximum, minItems, minLength,
// minProperties, $ref to "#/$defs/...". Annotation keywords are ignored; any
// other keyword makes the schema itself invalid, so the schema cannot say
// more than the loader checks.
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "careloop/protocols/condition.hpp"

namespace careloop::protocols::detail {

class SchemaValidator {
 public:
  explicit SchemaValidator(nlohmann::json schema);
  // Keywords the schema uses that this validator does not implement.
  const std::vector<std::string>& schema_problems() const noexcept { return problems_; }
  void validate(const nlohmann::json& instance, const std::string& file, std::vector<LoadError>& out) const;
  // Every property name the schema declares anywhere.
  std::set<std::string> property_names() const;

 private:
  void check_schema(const nlohmann::json& s, const std::string& where);
  void validate(const nlohmann::json& inst, const nlohmann::json& s, const std::string& file, const std::string& ptr,
                std::vector<LoadError>& out) const;
  const nlohmann::json& resolve(const nlohmann::json& s) const;
  nlohmann::json schema_;
  std::vector<std::string> problems_;
};

const SchemaValidator& protocol_schema();

}  // namespace careloop::protocols::detail

namespace careloop::protocols::detail {
// Every member name the semantic loader reads; tests/protocols checks it
// equals the property names schema.json declares.
const std::set<std::string>& loader_keys();
}  // namespace careloop::protocols::detail
