#include "careloop/risk/logistic.hpp"

#include <algorithm>
#include <cmath>

namespace careloop::risk {

namespace {

// Solves A·x = b for a symmetric positive definite A by Cholesky; false if A is not.
bool solve_spd(std::vector<double> a, std::vector<double>& b, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (std::size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return false;
    a[j * n + j] = std::sqrt(d);
    for (std::size_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (std::size_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / a[j * n + j];
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    double s = b[i];
    for (std::size_t k = 0; k < i; ++k) s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  for (std::size_t i = n; i-- > 0;) {
    double s = b[i];
    for (std::size_t k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  return true;
}

}  // namespace

double logit(double p) {
  const double q = std::clamp(p, 1e-12, 1 - 1e-12);
  return std::log(q / (1 - q));
}

double inverse_logit(double z) { return 1 / (1 + std::exp(-z)); }

double LogisticModel::log_odds(std::span<const double> x) const {
  double z = intercept;
  for (std::size_t j = 0; j < coefficients.size(); ++j) {
    const double v = std::isnan(x[j]) ? means[j] : x[j];
    z += coefficients[j] * (v - means[j]) / sds[j];
  }
  return z;
}

double LogisticModel::probability(std::span<const double> x) const { return inverse_logit(log_odds(x)); }

core::Result<LogisticModel> fit_logistic(std::span<const double> x, std::size_t columns, std::span<const int> outcome,
                                         const LogisticOptions& options) {
  const std::size_t n = outcome.size();
  if (columns == 0 || x.size() != n * columns) return core::Error::invalid("logistic regression: x is not rows × columns");
  std::size_t positives = 0;
  for (int y : outcome) positives += y != 0 ? 1 : 0;
  if (positives == 0 || positives == n) return core::Error::invalid("logistic regression: needs both outcomes");

  LogisticModel m;
  m.means.assign(columns, 0);
  m.sds.assign(columns, 1);
  m.coefficients.assign(columns, 0);
  if (options.standardise) {
    for (std::size_t j = 0; j < columns; ++j) {
      double sum = 0, count = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (!std::isnan(x[i * columns + j])) sum += x[i * columns + j], count += 1;
      m.means[j] = count > 0 ? sum / count : 0;
      double ss = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (!std::isnan(x[i * columns + j])) ss += (x[i * columns + j] - m.means[j]) * (x[i * columns + j] - m.means[j]);
      const double sd = count > 1 ? std::sqrt(ss / (count - 1)) : 0;
      m.sds[j] = sd > 0 ? sd : 1;
    }
  }
  // Design matrix with a leading 1, imputed and standardised once.
  const std::size_t p = columns + 1;
  std::vector<double> z(n * p);
  for (std::size_t i = 0; i < n; ++i) {
    z[i * p] = 1;
    for (std::size_t j = 0; j < columns; ++j) {
      const double v = x[i * columns + j];
      z[i * p + j + 1] = ((std::isnan(v) ? m.means[j] : v) - m.means[j]) / m.sds[j];
    }
  }
  std::vector<double> beta(p, 0);
  const double prevalence = static_cast<double>(positives) / static_cast<double>(n);
  beta[0] = std::log(prevalence / (1 - prevalence));
  for (int it = 1; it <= options.max_iterations; ++it) {
    std::vector<double> hessian(p * p, 0), gradient(p, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const double* row = &z[i * p];
      double eta = 0;
      for (std::size_t j = 0; j < p; ++j) eta += row[j] * beta[j];
      const double mu = inverse_logit(eta);
      const double w = std::max(mu * (1 - mu), 1e-12);
      const double r = (outcome[i] != 0 ? 1.0 : 0.0) - mu;
      for (std::size_t a = 0; a < p; ++a) {
        gradient[a] += row[a] * r;
        for (std::size_t b = 0; b <= a; ++b) hessian[a * p + b] += w * row[a] * row[b];
      }
    }
    for (std::size_t a = 0; a < p; ++a) {
      for (std::size_t b = a + 1; b < p; ++b) hessian[a * p + b] = hessian[b * p + a];
      if (a > 0) {
        hessian[a * p + a] += options.ridge * static_cast<double>(n);
        gradient[a] -= options.ridge * static_cast<double>(n) * beta[a];
      }
    }
    if (!solve_spd(hessian, gradient, p)) return core::Error::internal("logistic regression: singular information matrix");
    double largest = 0;
    for (std::size_t j = 0; j < p; ++j) {
      beta[j] += gradient[j];
      largest = std::max(largest, std::abs(gradient[j]));
    }
    m.iterations = it;
    if (largest < options.tolerance) {
      m.intercept = beta[0];
      for (std::size_t j = 0; j < columns; ++j) m.coefficients[j] = beta[j + 1];
      return m;
    }
  }
  return core::Error::internal("logistic regression: Newton's method did not converge");
}

core::Result<double> fit_logistic_intercept(std::span<const double> offset, std::span<const int> outcome) {
  double a = 0;
  for (int it = 0; it < 100; ++it) {
    double g = 0, h = 0;
    for (std::size_t i = 0; i < outcome.size(); ++i) {
      const double mu = inverse_logit(a + offset[i]);
      g += (outcome[i] != 0 ? 1.0 : 0.0) - mu;
      h += mu * (1 - mu);
    }
    if (!(h > 0)) return core::Error::invalid("calibration-in-the-large: no information");
    const double step = g / h;
    a += step;
    if (std::abs(step) < 1e-12) return a;
  }
  return core::Error::internal("calibration-in-the-large: Newton's method did not converge");
}

}  // namespace careloop::risk
