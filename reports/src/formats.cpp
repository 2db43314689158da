// The three formats of a report. Each writes the cells of the same Report, so
// the numbers agree: counts as integers, rates as fractions rounded to 4
// decimals, a suppressed cell as null / "suppressed" / data-absent-reason
// "masked" (a count with its reason: small-count or complementary), a rate
// over 0 as null / "" / "not-applicable".
#include <nlohmann/json.hpp>

#include "careloop/core/time.hpp"
#include "careloop/reports/report.hpp"

namespace careloop::reports {
namespace {

using nlohmann::json;

bool is_rate(const std::string& column) { return rate_parts(column).has_value(); }

json number(const std::string& column, double v) {
  if (is_rate(column)) return v;
  return static_cast<std::int64_t>(v);
}

json unit_json(const UnitRef& u) {
  return {{"type", to_string(u.type)}, {"id", u.id}, {"name", u.name}, {"level", u.level}};
}

json table_json(const Table& t) {
  json rows = json::array();
  for (const auto& r : t.rows) {
    json values = json::object();
    json suppressed = json::array();
    json small = json::array();
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
      const auto& c = r.cells[i];
      values[t.columns[i]] = c.value ? number(t.columns[i], *c.value) : json(nullptr);
      if (c.suppressed) suppressed.push_back(t.columns[i]);
      if (c.small) small.push_back(t.columns[i]);
    }
    rows.push_back({{"unit", unit_json(r.unit)},
                    {"breakdown", r.breakdown},
                    {"group", r.group},
                    {"values", std::move(values)},
                    {"suppressed", std::move(suppressed)},
                    {"suppressed_small", std::move(small)}});
  }
  return {{"columns", t.columns}, {"rows", std::move(rows)}};
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

const json& masked() {
  static const json j = {{"extension", json::array({{{"url", "http://hl7.org/fhir/StructureDefinition/data-absent-reason"},
                                                      {"valueCode", "masked"}}})}};
  return j;
}
constexpr std::string_view suppression_reason_url = "urn:careloop:fhir:suppression-reason";
// A suppressed count: masked, and why: "small-count" (1-4) or "complementary"
// (hidden only to protect another; nothing is said of its size).
json masked_count(const Cell& c) {
  json j = masked();
  j["extension"].push_back({{"url", std::string(suppression_reason_url)}, {"valueCode", c.small ? "small-count" : "complementary"}});
  return j;
}
const json& not_applicable() {
  static const json j = {{"extension", json::array({{{"url", "http://hl7.org/fhir/StructureDefinition/data-absent-reason"},
                                                      {"valueCode", "not-applicable"}}})}};
  return j;
}

json population(std::string_view code, const Cell& c) {
  json coding = {{"system", "http://terminology.hl7.org/CodeSystem/measure-population"}, {"code", code}};
  json p = json::object();
  p["code"] = {{"coding", json::array({coding})}};
  if (c.value) p["count"] = static_cast<std::int64_t>(*c.value);
  else p["_count"] = masked_count(c);
  return p;
}

// The populations and score of one indicator for one row.
void fill_measure(json& target, const Table& t, const Row& r, std::size_t col) {
  auto cell_of = [&](const std::string& name) -> Cell {
    for (std::size_t i = 0; i < t.columns.size(); ++i)
      if (t.columns[i] == name) return r.cells[i];
    return {};
  };
  const auto& name = t.columns[col];
  const Cell& c = r.cells[col];
  if (auto parts = rate_parts(name)) {
    target["population"] = json::array({population("numerator", cell_of(parts->first)),
                                        population("denominator", cell_of(parts->second))});
    target["measureScore"] = c.value ? json{{"value", *c.value}} : c.suppressed ? masked() : not_applicable();
  } else {
    target["population"] = json::array({population("initial-population", c)});
  }
}

}  // namespace

std::string to_json_text(const Report& r) {
  json children = json::array();
  for (const auto& c : r.children) children.push_back(unit_json(c));
  json path = json::array();
  for (const auto& p : r.path) path.push_back(unit_json(p));
  json out = {{"unit", unit_json(r.unit)},
              {"month", format_month(r.month)},
              {"time_zone", r.time_zone},
              {"path", std::move(path)},
              {"children", std::move(children)},
              {"suppression", {{"min_published", min_published}, {"rule", "counts 1-4 (listed in suppressed_small as well) and the cells that would reveal them by subtraction, in this report or with any other month's, are null and listed in suppressed"}}},
              {"indicators", table_json(r.indicators)},
              {"trend", table_json(r.trend)},
              {"cohorts", table_json(r.cohorts)},
              {"alerts", table_json(r.alerts)}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string to_csv(const Report& r, std::string_view which) {
  const Table* t = which == "trend" ? &r.trend : which == "cohorts" ? &r.cohorts : which == "alerts" ? &r.alerts : &r.indicators;
  std::string out = "month,unit_type,unit_id,unit_name,breakdown,group";
  for (const auto& c : t->columns) out += "," + c;
  out += "\r\n";
  for (const auto& row : t->rows) {
    out += format_month(r.month) + "," + std::string(to_string(row.unit.type)) + "," + std::to_string(row.unit.id) + "," +
           csv_field(row.unit.name) + "," + row.breakdown + "," + csv_field(row.group);
    for (std::size_t i = 0; i < t->columns.size(); ++i) {
      const auto& c = row.cells[i];
      out += ",";
      if (c.suppressed) out += "suppressed";
      else if (c.value) out += number(t->columns[i], *c.value).dump();
    }
    out += "\r\n";
  }
  return out;
}

std::string to_fhir(const Report& r) {
  const Table& t = r.indicators;
  json entries = json::array();
  for (const auto& row : t.rows) {
    if (row.group != "all") continue;
    json groups = json::array();
    for (std::size_t col = 0; col < t.columns.size(); ++col) {
      json g = {{"id", t.columns[col]},
                {"code", {{"coding", json::array({{{"system", "urn:careloop:report-indicator"}, {"code", t.columns[col]}}})},
                          {"text", t.columns[col]}}}};
      fill_measure(g, t, row, col);
      // The unit itself carries its sex and age-band strata.
      if (row.unit.type == r.unit.type && row.unit.id == r.unit.id) {
        json stratifiers = json::array();
        for (const std::string breakdown : {"sex", "age"}) {
          json strata = json::array();
          for (const auto& s : t.rows) {
            if (s.breakdown != breakdown || s.unit.id != row.unit.id || s.unit.type != row.unit.type) continue;
            json stratum = {{"value", {{"text", s.group}}}};
            fill_measure(stratum, t, s, col);
            strata.push_back(std::move(stratum));
          }
          stratifiers.push_back({{"code", json::array({{{"text", breakdown}}})}, {"stratum", std::move(strata)}});
        }
        g["stratifier"] = std::move(stratifiers);
      }
      groups.push_back(std::move(g));
    }
    const std::string system = row.unit.type == UnitType::region ? "urn:careloop:region" : "urn:careloop:clinic";
    json report = {{"resourceType", "MeasureReport"},
                   {"id", std::string(to_string(row.unit.type)) + "-" + std::to_string(row.unit.id) + "-" + format_month(r.month)},
                   {"status", "complete"},
                   {"type", "summary"},
                   {"measure", "urn:careloop:measure:hearts-indicators"},
                   {"period", {{"start", core::format_iso8601_utc(r.period_start_ms)},
                               {"end", core::format_iso8601_utc(r.period_end_ms - 1)}}},
                   {"reporter", {{"display", row.unit.name}, {"identifier", {{"system", system}, {"value", std::to_string(row.unit.id)}}}}},
                   {"group", std::move(groups)}};
    entries.push_back({{"fullUrl", "urn:careloop:measure-report:" + report["id"].get<std::string>()}, {"resource", std::move(report)}});
  }
  json bundle = {{"resourceType", "Bundle"}, {"type", "collection"}, {"entry", std::move(entries)}};
  return bundle.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace careloop::reports
