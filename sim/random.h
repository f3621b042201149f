#ifndef COHORT_SIM_RANDOM_H_
#define COHORT_SIM_RANDOM_H_

#include <cstdint>
#include <vector>

#include "codec/splitmix64.h"

namespace cohort::sim {

using codec::MixSeed;
using codec::SplitMix64;

// Standard normal by the Marsaglia polar method.
double SampleStandardNormal(SplitMix64& rng);

// log of a Gamma(shape, 1) variate (shape > 0), by Marsaglia and Tsang (2000). For shape < 1 it
// uses Gamma(shape) = Gamma(shape + 1) * U^(1/shape) in log space, because U^(1/shape) underflows
// to zero for small shapes (alpha = 0.01) and the Dirichlet proportions would become 0/0.
double SampleLogGamma(double shape, SplitMix64& rng);

// A Dirichlet(alpha, ..., alpha) vector of length n (n >= 1, alpha > 0): normalised Gammas.
std::vector<double> SampleSymmetricDirichlet(int n, double alpha, SplitMix64& rng);

}  // namespace cohort::sim

#endif  // COHORT_SIM_RANDOM_H_
