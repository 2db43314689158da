#include <catch2/catch.hpp>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <thread>

#include "careloop/risk/cohort.hpp"
#include "careloop/risk/model.hpp"
#include "careloop/risk/training.hpp"
#include "fixtures.hpp"
#include "temp_dir.hpp"

using namespace careloop::risk;

namespace {

std::filesystem::path committed(const char* id) { return testing::data_dir() / "models" / id; }

// Rows of the model's features from a table, NaN kept.
std::vector<float> rows_of(const ModelSpec& spec, const Table& t, std::size_t n) {
  std::vector<float> x;
  for (std::size_t r = 0; r < n; ++r)
    for (const auto& f : spec.features) x.push_back(static_cast<float>((*t.column(f.name))[r]));
  return x;
}

// Debian's xgboost program predicting the same rows (libsvm: a missing value is an absent index).
std::vector<double> reference_predictions(const std::filesystem::path& model_json, const std::vector<float>& x,
                                          std::size_t cols, const careloop::testing::TempDir& dir) {
  {
    std::ofstream data(dir.file("rows.libsvm"));
    char buf[64];
    for (std::size_t r = 0; r < x.size() / cols; ++r) {
      data << 0;
      for (std::size_t c = 0; c < cols; ++c)
        if (!std::isnan(x[r * cols + c])) {
          std::snprintf(buf, sizeof buf, " %zu:%.9g", c + 1, static_cast<double>(x[r * cols + c]));
          data << buf;
        }
      data << '\n';
    }
    std::ofstream conf(dir.file("pred.conf"));
    conf << "task = pred\nmodel_in = " << model_json.string() << "\ntest:data = \"" << dir.file("rows.libsvm")
         << "?format=libsvm&indexing_mode=1\"\nname_pred = " << dir.file("pred.txt") << "\n";
  }
  const std::string cmd = "cd '" + dir.path().string() + "' && xgboost pred.conf > xgboost.log 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream in(dir.file("pred.txt"));
  std::vector<double> p;
  for (double v; in >> v;) p.push_back(v);
  return p;
}

void check_against_cli(const std::filesystem::path& model_dir, const std::vector<float>& x) {
  auto model = Model::load(model_dir);
  INFO(model_dir.string() << ": " << (model.ok() ? "" : model.error().message));
  REQUIRE(model.ok());
  const auto& m = **model;
  const std::size_t cols = m.feature_count();
  careloop::testing::TempDir dir("risk-cli");
  const auto expected = reference_predictions(model_dir / "model.json", x, cols, dir);
  REQUIRE(expected.size() == x.size() / cols);
  std::vector<float> batch(expected.size());
  REQUIRE(m.predict_batch(x, batch).ok());
  double worst = 0;
  for (std::size_t r = 0; r < expected.size(); ++r) {
    auto p = m.predict({&x[r * cols], cols});
    REQUIRE(p.ok());
    worst = std::max({worst, std::abs(*p - expected[r]), std::abs(static_cast<double>(batch[r]) - expected[r])});
  }
  INFO("largest difference " << worst);
  CHECK(worst <= 1e-6);
}

}  // namespace

TEST_CASE("predictions equal those of Debian's xgboost program to 1e-6") {
  REQUIRE(std::system("command -v xgboost > /dev/null") == 0);

  SECTION("pima-diabetes on all 768 rows, missing values as they are") {
    auto spec = read_model_spec((committed("pima-diabetes") / "spec.json").string());
    REQUIRE(spec.ok());
    const auto t = testing::pima();
    check_against_cli(committed("pima-diabetes"), rows_of(*spec, t, t.rows()));
  }
  SECTION("the synthetic models on fresh cohort rows, a tenth of the values blanked") {
    for (const char* id : {"hypertension-4y", "diabetes-8y"}) {
      const auto kind = std::string(id) == "hypertension-4y" ? "hypertension-4y.json" : "diabetes-8y.json";
      std::ifstream in(testing::data_dir() / "cohorts" / kind);
      std::stringstream text;
      text << in.rdbuf();
      auto t = generate_cohort_from_json(text.str(), 2000, 99);
      REQUIRE(t.ok());
      auto spec = read_model_spec((committed(id) / "spec.json").string());
      REQUIRE(spec.ok());
      auto x = rows_of(*spec, *t, t->rows());
      std::mt19937_64 rng(5);
      for (auto& v : x)
        if (rng() % 10 == 0) v = std::nanf("");
      check_against_cli(committed(id), x);
    }
  }
}

