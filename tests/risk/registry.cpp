#include <catch2/catch.hpp>

#include <fstream>

#include "careloop/risk/registry.hpp"
#include "fixtures.hpp"
#include "temp_dir.hpp"

using namespace careloop::risk;

namespace {

void copy_model(const std::string& id, const std::filesystem::path& to) {
  std::filesystem::create_directories(to / id);
  for (const char* f : {"model.json", "card.json", "spec.json", "card.md"})
    std::filesystem::copy_file(testing::data_dir() / "models" / id / f, to / id / f,
                               std::filesystem::copy_options::overwrite_existing);
}

}  // namespace

TEST_CASE("registry: loads the committed models") {
  ModelRegistry registry(testing::data_dir() / "models");
  const auto report = registry.reload();
  for (const auto& r : report.refused) INFO(r.folder << ": " << r.error.message);
  CHECK(report.refused.empty());
  CHECK(report.loaded.size() == 3);
  for (const char* id : {"hypertension-4y", "diabetes-8y", "pima-diabetes"}) CHECK(registry.find(id) != nullptr);
  CHECK(registry.find("nope") == nullptr);
}

TEST_CASE("registry: a refused model is reported, and its previous version keeps serving") {
  careloop::testing::TempDir dir("risk-registry");
  copy_model("pima-diabetes", dir.path());
  copy_model("hypertension-4y", dir.path());
  ModelRegistry registry(dir.path());
  REQUIRE(registry.reload().loaded.size() == 2);
  const auto before = registry.find("pima-diabetes");
  REQUIRE(before);

  // The new spec drops a feature: the model no longer matches it.
  auto spec = read_model_spec((dir.path() / "pima-diabetes" / "spec.json").string());
  spec->features.pop_back();
  std::ofstream(dir.path() / "pima-diabetes" / "spec.json", std::ios::trunc) << to_json(*spec);
  const auto report = registry.reload();
  REQUIRE(report.refused.size() == 1);
  CHECK(report.refused[0].folder == "pima-diabetes");
  CHECK(registry.find("pima-diabetes") == before);
  CHECK(registry.find("hypertension-4y") != nullptr);

  // A folder that disappears takes its model with it.
  std::filesystem::remove_all(dir.path() / "hypertension-4y");
  registry.reload();
  CHECK(registry.find("hypertension-4y") == nullptr);
}
