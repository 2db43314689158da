#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "careloop/risk/metrics.hpp"

using namespace careloop::risk;

TEST_CASE("auc: Mann–Whitney with ties counted as one half") {
  // 2 positives × 2 negatives: pairs (0.8>0.1) (0.8>0.4) (0.4=0.4 → ½) (0.4>0.1) → 3.5 / 4.
  const std::vector<double> s = {0.1, 0.4, 0.4, 0.8};
  const std::vector<int> y = {0, 0, 1, 1};
  CHECK(auc(s, y) == Approx(0.875));
  CHECK(auc(std::vector<double>{1, 2, 3}, std::vector<int>{0, 0, 1}) == Approx(1.0));
  CHECK(auc(std::vector<double>{3, 2, 1}, std::vector<int>{0, 0, 1}) == Approx(0.0));
  CHECK(auc(std::vector<double>{5, 5, 5, 5}, std::vector<int>{0, 1, 0, 1}) == Approx(0.5));
  CHECK(std::isnan(auc(std::vector<double>{1, 2}, std::vector<int>{1, 1})));
}

TEST_CASE("brier score and accuracy") {
  const std::vector<double> p = {0.1, 0.9, 0.6, 0.3};
  const std::vector<int> y = {0, 1, 0, 1};
  CHECK(brier_score(p, y) == Approx((0.01 + 0.01 + 0.36 + 0.49) / 4));
  CHECK(accuracy(p, y) == Approx(0.5));
}

TEST_CASE("calibration: a perfectly calibrated predictor has slope 1 and intercept 0") {
  // Outcomes drawn exactly in proportion: for each p, 1000 rows with round(1000·p) positives.
  std::vector<double> p;
  std::vector<int> y;
  for (double q : {0.05, 0.1, 0.2, 0.4, 0.6, 0.8}) {
    const int pos = static_cast<int>(std::lround(q * 1000));
    for (int i = 0; i < 1000; ++i) {
      p.push_back(q);
      y.push_back(i < pos ? 1 : 0);
    }
  }
  const auto c = calibration(p, y);
  CHECK(c.slope == Approx(1.0).margin(1e-6));
  CHECK(c.intercept == Approx(0.0).margin(1e-6));
  CHECK(c.intercept_in_the_large == Approx(0.0).margin(1e-6));

  // Halving every predicted risk is underestimation: intercept-in-the-large > 0.
  std::vector<double> half;
  for (double q : p) half.push_back(q / 2);
  CHECK(calibration(half, y).intercept_in_the_large > 0.3);
}

TEST_CASE("reliability table: equal groups ordered by predicted risk") {
  std::vector<double> p;
  std::vector<int> y;
  for (int i = 0; i < 100; ++i) {
    p.push_back(i / 100.0);
    y.push_back(i >= 50 ? 1 : 0);
  }
  const auto t = reliability_table(p, y, 10);
  REQUIRE(t.size() == 10);
  CHECK(t[0].count == 10);
  CHECK(t[0].mean_predicted == Approx(0.045));
  CHECK(t[0].observed_rate == 0);
  CHECK(t[9].observed_rate == 1);
  CHECK(t[9].max_predicted == Approx(0.99));
}

TEST_CASE("stratified folds: balanced per class and reproducible for a seed") {
  std::vector<int> y(1000, 0);
  for (int i = 0; i < 300; ++i) y[static_cast<std::size_t>(i * 3)] = 1;
  const auto a = stratified_folds(y, 10, 42);
  CHECK(a == stratified_folds(y, 10, 42));
  CHECK(a != stratified_folds(y, 10, 43));
  for (int f = 0; f < 10; ++f) {
    int pos = 0, neg = 0;
    for (std::size_t i = 0; i < y.size(); ++i)
      if (a[i] == f) (y[i] ? pos : neg)++;
    CHECK(pos == 30);
    CHECK(neg == 70);
  }
}
