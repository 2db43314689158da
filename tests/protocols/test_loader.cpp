#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "../../protocols/src/schema_validator.hpp"
#include "helpers.hpp"

using namespace careloop::protocols;
using namespace careloop::protocols::test;

namespace {

std::string errors_text(const std::vector<LoadError>& errors) {
  std::string s;
  for (const auto& e : errors) s += format(e) + "\n";
  return s;
}

}  // namespace

TEST_CASE("loader: the library loads without errors and cites its sources") {
  const auto& lib = library();
  INFO(errors_text(lib.errors));
  REQUIRE(lib.ok());
  REQUIRE(lib.protocols.size() == 3);
  for (const auto& p : lib.protocols) {
    INFO(p.id);
    CHECK_FALSE(p.sources.empty());
    CHECK(p.ladder.has_value());
    for (const auto& r : p.alerts) {
      CHECK_FALSE(r.prov.sources.empty());
      if (r.prov.evidence == Evidence::decision) CHECK_FALSE(r.prov.rationale.empty());
    }
  }
  CHECK(check_directory(CARELOOP_PROTOCOL_DIR).empty());
}

TEST_CASE("loader: schema.json uses only what the C++ validator implements, and names exactly what the loader reads") {
  const auto& v = detail::protocol_schema();
  CHECK(v.schema_problems().empty());
  std::ifstream in(CARELOOP_PROTOCOL_SCHEMA);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == std::string(protocol_schema_text()));  // the compiled-in copy is current
  const auto declared = v.property_names();
  const auto& read = detail::loader_keys();
  for (const auto& k : declared) {
    INFO("declared in schema.json but not read by the loader: " << k);
    CHECK(read.count(k) == 1);
  }
  for (const auto& k : read) {
    INFO("read by the loader but not declared in schema.json: " << k);
    CHECK(declared.count(k) == 1);
  }
}

TEST_CASE("loader: each broken file is reported with its file, JSON pointer and what is wrong") {
  struct Case {
    const char* file;
    const char* pointer;
    const char* message;
  };
  const Case cases[] = {
      {"not_json.json", "", "not valid JSON"},
      {"missing_required.json", "", "missing required member \"alert_settings\""},
      {"wrong_type.json", "/version", "expected string, found integer"},
      {"bad_enum.json", "/alert_rules/0/tier", "\"urgent\" is not one of \"critical\", \"warning\""},
      {"unknown_member.json", "/alert_rules/0/threshold", "unknown member \"threshold\""},
      {"unknown_fact.json", "/alert_rules/1/when/all/1/any/0/fact", "unknown fact 'bp.mean_8d.systolic'"},
      {"unit_cannot_convert.json", "/alert_rules/0/when/all/0/any/0/gte/unit", "unit 'mg/dL' cannot express a pressure"},
      {"missing_unit.json", "/alert_rules/0/when/all/0/any/0/gte", "needs a unit"},
      {"impossible_between.json", "/alert_rules/0/when/between", "impossible range: low 10 is above high 5"},
      {"negative_count.json", "/alert_rules/1/when/all/0/gte", "a count cannot be negative"},
      {"implausible_bp.json", "/alert_rules/0/when/all/0/any/0/gte", "outside the plausible range"},
      {"dangling_next.json", "/medication_ladder/steps/2/next", "dangling next: no step 'amlodipine_15'"},
      {"unreachable_step.json", "/medication_ladder/steps/3", "unreachable step 'telmisartan_40'"},
      {"duplicate_rule_id.json", "/alert_rules/3/id", "duplicate rule id 'bp_low_critical' (first at /alert_rules/2)"},
      {"unknown_source.json", "/alert_rules/2/sources/0", "unknown source 'nice-2019'"},
      {"decision_without_rationale.json", "/alert_rules/4", "needs a one-line \"rationale\""},
      {"unknown_drug_class.json", "/medication_ladder/cautions/0/forbid_classes/0", "unknown drug class 'arbs'"},
      {"fasting_range_inverted.json", "/parameters/target_groups/2/targets", "impossible range: fasting glucose"},
      {"drug_not_of_class.json", "/medication_ladder/steps/1/options/0/0/drug", "'telmisartan' is a arb, not of the class given"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.file) {
      const auto r = load_protocol_file(std::filesystem::path(CARELOOP_INVALID_DIR) / c.file);
      INFO(errors_text(r.errors));
      REQUIRE_FALSE(r.ok());
      CHECK(r.protocols.empty());
      const bool found = std::any_of(r.errors.begin(), r.errors.end(), [&](const LoadError& e) {
        return e.file == c.file && e.pointer == c.pointer && e.message.find(c.message) != std::string::npos;
      });
      CHECK(found);
    }
  }
}

TEST_CASE("loader: check_directory reports every broken file and duplicate versions") {
  const auto errors = check_directory(CARELOOP_INVALID_DIR);
  std::set<std::string> files;
  for (const auto& e : errors) files.insert(e.file);
  CHECK(files.size() == 19);

  const auto dir = std::filesystem::temp_directory_path() / ("careloop-protocols-dup-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto src = std::filesystem::path(CARELOOP_PROTOCOL_DIR) / "who-hearts-hypertension-2021.json";
  std::filesystem::copy_file(src, dir / "a.json", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(src, dir / "b.json", std::filesystem::copy_options::overwrite_existing);
  const auto dup = check_directory(dir);
  std::filesystem::remove_all(dir);
  REQUIRE(dup.size() == 1);
  CHECK(format(dup[0]) == "b.json: /id: protocol who-hearts-hypertension-2021 version 2021.1 is also in a.json");
  CHECK_FALSE(check_directory(dir).empty());  // a missing directory is an error, not "valid"
}

TEST_CASE("loader: a protocol set takes one protocol per programme") {
  const auto& cn = protocol("cn-hypertension-primary-2020");
  const auto& who = protocol("who-hearts-hypertension-2021");
  const auto& dm = protocol("cn-diabetes-primary-2022");
  CHECK(ProtocolSet::make({&cn, &dm}).ok());
  const auto bad = ProtocolSet::make({&cn, &who});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("both for hypertension") != std::string::npos);
}
