#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "helpers.hpp"

using namespace careloop::protocols;
using namespace careloop::protocols::test;
using nlohmann::json;

namespace {

Condition compile(const char* text, std::vector<LoadError>& errors) {
  return Condition::compile(json::parse(text), "t.json", "/when", errors);
}

bool eval(const char* text, const Snapshot& s) {
  std::vector<LoadError> errors;
  const auto c = compile(text, errors);
  INFO(errors.size());
  REQUIRE(errors.empty());
  return c.eval(s, s.values.data());
}

}  // namespace

TEST_CASE("conditions: units convert at load (mg/dL, mmol/mol, weeks, g, lb)") {
  CHECK(*to_canonical(Quantity::glucose, 126, "mg/dL") == Approx(126 / 18.016));
  CHECK(*to_canonical(Quantity::hba1c, 53, "mmol/mol") == Approx(0.09148 * 53 + 2.152));
  CHECK(*to_canonical(Quantity::days, 2, "weeks") == 14);
  CHECK(*to_canonical(Quantity::mass, 2000, "g") == Approx(2));
  CHECK(*to_canonical(Quantity::mass, 1, "lb") == Approx(0.45359237));
  CHECK_FALSE(to_canonical(Quantity::pressure, 1, "kPa"));
  CHECK_FALSE(to_canonical(Quantity::glucose, 1, "mg/dl"));  // UCUM case matters

  Snapshot s;
  s.set("glucose.latest.mmol_l", 7.0);
  // 126 mg/dL = 6.99 mmol/L: 7.0 is above it, 127 mg/dL (7.05) is above 7.0.
  CHECK(eval(R"({"fact": "glucose.latest.mmol_l", "gte": {"value": 126, "unit": "mg/dL"}})", s));
  CHECK_FALSE(eval(R"({"fact": "glucose.latest.mmol_l", "gte": {"value": 127, "unit": "mg/dL"}})", s));
  s.set("hba1c.latest.percent", 7.1);
  CHECK(eval(R"({"fact": "hba1c.latest.percent", "gte": {"value": 53, "unit": "mmol/mol"}})", s));
}

TEST_CASE("conditions: comparisons on both sides of a threshold, and no data is false") {
  Snapshot s;
  s.set("bp.mean_7d.systolic", 135);
  s.set("bp.count_7d", 3);
  const char* rule = R"({"all": [{"fact": "bp.mean_7d.systolic", "gte": {"value": 135, "unit": "mmHg"}}, {"fact": "bp.count_7d", "gte": 3}]})";
  CHECK(eval(rule, s));
  s.set("bp.mean_7d.systolic", 134.9);
  CHECK_FALSE(eval(rule, s));
  s.set("bp.mean_7d.systolic", 140);
  s.set("bp.count_7d", 2);
  CHECK_FALSE(eval(rule, s));
  CHECK(eval(R"({"fact": "bp.mean_7d.systolic", "gt": {"value": 139, "unit": "mmHg"}})", s));
  CHECK_FALSE(eval(R"({"fact": "bp.mean_7d.systolic", "gt": {"value": 140, "unit": "mmHg"}})", s));
  CHECK(eval(R"({"fact": "bp.mean_7d.systolic", "between": [{"value": 140, "unit": "mmHg"}, {"value": 150, "unit": "mmHg"}]})", s));

  // No data: every comparison is false, "missing" sees it, "not" inverts it.
  CHECK_FALSE(eval(R"({"fact": "bp.mean_30d.systolic", "gte": {"value": 20, "unit": "mmHg"}})", s));
  CHECK_FALSE(eval(R"({"fact": "bp.mean_30d.systolic", "lt": {"value": 300, "unit": "mmHg"}})", s));
  CHECK(eval(R"({"fact": "bp.mean_30d.systolic", "missing": true})", s));
  CHECK_FALSE(eval(R"({"fact": "bp.mean_7d.systolic", "missing": true})", s));
  CHECK(eval(R"({"not": {"fact": "bp.mean_30d.systolic", "gte": {"value": 140, "unit": "mmHg"}}})", s));
  CHECK(eval(R"({"any": [{"fact": "bp.mean_30d.systolic", "gte": {"value": 140, "unit": "mmHg"}}, {"fact": "bp.count_7d", "eq": 2}]})", s));
}

TEST_CASE("conditions: a fact against another fact (the patient's own target)") {
  Snapshot s;
  s.set("bp.mean_7d.systolic", 132);
  const char* rule = R"({"fact": "bp.mean_7d.systolic", "gte": {"fact": "target.bp.home_systolic_lt"}})";
  CHECK_FALSE(eval(rule, s));  // no target: no data
  s.set("target.bp.home_systolic_lt", 130);
  CHECK(eval(rule, s));
  s.set("target.bp.home_systolic_lt", 135);
  CHECK_FALSE(eval(rule, s));
}

