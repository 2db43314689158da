#pragma once
// Measures of a risk model on held-out people: discrimination (AUC),
// accuracy, Brier score, calibration and a reliability table; and the
// seeded stratified folds they are computed on. Plain functions of
// predictions and 0/1 outcomes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace careloop::risk {

// Area under the ROC curve by the Mann–Whitney statistic, ties counted as
// one half (midranks); NaN when either class is absent.
double auc(std::span<const double> score, std::span<const int> outcome);

// Mean squared difference between predicted probability and outcome.
double brier_score(std::span<const double> probability, std::span<const int> outcome);

// Share classified correctly when probability ≥ threshold is called positive.
double accuracy(std::span<const double> probability, std::span<const int> outcome, double threshold = 0.5);

// Logistic recalibration (Cox 1958): outcome ~ a + b·logit(p) gives the
// slope b (1 is ideal; < 1 means predictions too extreme); with the slope
// fixed at 1 (logit(p) as an offset) the intercept is calibration-in-the-
// large (0 is ideal; > 0 means risk underestimated on average).
struct Calibration {
  double intercept_in_the_large = 0;
  double slope = 0;
  double intercept = 0;  // of the two-parameter fit, with the slope above
};
Calibration calibration(std::span<const double> probability, std::span<const int> outcome);

// Groups of (about) equal size by predicted probability, lowest first.
struct ReliabilityBin {
  std::size_t count = 0;
  double min_predicted = 0;
  double max_predicted = 0;
  double mean_predicted = 0;
  double observed_rate = 0;
};
std::vector<ReliabilityBin> reliability_table(std::span<const double> probability, std::span<const int> outcome,
                                              int groups = 10);

// Fold (0..k−1) of each row, each fold holding ⌊n/k⌋ or ⌈n/k⌉ of each
// outcome class; a seeded Fisher–Yates shuffle with mt19937_64, so the same
// labels, k and seed give the same folds everywhere.
std::vector<int> stratified_folds(std::span<const int> outcome, int k, std::uint64_t seed);

double mean(std::span<const double> v);
double sample_sd(std::span<const double> v);  // n − 1 denominator; 0 for fewer than two values

}  // namespace careloop::risk
