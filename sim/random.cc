#include "sim/random.h"

#include <algorithm>
#include <cmath>

namespace cohort::sim {

double SampleStandardNormal(SplitMix64& rng) {
  while (true) {
    const double u = 2.0 * rng.NextDouble() - 1.0;
    const double v = 2.0 * rng.NextDouble() - 1.0;
    const double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * std::log(s) / s);
  }
}

double SampleLogGamma(double shape, SplitMix64& rng) {
  if (shape < 1.0) {
    return SampleLogGamma(shape + 1.0, rng) + std::log(rng.NextDoubleOpenZero()) / shape;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x;
    double v;
    do {
      x = SampleStandardNormal(rng);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = rng.NextDoubleOpenZero();
    if (u < 1.0 - 0.0331 * x * x * x * x ||
        std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) {
      return std::log(d) + std::log(v);
    }
  }
}

std::vector<double> SampleSymmetricDirichlet(int n, double alpha, SplitMix64& rng) {
  std::vector<double> p(n);
  for (double& x : p) x = SampleLogGamma(alpha, rng);
  const double max_log = *std::max_element(p.begin(), p.end());
  double sum = 0.0;
  for (double& x : p) {
    x = std::exp(x - max_log);
    sum += x;
  }
  for (double& x : p) x /= sum;
  return p;
}

}  // namespace cohort::sim