TEST_CASE("conditions: count_of counts the values of a series that meet a comparison") {
  Snapshot s;
  auto id = *find_series("glucose.fasting.daily_mean_7d");
  for (double v : {6.9, 7.0, 7.4, 8.0}) s.series[id].push(v);
  const char* three = R"({"count_of": "glucose.fasting.daily_mean_7d", "where": {"gte": {"value": 7.0, "unit": "mmol/L"}}, "gte": 3})";
  CHECK(eval(three, s));
  s.series[id].values[1] = 6.99;
  CHECK_FALSE(eval(three, s));
  CHECK(eval(R"({"count_of": "glucose.fasting.daily_mean_7d", "where": {"gte": {"value": 125, "unit": "mg/dL"}}, "gte": 3})", s));
}

TEST_CASE("conditions: compile errors name the pointer and what is wrong") {
  struct Case {
    const char* text;
    const char* pointer;
    const char* message;
  };
  const Case cases[] = {
      {R"({"fact": "bp.mean_7d.sys", "gte": 1})", "/when/fact", "unknown fact 'bp.mean_7d.sys'"},
      {R"({"fact": "bp.count_7d", "gte": 3, "lt": 9})", "/when", "exactly one operator"},
      {R"({"fact": "patient.pregnant", "gte": 1})", "/when/gte", "only \"eq\" applies"},
      {R"({"fact": "patient.pregnant", "eq": 1})", "/when/eq", "true/false"},
      {R"({"fact": "weight.latest.kg", "gt": {"value": 2, "unit": "mmHg"}})", "/when/gt/unit", "cannot express a mass"},
      {R"({"fact": "bp.mean_7d.systolic", "gte": {"fact": "glucose.latest.mmol_l"}})", "/when/gte/fact", "not comparable"},
      {R"({"all": []})", "/when/all", "non-empty array"},
      {R"({"all": [{"fact": "bp.count_7d", "gte": 1}], "any": []})", "/when", "exactly one of"},
      {R"({"count_of": "hr.readings_24h", "where": {"gt": {"value": 100, "unit": "/min"}}, "gte": 17})", "/when", "can never be reached"},
      {R"({"count_of": "hr.readings_7d", "where": {"gt": 1}, "gte": 1})", "/when/count_of", "unknown series"},
      {R"({"fact": "glucose.latest.mmol_l", "lt": {"value": 0.1, "unit": "mmol/L"}})", "/when/lt", "outside the plausible range"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.text) {
      std::vector<LoadError> errors;
      const auto cond = compile(c.text, errors);
      CHECK(cond.empty());
      REQUIRE_FALSE(errors.empty());
      CHECK(errors[0].file == "t.json");
      CHECK(errors[0].pointer == c.pointer);
      CHECK_THAT(errors[0].message, Catch::Contains(c.message));
    }
  }
}

TEST_CASE("facts: the registry names are unique and every fact has a unit or is dimensionless") {
  std::set<std::string> names;
  for (const auto& f : fact_registry()) {
    CHECK(names.insert(f.name).second);
    CHECK_FALSE(f.description.empty());
  }
  CHECK(fact_registry().size() <= max_facts);
  CHECK(find_fact("bp.mean_7d.systolic"));
  CHECK(find_fact("target.hba1c_lt"));
  CHECK(drug_class("Amlodipine") == std::optional<std::string_view>("ccb"));
  CHECK(drug_class("insulin glargine") == std::optional<std::string_view>("insulin"));
  CHECK_FALSE(drug_class("aspirin"));
  CHECK(dose_mg("12.5 mg once daily") == 12.5);
  CHECK(dose_mg("0.5 g twice daily") == 500);
  CHECK_FALSE(dose_mg("one tablet"));
}

TEST_CASE("facts: a snapshot reads windows, the reading being written and its 15-minute repeat") {
  using careloop::core::PatientState;
  PatientState st;
  const std::int64_t t0 = at("2026-03-01T08:00:00+08:00");
  for (int d = 0; d < 7; ++d) st.apply(bp(t0 + d * day_ms, 150, 92, 80));
  const auto first = bp(t0 + 6 * day_ms + 20 * minute_ms, 185, 100);
  st.apply(first);
  st.apply(bp(t0 + 6 * day_ms + 25 * minute_ms, 170, 95));
  auto p = patient(60, careloop::core::Sex::male, {"hypertension"}, st.today(t0 + 6 * day_ms));
  const auto s = make_snapshot(st, p, {}, t0 + 6 * day_ms + 30 * minute_ms, &first);
  CHECK(s.get("bp.count_7d") == 9);
  CHECK(s.get("bp.reading.systolic") == 185);
  CHECK(s.get("bp.reading.repeat_15min.systolic") == 170);
  CHECK(s.get("bp.latest.systolic") == 170);
  CHECK(s.get("patient.age_years") == 60);
  CHECK(s.get("hr.count_24h") == 1);
  CHECK(s.get("bp.days_since_last") == Approx(5.0 / (24 * 60)));
  CHECK(std::isnan(s.get("glucose.latest.mmol_l")));
  const auto no_trigger = make_snapshot(st, p, {}, t0 + 6 * day_ms + 30 * minute_ms);
  CHECK(no_trigger.get("bp.reading.systolic") == 170);
  CHECK(std::isnan(no_trigger.get("bp.reading.repeat_15min.systolic")));
}