TEST_CASE("SHAP contributions sum to the margin of the prediction") {
  auto model = Model::load(committed("pima-diabetes"));
  REQUIRE(model.ok());
  const auto& m = **model;
  auto spec = m.spec();
  const auto t = testing::pima();
  const auto x = rows_of(spec, t, 200);
  for (std::size_t r = 0; r < 200; ++r) {
    const std::span<const float> row{&x[r * 8], 8};
    auto e = m.explain(row);
    REQUIRE(e.ok());
    REQUIRE(e->contributions.size() == 9);
    auto p = m.predict(row);
    REQUIRE(p.ok());
    const double margin = std::log(*p / (1 - *p));
    CHECK(e->margin == Approx(margin).margin(1e-4));
    CHECK(e->probability == Approx(*p).margin(1e-6));
  }
}

TEST_CASE("a score carries model, version, band and factors in words") {
  auto model = Model::load(committed("hypertension-4y"));
  REQUIRE(model.ok());
  const auto& m = **model;
  // age 60, male, BMI 31, 138/88, smoker, two parents; diastolic missing on purpose.
  const std::vector<float> row = {60, 0, 31, 138, std::nanf(""), 1, 2};
  auto s = m.score(row, 3, 1'700'000'000'000);
  REQUIRE(s.ok());
  CHECK(s->model_id == "hypertension-4y");
  CHECK(s->model_version == m.spec().version);
  CHECK(s->scored_at_ms == 1'700'000'000'000);
  CHECK(s->band == RiskBand::high);
  REQUIRE(s->factors.size() == 3);
  CHECK(std::abs(s->factors[0].contribution_log_odds) >= std::abs(s->factors[1].contribution_log_odds));
  CHECK(std::abs(s->factors[1].contribution_log_odds) >= std::abs(s->factors[2].contribution_log_odds));
  for (const auto& f : s->factors) {
    CHECK_FALSE(f.text.empty());
    CHECK(f.text.find(f.contribution_log_odds > 0 ? "raises risk" : "lowers risk") != std::string::npos);
  }
  CHECK(m.band(m.bands().moderate - 1e-9) == RiskBand::low);
  CHECK(m.band(m.bands().moderate) == RiskBand::moderate);
  CHECK(m.band(m.bands().high) == RiskBand::high);
}

TEST_CASE("factor texts say the value, its unit and the direction") {
  FeatureSpec sbp{"systolic_mmhg", "home systolic mean", "mmHg", 50, 300, ""};
  CHECK(describe_factor(sbp, 152.4, 0.41) == "home systolic mean 152 mmHg: raises risk (+0.41 log-odds)");
  CHECK(describe_factor(sbp, std::nullopt, -0.05) == "home systolic mean not recorded: lowers risk (-0.05 log-odds)");
  FeatureSpec smoker{"current_smoker", "current smoker", "yes/no", 0, 1, ""};
  CHECK(describe_factor(smoker, 1, 0.2) == "current smoker: yes; raises risk (+0.20 log-odds)");
  CHECK(describe_factor(smoker, 0, -0.31) == "current smoker: no; lowers risk (-0.31 log-odds)");
  CHECK(describe_factor(smoker, std::nullopt, 0) == "current smoker not recorded: no effect (+0.00 log-odds)");
  // Three significant digits for other units, as printf's %.3g; whole
  // numbers for mmHg, years and counts (rounded half to even, as %.0f).
  FeatureSpec glucose{"fasting_glucose_mmol_l", "fasting glucose", "mmol/L", 2, 30, ""};
  CHECK(describe_factor(glucose, 6.2849, 0.126) == "fasting glucose 6.28 mmol/L: raises risk (+0.13 log-odds)");
  CHECK(describe_factor(glucose, 12.35, -0.004) == "fasting glucose 12.3 mmol/L: lowers risk (-0.00 log-odds)");
  FeatureSpec tg{"triglycerides_mmol_l", "triglycerides", "mmol/L", 0.1, 20, ""};
  CHECK(describe_factor(tg, 0.000123456, 1.005) == "triglycerides 0.000123 mmol/L: raises risk (+1.00 log-odds)");
  FeatureSpec age{"age_years", "age", "years", 20, 80, ""};
  CHECK(describe_factor(age, 52.5, -0.125) == "age 52 years: lowers risk (-0.12 log-odds)");
  FeatureSpec parents{"parents_with_hypertension", "parents with hypertension", "count", 0, 2, ""};
  CHECK(describe_factor(parents, 2, 0.5) == "parents with hypertension 2: raises risk (+0.50 log-odds)");
  FeatureSpec bmi{"bmi_kg_m2", "BMI", "kg/m²", 10, 80, ""};
  CHECK(describe_factor(bmi, 1234.5, 12.345) == "BMI 1.23e+03 kg/m²: raises risk (+12.35 log-odds)");
}

