#include "privacy/log_math.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace cohort::privacy {

double LogAdd(double a, double b) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double hi = std::max(a, b);
  return hi + std::log1p(std::exp(std::min(a, b) - hi));
}

double LogSub(double a, double b) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  if (b == kNegInf) return a;
  if (a <= b) return kNegInf;
  return a + std::log(-std::expm1(b - a));
}

double LogFactorial(uint64_t k) {
  static const std::array<double, 16> kTable = [] {
    std::array<double, 16> t{};
    double sum = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      if (i > 1) sum += std::log(static_cast<double>(i));
      t[i] = sum;
    }
    return t;
  }();
  if (k < kTable.size()) return kTable[k];
  // lgamma(x) for x = k + 1 >= 17 by Stirling's series to x^-7; the next term is below 1e-14.
  const double x = static_cast<double>(k) + 1;
  const double x2 = x * x;
  const double series =
      1 / (12 * x) - 1 / (360 * x * x2) + 1 / (1260 * x * x2 * x2) - 1 / (1680 * x * x2 * x2 * x2);
  return (x - 0.5) * std::log(x) - x + 0.5 * std::log(2 * M_PI) + series;
}

double LogBinomial(uint64_t n, uint64_t k) {
  return LogFactorial(n) - LogFactorial(k) - LogFactorial(n - k);
}

double LogErfc(double x) {
  if (x < 25) return std::log(std::erfc(x));
  // erfc(x) = e^{-x^2} / (x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6) + ...).
  const double r = 1 / (x * x);
  return -x * x - std::log(x) - 0.5 * std::log(M_PI) +
         std::log1p(-0.5 * r + 0.75 * r * r - 1.875 * r * r * r);
}

}  // namespace cohort::privacy
