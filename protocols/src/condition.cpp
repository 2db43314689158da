#include "careloop/protocols/condition.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace careloop::protocols {
namespace {

using nlohmann::json;

struct Range {
  double min, max;
};

// Thresholds a protocol may write, per quantity, in canonical units. BP uses
// the widest plausibility bounds of core/plausibility.hpp (diastolic 20 to
// systolic 300 mmHg); a threshold outside them can never be met by a reading.
Range plausible(Quantity q) {
  switch (q) {
    case Quantity::pressure: return {20, 300};
    case Quantity::pressure_slope: return {-50, 50};
    case Quantity::glucose: return {0.5, 55};
    case Quantity::mass: return {-50, 400};
    case Quantity::hba1c: return {3, 20};
    case Quantity::percent: return {0, 100};
    case Quantity::heart_rate: return {20, 300};
    case Quantity::days: return {0, 3650};
    case Quantity::years: return {0, 130};
    case Quantity::bmi: return {10, 80};
    case Quantity::count: return {0, 1e6};
    case Quantity::boolean: return {0, 1};
  }
  return {0, 0};
}

constexpr std::array<std::pair<std::string_view, CmpOp>, 6> ops{{
    {"gt", CmpOp::gt}, {"gte", CmpOp::gte}, {"lt", CmpOp::lt}, {"lte", CmpOp::lte}, {"eq", CmpOp::eq}, {"between", CmpOp::between},
}};

std::string fmt(double v) {
  std::string s = std::to_string(v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

inline bool compare(CmpOp op, double x, double lo, double hi) noexcept {
  switch (op) {
    case CmpOp::gt: return x > lo;
    case CmpOp::gte: return x >= lo;
    case CmpOp::lt: return x < lo;
    case CmpOp::lte: return x <= lo;
    // Values computed from readings compare with a tolerance far below any unit's resolution.
    case CmpOp::eq: return std::fabs(x - lo) < 1e-9;
    case CmpOp::between: return x >= lo && x <= hi;
  }
  return false;
}

inline double operand(const Operand& o, const double* facts) noexcept { return o.is_fact ? facts[o.fact] : o.value; }

}  // namespace

bool threshold_plausible(Quantity q, double v, std::string& why) {
  const Range r = plausible(q);
  if (v >= r.min && v <= r.max) return true;
  why = std::string(q == Quantity::count ? "a count cannot be negative" : "outside the plausible range") + " [" + fmt(r.min) +
        ", " + fmt(r.max) + "] " + std::string(canonical_unit(q));
  return false;
}

std::string format(const LoadError& e) { return e.file + ": " + (e.pointer.empty() ? "/" : e.pointer) + ": " + e.message; }

struct ConditionCompiler {
  Condition& c;
  const std::string& file;
  std::vector<LoadError>& errors;
  std::size_t errors_before;

  void error(const std::string& pointer, std::string msg) { errors.push_back({file, pointer, std::move(msg)}); }

  void use_fact(FactId id) {
    if (std::find(c.facts_used_.begin(), c.facts_used_.end(), id) == c.facts_used_.end()) c.facts_used_.push_back(id);
    c.domains_ |= static_cast<std::uint8_t>(1u << static_cast<unsigned>(fact_registry()[id].domain));
  }

  // An operand for a fact of quantity `q`: a number (counts), a boolean
  // (true/false facts), {"value", "unit"}, or {"fact"} of the same quantity.
  std::optional<Operand> parse_operand(const json& j, Quantity q, const std::string& fact_name, const std::string& ptr) {
    Operand o;
    if (q == Quantity::boolean) {
      if (!j.is_boolean()) {
        error(ptr, "fact '" + fact_name + "' is true/false: compare it with \"eq\": true or false");
        return std::nullopt;
      }
      o.value = j.get<bool>() ? 1 : 0;
      return o;
    }
    if (j.is_number()) {
      if (q != Quantity::count) {
        error(ptr, "a threshold on '" + fact_name + "' (" + std::string(to_string(q)) + ") needs a unit, e.g. {\"value\": " +
                       fmt(j.get<double>()) + ", \"unit\": \"" + std::string(canonical_unit(q)) + "\"}");
        return std::nullopt;
      }
      o.value = j.get<double>();
    } else if (j.is_object() && j.contains("fact")) {
      const auto name = j["fact"].is_string() ? j["fact"].get<std::string>() : std::string();
      auto id = find_fact(name);
      if (!id) {
        error(ptr + "/fact", "unknown fact '" + name + "'");
        return std::nullopt;
      }
      if (fact_registry()[*id].quantity != q) {
        error(ptr + "/fact", "fact '" + name + "' is a " + std::string(to_string(fact_registry()[*id].quantity)) +
                                 ", not comparable with '" + fact_name + "' (" + std::string(to_string(q)) + ")");
        return std::nullopt;
      }
      use_fact(*id);
      o.is_fact = true;
      o.fact = *id;
      return o;
    } else if (j.is_object() && j.contains("value") && j["value"].is_number()) {
      const double v = j["value"].get<double>();
      if (q == Quantity::count) {
        if (j.contains("unit")) {
          error(ptr + "/unit", "'" + fact_name + "' is a count and takes no unit");
          return std::nullopt;
        }
        o.value = v;
      } else {
        const auto unit = j.contains("unit") && j["unit"].is_string() ? j["unit"].get<std::string>() : std::string();
        auto canon = to_canonical(q, v, unit);
        if (!canon) {
          error(ptr + "/unit", "unit '" + unit + "' cannot express a " + std::string(to_string(q)) + " ('" + fact_name +
                                   "' is in " + std::string(canonical_unit(q)) + ")");
          return std::nullopt;
        }
        o.value = *canon;
      }
    } else {
      error(ptr, "expected a number or {\"value\": number, \"unit\": string} or {\"fact\": name}");
      return std::nullopt;
    }
    const Range r = plausible(q);
    if (o.value < r.min || o.value > r.max) {
      std::string what = q == Quantity::count ? "a count cannot be negative" : "outside the plausible range";
      error(ptr, "threshold " + fmt(o.value) + " " + std::string(canonical_unit(q)) + " on '" + fact_name + "' is " + what +
                     " [" + fmt(r.min) + ", " + fmt(r.max) + "]");
      return std::nullopt;
    }
    return o;
  }

  // Reads exactly one comparison operator of `j` into op/lo/hi.
  bool parse_comparison(const json& j, Quantity q, const std::string& fact_name, const std::string& ptr, CmpOp& op, Operand& lo,
                        Operand& hi) {
    int found = 0;
    for (const auto& [name, o] : ops) {
      if (!j.contains(name)) continue;
      ++found;
      op = o;
      const std::string p = ptr + "/" + std::string(name);
      const json& v = j[std::string(name)];
      if (o == CmpOp::between) {
        if (!v.is_array() || v.size() != 2) {
          error(p, "\"between\" takes [low, high]");
          return false;
        }
        auto a = parse_operand(v[0], q, fact_name, p + "/0");
        auto b = parse_operand(v[1], q, fact_name, p + "/1");
        if (!a || !b) return false;
        if (!a->is_fact && !b->is_fact && a->value > b->value) {
          error(p, "impossible range: low " + fmt(a->value) + " is above high " + fmt(b->value));
          return false;
        }
        lo = *a;
        hi = *b;
      } else {
        if (q == Quantity::boolean && o != CmpOp::eq) {
          error(p, "fact '" + fact_name + "' is true/false: only \"eq\" applies");
          return false;
        }
        auto a = parse_operand(v, q, fact_name, p);
        if (!a) return false;
        lo = *a;
      }
    }
    if (found != 1) {
      error(ptr, found == 0 ? "a comparison needs one of gt, gte, lt, lte, eq, between" : "a comparison takes exactly one operator");
      return false;
    }
    return true;
  }

  std::uint32_t node(const json& j, const std::string& ptr) {
    const auto index = static_cast<std::uint32_t>(c.nodes_.size());
    c.nodes_.emplace_back();
    CondNode n;
    if (!j.is_object()) {
      error(ptr, "a condition is an object");
      return index;
    }
    auto children = [&](const json& arr, const std::string& p) {
      std::vector<std::uint32_t> kids;
      if (!arr.is_array() || arr.empty()) {
        error(p, "expected a non-empty array of conditions");
        return;
      }
      for (std::size_t i = 0; i < arr.size(); ++i) kids.push_back(node(arr[i], p + "/" + std::to_string(i)));
      n.first_child = static_cast<std::uint32_t>(c.children_.size());
      n.child_count = static_cast<std::uint32_t>(kids.size());
      c.children_.insert(c.children_.end(), kids.begin(), kids.end());
    };
    const int kinds = int(j.contains("all")) + int(j.contains("any")) + int(j.contains("not")) + int(j.contains("fact")) +
                      int(j.contains("count_of"));
    if (kinds != 1) {
      error(ptr, kinds == 0 ? "a condition needs one of all, any, not, fact, count_of"
                            : "a condition takes exactly one of all, any, not, fact, count_of");
    } else if (j.contains("all")) {
      n.kind = CondNode::Kind::all;
      children(j["all"], ptr + "/all");
    } else if (j.contains("any")) {
      n.kind = CondNode::Kind::any;
      children(j["any"], ptr + "/any");
    } else if (j.contains("not")) {
      n.kind = CondNode::Kind::negate;
      const auto kid = node(j["not"], ptr + "/not");
      n.first_child = static_cast<std::uint32_t>(c.children_.size());
      n.child_count = 1;
      c.children_.push_back(kid);
    } else if (j.contains("fact")) {
      const auto name = j["fact"].is_string() ? j["fact"].get<std::string>() : std::string();
      auto id = find_fact(name);
      if (!id) {
        error(ptr + "/fact", "unknown fact '" + name + "'");
      } else {
        use_fact(*id);
        n.fact = *id;
        if (j.contains("missing")) {
          n.kind = CondNode::Kind::missing;
          if (!j["missing"].is_boolean() || j.size() != 2)
            error(ptr + "/missing", "\"missing\" takes true or false and no other operator");
          else
            n.want_missing = j["missing"].get<bool>();
        } else {
          n.kind = CondNode::Kind::compare;
          parse_comparison(j, fact_registry()[*id].quantity, name, ptr, n.op, n.lo, n.hi);
        }
      }
    } else {
      n.kind = CondNode::Kind::count_of;
      const auto name = j["count_of"].is_string() ? j["count_of"].get<std::string>() : std::string();
      auto sid = find_series(name);
      if (!sid) {
        error(ptr + "/count_of", "unknown series '" + name + "'");
      } else if (!j.contains("where")) {
        error(ptr, "\"count_of\" needs \"where\": the comparison each value must meet");
      } else {
        n.series = *sid;
        if (std::find(c.series_used_.begin(), c.series_used_.end(), *sid) == c.series_used_.end()) c.series_used_.push_back(*sid);
        const auto& def = series_registry()[*sid];
        c.domains_ |= static_cast<std::uint8_t>(1u << static_cast<unsigned>(def.domain));
        if (parse_comparison(j["where"], def.quantity, name, ptr + "/where", n.where_op, n.where_lo, n.where_hi)) {
          json count_part = j;
          count_part.erase("count_of");
          count_part.erase("where");
          if (parse_comparison(count_part, Quantity::count, "count of " + name, ptr, n.op, n.lo, n.hi) &&
              n.lo.value > static_cast<double>(series_capacity))
            error(ptr, "a count above " + std::to_string(series_capacity) + " can never be reached: '" + name +
                           "' holds at most " + std::to_string(series_capacity) + " values");
        }
      }
    }
    c.nodes_[index] = n;
    return index;
  }
};

Condition Condition::compile(const json& j, const std::string& file, const std::string& pointer, std::vector<LoadError>& errors) {
  Condition c;
  ConditionCompiler cc{c, file, errors, errors.size()};
  cc.node(j, pointer);
  if (errors.size() != cc.errors_before) return Condition{};
  return c;
}

bool Condition::eval_node(const Snapshot& s, const double* facts, std::uint32_t i) const noexcept {
  const CondNode& n = nodes_[i];
  switch (n.kind) {
    case CondNode::Kind::all:
      for (std::uint32_t k = 0; k < n.child_count; ++k)
        if (!eval_node(s, facts, children_[n.first_child + k])) return false;
      return true;
    case CondNode::Kind::any:
      for (std::uint32_t k = 0; k < n.child_count; ++k)
        if (eval_node(s, facts, children_[n.first_child + k])) return true;
      return false;
    case CondNode::Kind::negate: return !eval_node(s, facts, children_[n.first_child]);
    case CondNode::Kind::missing: return std::isnan(facts[n.fact]) == n.want_missing;
    case CondNode::Kind::compare: {
      const double x = facts[n.fact];
      const double lo = operand(n.lo, facts);
      const double hi = n.op == CmpOp::between ? operand(n.hi, facts) : 0;
      // NaN compares false: no data never fires a comparison.
      return compare(n.op, x, lo, hi);
    }
    case CondNode::Kind::count_of: {
      const Series& ser = s.series[n.series];
      const double wlo = operand(n.where_lo, facts);
      const double whi = n.where_op == CmpOp::between ? operand(n.where_hi, facts) : 0;
      int count = 0;
      for (std::uint8_t k = 0; k < ser.size; ++k) count += compare(n.where_op, ser.values[k], wlo, whi) ? 1 : 0;
      return compare(n.op, count, operand(n.lo, facts), n.op == CmpOp::between ? operand(n.hi, facts) : 0);
    }
  }
  return false;
}

}  // namespace careloop::protocols