TEST_CASE("a model whose features do not match its spec is refused") {
  careloop::testing::TempDir dir("risk-mismatch");
  const auto src = committed("pima-diabetes");
  const auto dst = dir.path() / "pima-diabetes";
  std::filesystem::create_directories(dst);
  for (const char* f : {"model.json", "card.json", "spec.json"}) std::filesystem::copy_file(src / f, dst / f);
  REQUIRE(Model::load(dst).ok());

  SECTION("a feature renamed") {
    auto spec = read_model_spec((src / "spec.json").string());
    spec->features[1].name = "glucose_mmol_l";
    std::ofstream(dst / "spec.json", std::ios::trunc) << to_json(*spec);
  }
  SECTION("a feature dropped") {
    auto spec = read_model_spec((src / "spec.json").string());
    spec->features.pop_back();
    std::ofstream(dst / "spec.json", std::ios::trunc) << to_json(*spec);
  }
  SECTION("two features swapped") {
    auto spec = read_model_spec((src / "spec.json").string());
    std::swap(spec->features[0], spec->features[1]);
    std::ofstream(dst / "spec.json", std::ios::trunc) << to_json(*spec);
  }
  auto m = Model::load(dst);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().code == careloop::core::Errc::invalid);
  CHECK(m.error().message.find("do not match") != std::string::npos);
}

TEST_CASE("prediction is thread-safe: four threads agree with one") {
  auto model = Model::load(committed("diabetes-8y"));
  REQUIRE(model.ok());
  const auto& m = **model;
  std::mt19937_64 rng(11);
  std::vector<float> x;
  for (int r = 0; r < 400; ++r)
    for (const auto& f : m.spec().features)
      x.push_back(static_cast<float>(f.min + (f.max - f.min) * static_cast<double>(rng() % 1000) / 1000.0));
  const std::size_t cols = m.feature_count();
  std::vector<double> expected, expected_margin;
  for (std::size_t r = 0; r < 400; ++r) {
    expected.push_back(*m.predict({&x[r * cols], cols}));
    expected_margin.push_back(m.explain({&x[r * cols], cols})->margin);
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round)
        for (std::size_t r = static_cast<std::size_t>(t); r < 400; r += 2) {
          const std::span<const float> row{&x[r * cols], cols};
          if (*m.predict(row) != expected[r]) ++mismatches;
          if (m.explain(row)->margin != expected_margin[r]) ++mismatches;
        }
    });
  for (auto& t : threads) t.join();
  CHECK(mismatches == 0);
}

