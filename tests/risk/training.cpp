#include <catch2/catch.hpp>

#include <cmath>

#include "careloop/risk/training.hpp"
#include "fixtures.hpp"
#include "temp_dir.hpp"

using namespace careloop::risk;

TEST_CASE("training twice with one seed gives the same model, byte for byte") {
  const auto a = testing::train_small_pima();
  const auto b = testing::train_small_pima();
  CHECK(a.model_json == b.model_json);
  CHECK(a.card.model.fold_auc == b.card.model.fold_auc);
  CHECK(a.card.best_rounds == b.card.best_rounds);

  auto other_seed = testing::small_pima_spec();
  other_seed.training.seed += 1;
  const auto c = train_model(other_seed, testing::pima(), {});
  REQUIRE(c.ok());
  CHECK(c->model_json != a.model_json);
}

TEST_CASE("training: the card holds held-out figures for the model and its baselines") {
  const auto t = testing::train_small_pima();
  const auto& c = t.card;
  CHECK(c.rows == 768);
  CHECK(c.positives == 268);
  CHECK(c.model.fold_auc.size() == 3);
  // Loose bounds: 3 folds and 60 rounds are for speed, not accuracy.
  CHECK(c.model.auc.mean > 0.78);
  REQUIRE(c.baselines.size() == 1);
  CHECK(c.baselines[0].name == "logistic_regression");
  CHECK(c.baselines[0].auc.mean > 0.78);
  CHECK(c.model.reliability.size() == 10);
  CHECK(c.bands.moderate < c.bands.high);
  REQUIRE(c.features.size() == 8);
  CHECK(c.features[4].missing == 374);  // insulin: missing stays missing
  double gain = 0;
  for (const auto& f : c.features) gain += f.gain_share;
  CHECK(gain == Approx(1.0));
  CHECK(t.model_json.find(R"("feature_names":["pregnant","glucose")") != std::string::npos);
}

TEST_CASE("training refuses data outside a feature's range, naming the row") {
  auto data = testing::pima();
  (*const_cast<std::vector<double>*>(data.column("mass")))[9] = 400;
  auto t = train_model(testing::small_pima_spec(), data, {});
  REQUIRE_FALSE(t.ok());
  REQUIRE_FALSE(t.error().fields.empty());
  CHECK(t.error().fields[0].pointer == "/mass");
  CHECK(t.error().fields[0].detail.find("row 10") != std::string::npos);
}

TEST_CASE("training writes the model, spec and both renderings of the card") {
  careloop::testing::TempDir dir("risk-train");
  const auto t = testing::train_small_pima();
  REQUIRE(write_trained_model(t, dir.file("m")).ok());
  for (const char* f : {"model.json", "spec.json", "card.json", "card.md"})
    CHECK(std::filesystem::file_size(dir.path() / "m" / f) > 100);
}
