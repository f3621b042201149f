#ifndef COHORT_PRIVACY_LOG_MATH_H_
#define COHORT_PRIVACY_LOG_MATH_H_

// Log-space arithmetic for the accountant and the samplers. Pure, deterministic and
// thread-safe: std::lgamma is avoided because glibc's writes the global signgam.

#include <cstdint>

namespace cohort::privacy {

// log(exp(a) + exp(b)); -inf is log(0).
double LogAdd(double a, double b);
// log(exp(a) - exp(b)) for a >= b (-inf when a <= b).
double LogSub(double a, double b);
// log(k!): a table below 16, Stirling's series above (absolute error < 1e-13).
double LogFactorial(uint64_t k);
// log(C(n, k)) for 0 <= k <= n.
double LogBinomial(uint64_t n, uint64_t k);
// log(erfc(x)), accurate also where erfc underflows.
double LogErfc(double x);

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_LOG_MATH_H_