TEST_CASE("a batch of scores equals the scores of its rows one by one") {
  auto model = Model::load(committed("pima-diabetes"));
  REQUIRE(model.ok());
  const auto& m = **model;
  const auto t = testing::pima();
  constexpr std::size_t n = 300;
  const auto x = rows_of(m.spec(), t, n);  // includes rows with missing values
  auto batch = m.score_batch(x, 3, 42);
  REQUIRE(batch.ok());
  REQUIRE(batch->size() == n);
  for (std::size_t r = 0; r < n; ++r) {
    const std::span<const float> row{&x[r * 8], 8};
    auto p = m.predict(row);
    auto e = m.explain(row);  // the one-row DMatrix path, independent of the batch
    REQUIRE((p.ok() && e.ok()));
    const auto& s = (*batch)[r];
    CHECK(s.probability == *p);
    CHECK(s.band == m.band(*p));
    CHECK(s.scored_at_ms == 42);
    REQUIRE(s.factors.size() == 3);
    for (const auto& f : s.factors) {
      const auto& features = m.spec().features;
      const auto i = static_cast<std::size_t>(
          std::find_if(features.begin(), features.end(), [&](const auto& fs) { return fs.name == f.feature; }) -
          features.begin());
      REQUIRE(i < 8);
      CHECK(f.contribution_log_odds == Approx(e->contributions[i]).margin(1e-6));
      // Nothing outside the top three is larger.
      for (std::size_t j = 0; j < 8; ++j)
        if (std::none_of(s.factors.begin(), s.factors.end(), [&](const auto& g) { return g.feature == features[j].name; }))
          CHECK(std::abs(e->contributions[j]) <= std::abs(f.contribution_log_odds) + 1e-9);
    }
  }
  auto ragged = m.score_batch(std::span<const float>(x.data(), 7), 0, 0);
  REQUIRE_FALSE(ragged.ok());
  CHECK(ragged.error().code == careloop::core::Errc::invalid);
  auto none = m.score_batch({}, 3, 0);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("a model knows from its card which features it saw missing in training") {
  auto loaded = Model::load(committed("pima-diabetes"));
  REQUIRE(loaded.ok());
  const auto pima = *loaded;
  // PimaIndiansDiabetes2: zeros as missing in glucose, pressure, triceps, insulin and mass.
  const std::vector<bool> expected{false, true, true, true, true, true, false, false};
  REQUIRE(pima->feature_count() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(pima->trained_with_missing(i) == expected[i]);
  // The synthetic cohorts have every value: no feature of these models may be missing when scoring.
  for (const char* id : {"diabetes-8y", "hypertension-4y"}) {
    auto m = Model::load(committed(id)).value();
    for (std::size_t i = 0; i < m->feature_count(); ++i) CHECK_FALSE(m->trained_with_missing(i));
  }
  CHECK_FALSE(pima->trained_with_missing(99));

  // A card without a missing count for a feature is refused.
  careloop::testing::TempDir dir("risk-card-missing");
  const auto dst = dir.path() / "pima-diabetes";
  std::filesystem::create_directories(dst);
  for (const char* f : {"model.json", "spec.json"}) std::filesystem::copy_file(committed("pima-diabetes") / f, dst / f);
  std::ifstream in(committed("pima-diabetes") / "card.json");
  std::string card((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto triceps = card.find("\"name\": \"triceps\"");
  REQUIRE(triceps != std::string::npos);
  const auto count = card.find("\"missing\":", triceps);
  REQUIRE(count != std::string::npos);
  card.replace(count, 10, "\"unmissing\":");
  std::ofstream(dst / "card.json") << card;
  auto refused = Model::load(dst);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("no training missing count for feature triceps") != std::string::npos);
}

namespace {

// 2,000 rows across each feature's range, one value in 8 missing, after the
// given ones.
std::vector<float> spread_rows(const ModelSpec& spec, std::vector<float> x) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  while (x.size() < 2000 * spec.features.size())
    for (const auto& f : spec.features)
      x.push_back(rng() % 8 == 0 ? std::nanf("") : static_cast<float>(f.min + u(rng) * (f.max - f.min)));
  return x;
}

// The largest difference between the model's SHAP contributions (Model::explain)
// and xgboost's own (prediction type 2) on the same rows.
double largest_shap_difference(const std::filesystem::path& model_dir, const Model& m, const std::vector<float>& x) {
  const char* contribution_config =
      R"({"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})";
  const std::size_t cols = m.feature_count();
  const std::size_t n = x.size() / cols;
  BoosterHandle booster = nullptr;
  REQUIRE(XGBoosterCreate(nullptr, 0, &booster) == 0);
  REQUIRE(XGBoosterLoadModel(booster, (model_dir / "model.json").c_str()) == 0);
  DMatrixHandle matrix = nullptr;
  REQUIRE(XGDMatrixCreateFromMat(x.data(), n, cols, std::nanf(""), &matrix) == 0);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* theirs = nullptr;
  REQUIRE(XGBoosterPredictFromDMatrix(booster, matrix, contribution_config, &shape, &dim, &theirs) == 0);
  double worst = 0;
  for (std::size_t r = 0; r < n; ++r) {
    auto e = m.explain({&x[r * cols], cols});
    REQUIRE(e.ok());
    for (std::size_t c = 0; c <= cols; ++c)
      worst = std::max(worst, std::abs(e->contributions[c] - static_cast<double>(theirs[r * (cols + 1) + c])));
  }
  XGDMatrixFree(matrix);
  XGBoosterFree(booster);
  return worst;
}

}  // namespace

