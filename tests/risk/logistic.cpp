#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "careloop/risk/logistic.hpp"

using namespace careloop::risk;

TEST_CASE("logistic regression recovers known coefficients") {
  // y ~ Bernoulli(logit⁻¹(−1 + 0.8·x1 − 0.5·x2)), x standard normal: standardised coefficients ≈ raw ones.
  std::mt19937_64 rng(7);
  std::normal_distribution<double> z(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  const std::size_t n = 20'000;
  std::vector<double> x;
  std::vector<int> y;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = z(rng), b = z(rng);
    x.push_back(a);
    x.push_back(b);
    y.push_back(u(rng) < inverse_logit(-1 + 0.8 * a - 0.5 * b) ? 1 : 0);
  }
  auto m = fit_logistic(x, 2, y, {.standardise = false});
  REQUIRE(m.ok());
  CHECK(m->intercept == Approx(-1).margin(0.06));
  CHECK(m->coefficients[0] == Approx(0.8).margin(0.06));
  CHECK(m->coefficients[1] == Approx(-0.5).margin(0.06));
  CHECK(m->iterations < 20);
}

TEST_CASE("logistic regression imputes the training mean for missing inputs") {
  const std::vector<double> x = {1, 2, NAN, 4, 5, 6};
  const std::vector<int> y = {0, 0, 1, 0, 1, 1};
  auto m = fit_logistic(x, 1, y);
  REQUIRE(m.ok());
  CHECK(m->means[0] == Approx(3.6));  // mean of 1, 2, 4, 5, 6
  // A missing input scores as the mean, i.e. as the intercept alone.
  const double missing[] = {NAN};
  CHECK(m->log_odds(missing) == Approx(m->intercept));
}

TEST_CASE("logistic regression refuses one-class data and mismatched sizes") {
  CHECK_FALSE(fit_logistic(std::vector<double>{1, 2}, 1, std::vector<int>{1, 1}).ok());
  CHECK_FALSE(fit_logistic(std::vector<double>{1, 2, 3}, 2, std::vector<int>{0, 1}).ok());
}
