#pragma once
// Declarative conditions over facts, compiled at load into a flat form
// (fact index + canonical threshold) so evaluation does no lookups:
//   {"all": [...]}, {"any": [...]}, {"not": {...}}
//   {"fact": "bp.mean_7d.systolic", "gte": {"value": 135, "unit": "mmHg"}}
//   {"fact": "bp.count_7d", "gte": 3}
//   {"fact": "patient.pregnant", "eq": true}
//   {"fact": "bp.mean_7d.systolic", "gte": {"fact": "target.bp.home_systolic_lt"}}
//   {"fact": "glucose.fasting.mean_7d", "between": [{"value": 4.4, "unit": "mmol/L"}, {"value": 7, "unit": "mmol/L"}]}
//   {"fact": "bp.reading.repeat_15min.systolic", "missing": true}
//   {"count_of": "hr.readings_24h", "where": {"gt": {"value": 100, "unit": "/min"}}, "gte": 3}
// A comparison on a fact without data is false ("no data"); "missing" asks
// for that case explicitly.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "careloop/protocols/facts.hpp"

namespace careloop::protocols {

// One problem in one protocol file, named by JSON pointer (RFC 6901).
struct LoadError {
  std::string file;
  std::string pointer;
  std::string message;
};
std::string format(const LoadError& e);  // "file: /pointer: message"

// Whether a threshold in canonical units could ever be met by a plausible
// value of the quantity; `why` says what is wrong when not.
bool threshold_plausible(Quantity q, double canonical_value, std::string& why);

enum class CmpOp : std::uint8_t { gt, gte, lt, lte, eq, between };

struct Operand {
  bool is_fact = false;
  FactId fact = 0;
  double value = 0;  // canonical unit
};

struct CondNode {
  enum class Kind : std::uint8_t { all, any, negate, compare, missing, count_of };
  Kind kind = Kind::all;
  CmpOp op = CmpOp::eq;
  bool want_missing = true;  // Kind::missing
  FactId fact = 0;
  SeriesId series = 0;
  Operand lo, hi;            // hi only for between
  CmpOp where_op = CmpOp::eq;
  Operand where_lo, where_hi;
  std::uint32_t first_child = 0, child_count = 0;
};

class Condition {
 public:
  // An empty condition is always true.
  bool empty() const noexcept { return nodes_.empty(); }
  bool eval(const Snapshot& s, const double* facts) const noexcept {
    return nodes_.empty() || eval_node(s, facts, 0);
  }
  // The facts and series the condition reads, for the rationale.
  const std::vector<FactId>& facts_used() const noexcept { return facts_used_; }
  const std::vector<SeriesId>& series_used() const noexcept { return series_used_; }
  std::uint8_t domains() const noexcept { return domains_; }  // bit per Domain

  // Compiles `j` (found at `pointer` in `file`); appends errors and returns
  // an empty condition when it has any.
  static Condition compile(const nlohmann::json& j, const std::string& file, const std::string& pointer,
                           std::vector<LoadError>& errors);

 private:
  bool eval_node(const Snapshot& s, const double* facts, std::uint32_t i) const noexcept;
  std::vector<CondNode> nodes_;
  std::vector<std::uint32_t> children_;
  std::vector<FactId> facts_used_;
  std::vector<SeriesId> series_used_;
  std::uint8_t domains_ = 0;
  friend struct ConditionCompiler;
};

}  // namespace careloop::protocols
