#include "privacy/rdp.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "privacy/log_math.h"

namespace cohort::privacy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool IsInteger(double x) { return std::floor(x) == x; }

// log(A_alpha) for integer alpha: A = sum_i C(alpha, i) q^i (1-q)^(alpha-i) e^{(i^2 - i)/2s^2}.
double LogAInteger(double q, double sigma, int64_t alpha) {
  double log_a = -kInf;
  for (int64_t i = 0; i <= alpha; ++i) {
    const double di = static_cast<double>(i);
    const double term = LogBinomial(static_cast<uint64_t>(alpha), static_cast<uint64_t>(i)) +
                        di * std::log(q) + (static_cast<double>(alpha) - di) * std::log1p(-q) +
                        (di * di - di) / (2 * sigma * sigma);
    log_a = LogAdd(log_a, term);
  }
  return log_a;
}

// log(A_alpha) for fractional alpha: A splits at z0 = s^2 log(1/q - 1) + 1/2 into two integrals,
// each a series over the generalised binomial expansion with erfc tails (MTZ 2019, Sec. 3.3).
// For i > alpha the binomial coefficients alternate in sign; adding their absolute values, as
// dp_accounting does today, gives an upper bound on A_alpha that avoids cancellation between
// nearly equal terms. The loop ends when both terms fall and are 30 nats below the total, or
// gives +inf (no bound at this order) if that never happens.
double LogAFractional(double q, double sigma, double alpha) {
  double log_a0 = -kInf;
  double log_a1 = -kInf;
  const double z0 = sigma * sigma * std::log(1 / q - 1) + 0.5;
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  double log_coef = 0;  // log |binom(alpha, i)|, updated incrementally
  double last_s0 = -kInf;
  double last_s1 = -kInf;
  for (int i = 0; i < 1000; ++i) {
    const double di = i;
    if (i > 0) log_coef += std::log(std::abs(alpha - (di - 1)) / di);
    const double j = alpha - di;
    const double log_t0 = log_coef + di * log_q + j * log_1mq;
    const double log_t1 = log_coef + j * log_q + di * log_1mq;
    const double log_e0 = std::log(0.5) + LogErfc((di - z0) / (std::sqrt(2.0) * sigma));
    const double log_e1 = std::log(0.5) + LogErfc((z0 - j) / (std::sqrt(2.0) * sigma));
    const double log_s0 = log_t0 + (di * di - di) / (2 * sigma * sigma) + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / (2 * sigma * sigma) + log_e1;
    log_a0 = LogAdd(log_a0, log_s0);
    log_a1 = LogAdd(log_a1, log_s1);
    const double total = LogAdd(log_a0, log_a1);
    if (log_s0 < last_s0 && log_s1 < last_s1 && std::max(log_s0, log_s1) < total - 30) {
      return total;
    }
    last_s0 = log_s0;
    last_s1 = log_s1;
  }
  return kInf;
}

}  // namespace

double GaussianRdp(double noise_multiplier, double order) {
  if (!(noise_multiplier > 0)) return kInf;
  return order / (2 * noise_multiplier * noise_multiplier);
}

double PoissonSubsampledGaussianRdp(double sampling_rate, double noise_multiplier, double order) {
  if (sampling_rate <= 0) return 0;
  if (!(noise_multiplier > 0)) return kInf;
  if (sampling_rate >= 1) return GaussianRdp(noise_multiplier, order);
  if (std::isinf(order)) return kInf;
  const double log_a =
      IsInteger(order) ? LogAInteger(sampling_rate, noise_multiplier, static_cast<int64_t>(order))
                       : LogAFractional(sampling_rate, noise_multiplier, order);
  // Subsampling never hurts: keep the unsampled bound where the series is less tight.
  return std::min(log_a / (order - 1), GaussianRdp(noise_multiplier, order));
}

double DistributedDiscreteGaussianTau(double local_variance, int64_t shares) {
  double tau = 0;
  for (int64_t k = 1; k < shares; ++k) {
    const double dk = static_cast<double>(k);
    const double term = std::exp(-2 * M_PI * M_PI * local_variance * dk / (dk + 1));
    // The terms decrease in k (towards exp(-2 pi^2 s2)); once one underflows so do the rest.
    if (term == 0) break;
    tau += term;
  }
  return 10 * tau;
}

double DistributedDiscreteGaussianRdp(double order, double l2_sensitivity, double l1_sensitivity,
                                      int64_t dimension, double local_variance, int64_t shares) {
  if (!IsInteger(order) || order < 2 || shares < 1 || !(local_variance > 0)) return kInf;
  const double stddev = std::sqrt(static_cast<double>(shares) * local_variance);
  const double l2 = l2_sensitivity / stddev;
  const double l1 = l1_sensitivity / stddev;
  const double tau = DistributedDiscreteGaussianTau(local_variance, shares);
  const double d = static_cast<double>(dimension);
  const double a = order;
  const double first = a * l2 * l2 / 2 + tau * d;
  const double second = a * (l2 * l2 + 2 * l1 * tau + tau * tau * d) / 2;
  const double third = a * std::pow(l2 + std::sqrt(d) * tau, 2) / 2;
  return std::min({first, second, third});
}

double SkellamRdp(double order, double l2_sensitivity, double l1_sensitivity,
                  double total_variance) {
  if (!IsInteger(order) || order < 2 || !(total_variance > 0)) return kInf;
  const double a = order;
  const double mu = total_variance;
  const double l2sq = l2_sensitivity * l2_sensitivity;
  return a * l2sq / (2 * mu) + std::min(((2 * a - 1) * l2sq + 6 * l1_sensitivity) / (4 * mu * mu),
                                        3 * l1_sensitivity / (2 * mu));
}

}  // namespace cohort::privacy
