#include <catch2/catch.hpp>

#include "careloop/risk/model_spec.hpp"
#include "fixtures.hpp"

using namespace careloop::risk;

TEST_CASE("model spec: the committed specs parse and round-trip") {
  for (const char* id : {"pima-diabetes", "hypertension-4y", "diabetes-8y"}) {
    auto s = read_model_spec((testing::data_dir() / "specs" / (std::string(id) + ".json")).string());
    INFO(id << ": " << (s.ok() ? "" : s.error().message));
    REQUIRE(s.ok());
    CHECK(s->id == id);
    auto again = parse_model_spec(to_json(*s));
    REQUIRE(again.ok());
    CHECK(again->feature_names() == s->feature_names());
    CHECK(again->xgboost_params == s->xgboost_params);
  }
}

TEST_CASE("model spec: errors name their fields") {
  auto s = parse_model_spec(R"({"id": "Bad Id", "version": "1", "outcome": {"column": "y"},
    "features": [{"name": "a", "unit": "", "min": 2, "max": 1}, {"name": "a", "unit": "", "min": 0, "max": 1}],
    "xgboost": {"objective": "reg:squarederror"}, "baselines": ["astrology"],
    "bands": {"moderate": 0.5, "high": 0.4, "rationale": ""}})");
  REQUIRE_FALSE(s.ok());
  std::vector<std::string> pointers;
  for (const auto& f : s.error().fields) pointers.push_back(f.pointer);
  for (const char* p : {"/id", "/features/0/max", "/features/1/name", "/xgboost/objective", "/baselines/0", "/bands"})
    CHECK(std::find(pointers.begin(), pointers.end(), p) != pointers.end());
}
