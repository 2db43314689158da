#pragma once
// Logistic regression by iteratively reweighted least squares (Newton), the
// baseline a gradient-boosted model must beat on real data and the engine
// of calibration slopes. Missing inputs (NaN) are imputed with the training
// mean and every input is standardised with the training mean and SD, both
// fitted on the rows given to fit_logistic only, so a cross-validated
// baseline never sees its test fold.
#include <cstddef>
#include <span>
#include <vector>

#include "careloop/core/result.hpp"

namespace careloop::risk {

struct LogisticModel {
  std::vector<double> means;  // per input, of the non-missing training values
  std::vector<double> sds;    // per input; 1 where the training SD is 0
  std::vector<double> coefficients;  // per standardised input
  double intercept = 0;
  int iterations = 0;

  double log_odds(std::span<const double> x) const;  // x: one row, NaN for missing
  double probability(std::span<const double> x) const;
};

struct LogisticOptions {
  int max_iterations = 100;
  double tolerance = 1e-10;  // on the largest change of a coefficient
  double ridge = 1e-8;       // added to the Hessian's diagonal (not the intercept's) for separable data
  bool standardise = true;
};

// x: rows × columns, row-major. Errc::invalid for mismatched sizes or one
// outcome class only; Errc::internal if Newton's method does not converge.
core::Result<LogisticModel> fit_logistic(std::span<const double> x, std::size_t columns, std::span<const int> outcome,
                                         const LogisticOptions& options = {});

// Intercept only, with a fixed offset per row: the a of outcome ~ a + offset.
core::Result<double> fit_logistic_intercept(std::span<const double> offset, std::span<const int> outcome);

double logit(double p);     // p clamped to [1e−12, 1 − 1e−12]
double inverse_logit(double z);

}  // namespace careloop::risk
