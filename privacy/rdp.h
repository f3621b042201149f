#ifndef COHORT_PRIVACY_RDP_H_
#define COHORT_PRIVACY_RDP_H_

// Renyi differential privacy (Mironov, CSF 2017) of the mechanisms Cohort runs, one round,
// as epsilon(alpha) at an order alpha > 1. Returns +infinity where a bound does not apply.
// Sensitivities are L2 (and L1) norms of one device's contribution under zero-out adjacency
// (one device's update replaced by the zero vector; docs/privacy.md says why).
//
//  - GaussianRdp: alpha Delta^2 / (2 sigma^2) = alpha / (2 z^2) for z = sigma / Delta
//    (Mironov 2017, Prop. 7). The discrete Gaussian N_Z(0, sigma^2) has the same bound
//    (Canonne, Kamath, Steinke 2020, Prop. 2 / Cor. 9), which the central mechanism uses.
//  - PoissonSubsampledGaussianRdp: the sampled Gaussian mechanism with Poisson rate q
//    (Mironov, Talwar, Zhang 2019, "Renyi Differential Privacy of the Sampled Gaussian
//    Mechanism", Sec. 3.3): log(A_alpha) / (alpha - 1), A_alpha by the binomial expansion for
//    integer alpha and by the two-sided erfc series for fractional alpha. Only valid if rounds
//    really are Poisson samples of the population, which cross-device check-in is not; the
//    accountant uses it only when the task declares that assumption.
//  - DistributedDiscreteGaussianRdp: n devices each add N_Z(0, s2) per coordinate to an integer
//    vector of dimension d with sensitivities Delta_2, Delta_1 (Kairouz, Liu, Steinke 2021,
//    Thm. 1 and its RDP form, Prop. 14 / Eq. 17): with l2 = Delta_2 / sqrt(n s2),
//    l1 = Delta_1 / sqrt(n s2) and tau = 10 sum_{k=1}^{n-1} exp(-2 pi^2 s2 k / (k + 1)),
//      min{ alpha l2^2 / 2 + tau d,  alpha (l2^2 + 2 l1 tau + tau^2 d) / 2,
//           alpha (l2 + sqrt(d) tau)^2 / 2 }.
//    tau measures how far the sum of n discrete Gaussians is from one discrete Gaussian of
//    variance n s2; it vanishes quickly once s2 >= 1.
//  - SkellamRdp: total Skellam variance mu, integer alpha (Agarwal, Kairouz, Liu 2021, Thm. 3.5
//    in the integer domain):
//      alpha Delta_2^2 / (2 mu) + min{ ((2 alpha - 1) Delta_2^2 + 6 Delta_1) / (4 mu^2),
//                                      3 Delta_1 / (2 mu) }.
//  Both discrete bounds are evaluated at integer orders only (+infinity otherwise), as the
//  reference implementation does (google-research/federated distributed_dp).
//
// Thread-safe (pure functions).

#include <cstdint>

namespace cohort::privacy {

double GaussianRdp(double noise_multiplier, double order);

double PoissonSubsampledGaussianRdp(double sampling_rate, double noise_multiplier, double order);

// tau of Kairouz et al. 2021, Thm. 1, for n shares of variance local_variance each.
double DistributedDiscreteGaussianTau(double local_variance, int64_t shares);

double DistributedDiscreteGaussianRdp(double order, double l2_sensitivity, double l1_sensitivity,
                                      int64_t dimension, double local_variance, int64_t shares);

double SkellamRdp(double order, double l2_sensitivity, double l1_sensitivity,
                  double total_variance);

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_RDP_H_