TEST_CASE("CareLoop's TreeSHAP equals xgboost's SHAP contributions (prediction type 2) to 1e-5") {
  for (const char* id : {"pima-diabetes", "hypertension-4y", "diabetes-8y"}) {
    INFO(id);
    auto loaded = Model::load(committed(id));
    REQUIRE(loaded.ok());
    const auto& m = **loaded;
    CHECK(m.own_tree_shap());
    const std::size_t cols = m.feature_count();
    // pima: the real rows first, its missing values kept.
    std::vector<float> x;
    if (std::string(id) == "pima-diabetes") {
      const auto t = testing::pima();
      x = rows_of(m.spec(), t, t.rows());
    }
    x = spread_rows(m.spec(), std::move(x));
    const double worst = largest_shap_difference(committed(id), m, x);
    INFO("largest difference " << worst << " over " << x.size() / cols << " rows");
    CHECK(worst <= 1e-5);
    // The batch path gives the factors of the same contributions.
    auto batch = m.score_batch({x.data(), 50 * cols}, 3, 0);
    REQUIRE(batch.ok());
    for (std::size_t r = 0; r < 50; ++r) {
      auto one = m.explain({&x[r * cols], cols});
      REQUIRE(one.ok());
      for (const auto& f : (*batch)[r].factors) {
        const auto i = static_cast<std::size_t>(
            std::find_if(m.spec().features.begin(), m.spec().features.end(),
                         [&](const auto& s) { return s.name == f.feature; }) - m.spec().features.begin());
        CHECK(f.contribution_log_odds == Approx(one->contributions[i]).margin(1e-6));
      }
    }
  }
}

TEST_CASE("TreeSHAP tables: trees that split on a feature again equal xgboost's SHAP, at depth 3 and 6") {
  // Depth 3 (at most 7 splits a tree): one table row per decision pattern.
  // Depth 6 (up to 63 splits): per-leaf tables (risk/src/tree_shap.hpp).
  // Both with features repeated on a path, and leaves of up to 6 distinct
  // features at depth 6.
  for (const int max_depth : {3, 6}) {
    INFO("max_depth " << max_depth);
    careloop::testing::TempDir dir("risk-deep-shap");
    auto spec = testing::small_pima_spec();
    for (auto& [key, value] : spec.xgboost_params) {
      if (key == "max_depth") value = std::to_string(max_depth);
      if (key == "min_child_weight") value = "1";
    }
    const auto t = testing::pima();
    auto trained = train_model(spec, t, {});
    REQUIRE(trained.ok());
    REQUIRE(write_trained_model(*trained, dir.file("deep")).ok());
    const auto model_dir = dir.path() / "deep";
    auto loaded = Model::load(model_dir);
    REQUIRE(loaded.ok());
    const auto& m = **loaded;
    CHECK(m.own_tree_shap());
    const auto x = spread_rows(m.spec(), rows_of(m.spec(), t, t.rows()));
    const double worst = largest_shap_difference(model_dir, m, x);
    INFO("largest difference " << worst << " over " << x.size() / m.feature_count() << " rows");
    CHECK(worst <= 1e-5);
    // The trees reach the depth and split on a feature again below itself,
    // or this checks nothing the committed models do not (xgboost's text
    // dump: one node a line, depth-first, indented by depth).
    BoosterHandle booster = nullptr;
    REQUIRE(XGBoosterCreate(nullptr, 0, &booster) == 0);
    REQUIRE(XGBoosterLoadModel(booster, (model_dir / "model.json").c_str()) == 0);
    bst_ulong trees = 0;
    const char** dumps = nullptr;
    REQUIRE(XGBoosterDumpModelEx(booster, "", 0, "text", &trees, &dumps) == 0);
    std::size_t deepest = 0, repeats = 0;
    for (bst_ulong k = 0; k < trees; ++k) {
      std::vector<std::string> path;  // the split features above, by depth
      std::istringstream lines(dumps[k]);
      for (std::string line; std::getline(lines, line);) {
        const auto depth = line.find_first_not_of('\t');
        const auto open = line.find('[');
        if (depth == std::string::npos || open == std::string::npos) continue;  // a leaf
        const auto feature = line.substr(open + 1, line.find('<', open) - open - 1);
        path.resize(depth);
        if (std::find(path.begin(), path.end(), feature) != path.end()) ++repeats;
        path.push_back(feature);
        deepest = std::max(deepest, depth + 1);
      }
    }
    XGBoosterFree(booster);
    CHECK(deepest == static_cast<std::size_t>(max_depth));
    CHECK(repeats > 0);
  }
}
