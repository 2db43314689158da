#include "careloop/risk/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "careloop/risk/logistic.hpp"

namespace careloop::risk {

double auc(std::span<const double> score, std::span<const int> outcome) {
  const std::size_t n = std::min(score.size(), outcome.size());
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
  double positive_rank_sum = 0;
  std::size_t positives = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && score[order[j]] == score[order[i]]) ++j;
    // Ranks i+1 .. j share their mean.
    const double midrank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (std::size_t k = i; k < j; ++k)
      if (outcome[order[k]] != 0) {
        positive_rank_sum += midrank;
        ++positives;
      }
    i = j;
  }
  const std::size_t negatives = n - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

double brier_score(std::span<const double> probability, std::span<const int> outcome) {
  double sum = 0;
  for (std::size_t i = 0; i < probability.size(); ++i) {
    const double d = probability[i] - (outcome[i] != 0 ? 1.0 : 0.0);
    sum += d * d;
  }
  return probability.empty() ? std::numeric_limits<double>::quiet_NaN() : sum / static_cast<double>(probability.size());
}

double accuracy(std::span<const double> probability, std::span<const int> outcome, double threshold) {
  std::size_t right = 0;
  for (std::size_t i = 0; i < probability.size(); ++i)
    if ((probability[i] >= threshold) == (outcome[i] != 0)) ++right;
  return probability.empty() ? std::numeric_limits<double>::quiet_NaN()
                             : static_cast<double>(right) / static_cast<double>(probability.size());
}

Calibration calibration(std::span<const double> probability, std::span<const int> outcome) {
  Calibration c;
  std::vector<double> lp(probability.size());
  std::transform(probability.begin(), probability.end(), lp.begin(), logit);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto fit = fit_logistic(lp, 1, outcome, {.max_iterations = 100, .tolerance = 1e-10, .ridge = 0, .standardise = false});
  c.slope = fit ? fit->coefficients[0] : nan;
  c.intercept = fit ? fit->intercept : nan;
  auto large = fit_logistic_intercept(lp, outcome);
  c.intercept_in_the_large = large ? *large : nan;
  return c;
}

std::vector<ReliabilityBin> reliability_table(std::span<const double> probability, std::span<const int> outcome,
                                              int groups) {
  const std::size_t n = probability.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return probability[a] < probability[b]; });
  std::vector<ReliabilityBin> bins;
  const auto g = static_cast<std::size_t>(std::max(groups, 1));
  for (std::size_t b = 0; b < g; ++b) {
    const std::size_t lo = b * n / g, hi = (b + 1) * n / g;
    if (lo == hi) continue;
    ReliabilityBin bin;
    bin.count = hi - lo;
    bin.min_predicted = probability[order[lo]];
    bin.max_predicted = probability[order[hi - 1]];
    double p_sum = 0, y_sum = 0;
    for (std::size_t i = lo; i < hi; ++i) {
      p_sum += probability[order[i]];
      y_sum += outcome[order[i]] != 0 ? 1 : 0;
    }
    bin.mean_predicted = p_sum / static_cast<double>(bin.count);
    bin.observed_rate = y_sum / static_cast<double>(bin.count);
    bins.push_back(bin);
  }
  return bins;
}

std::vector<int> stratified_folds(std::span<const int> outcome, int k, std::uint64_t seed) {
  std::vector<int> fold(outcome.size(), 0);
  if (k < 1) return fold;
  std::mt19937_64 engine(seed);
  // Written out rather than std::shuffle, whose algorithm the standard leaves open.
  auto shuffle = [&](std::vector<std::size_t>& v) {
    for (std::size_t i = v.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(engine() % i);
      std::swap(v[i - 1], v[j]);
    }
  };
  int next = 0;  // carries over between classes so fold sizes stay balanced
  for (int cls = 0; cls < 2; ++cls) {
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < outcome.size(); ++i)
      if ((outcome[i] != 0) == (cls == 1)) rows.push_back(i);
    shuffle(rows);
    for (std::size_t r : rows) {
      fold[r] = next;
      next = (next + 1) % k;
    }
  }
  return fold;
}

double mean(std::span<const double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double sample_sd(std::span<const double> v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

}  // namespace careloop::risk
