#include "privacy/rdp.h"

#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "privacy/mechanism.h"

namespace cohort::privacy {
namespace {

TEST_CASE("GaussianRdp_IsAlphaOverTwoSigmaSquared") {
  // Mironov 2017, Prop. 7; the same case as dp_accounting's test_compute_rdp_gaussian.
  CHECK(GaussianRdp(2.71828, 3.14159) == Approx(3.14159 / (2 * 2.71828 * 2.71828)));
  CHECK(GaussianRdp(1.0, 2.0) == 1.0);
  CHECK(std::isinf(GaussianRdp(0.0, 2.0)));
}

TEST_CASE("PoissonSubsampledGaussianRdp_MatchesDpAccountingsPublishedValues") {
  // dp_accounting rdp_privacy_accountant_test.test_compute_rdp_poisson_sampled_gaussian:
  // q = 0.01, noise multiplier 2.5, 50 steps, at integer and fractional orders (rtol 1e-4).
  const std::vector<double> orders = {1.5, 2.5, 5, 50, 100};
  const std::vector<double> expected = {6.70579741e-04, 1.08548710e-03, 2.18075656e-03,
                                        2.38460375e-02, 1.67416308e02};
  for (size_t i = 0; i < orders.size(); ++i) {
    INFO("order " << orders[i]);
    CHECK(50 * PoissonSubsampledGaussianRdp(0.01, 2.5, orders[i]) ==
          Approx(expected[i]).epsilon(1e-4));
  }
}

TEST_CASE("PoissonSubsampledGaussianRdp_HandlesTheEdgeRates") {
  CHECK(PoissonSubsampledGaussianRdp(0, 1, 5) == 0);
  CHECK(PoissonSubsampledGaussianRdp(1, 2, 5) == GaussianRdp(2, 5));
  // Subsampling only helps.
  for (double order : {1.5, 2.0, 7.0, 32.0}) {
    CHECK(PoissonSubsampledGaussianRdp(0.1, 1.2, order) <= GaussianRdp(1.2, order));
  }
}

TEST_CASE("PoissonSubsampledRdp_GeneralBoundCoversTheTightGaussianValue") {
  // Zhu & Wang's bound holds for any mechanism, so for the Gaussian it must lie between the
  // exact sampled-Gaussian RDP (MTZ 2019) and the unsampled one.
  for (int64_t alpha : {2, 3, 8, 20, 60}) {
    for (double q : {0.001, 0.01, 0.1}) {
      const double tight = PoissonSubsampledGaussianRdp(q, 1.5, static_cast<double>(alpha));
      const double general = PoissonSubsampledRdp(
          q, alpha, [](int64_t l) { return GaussianRdp(1.5, static_cast<double>(l)); });
      INFO("alpha " << alpha << " q " << q);
      CHECK(general >= tight * (1 - 1e-9));
      CHECK(general <= GaussianRdp(1.5, static_cast<double>(alpha)));
    }
  }
}

TEST_CASE("DistributedDiscreteGaussianTau_IsKairouzEtAlsSum") {
  // tau = 10 sum_{k=1}^{n-1} exp(-2 pi^2 s2 k / (k + 1)); n = 2, s2 = 1: 10 e^{-pi^2}.
  CHECK(DistributedDiscreteGaussianTau(1.0, 2) == Approx(10 * std::exp(-M_PI * M_PI)));
  CHECK(DistributedDiscreteGaussianTau(1.0, 1) == 0);
  const double three = 10 * (std::exp(-M_PI * M_PI) + std::exp(-2 * M_PI * M_PI * 2 / 3));
  CHECK(DistributedDiscreteGaussianTau(1.0, 3) == Approx(three));
  // Negligible for realistic shares: s2 = 4, a million devices; dominated by k = 1, e^{-4 pi^2}.
  CHECK(DistributedDiscreteGaussianTau(4.0, 1000000) < 1e-15);
  CHECK(DistributedDiscreteGaussianTau(0.1, 1000) > 0);
}

TEST_CASE("DistributedDiscreteGaussianRdp_ReducesToTheGaussianWhenTauVanishes") {
  // Large shares: tau underflows, and the bound is alpha Delta^2 / (2 n s2).
  const double rdp = DistributedDiscreteGaussianRdp(10, 100, 1000, 4096, 400, 50);
  CHECK(rdp == Approx(10 * 100.0 * 100 / (2 * 50 * 400)));
  // Small shares: tau > 0 makes the bound strictly larger than the Gaussian's.
  const double small = DistributedDiscreteGaussianRdp(10, 3, 9, 64, 0.05, 100);
  CHECK(small > 10 * 9 / (2 * 100 * 0.05));
  // Only integer orders.
  CHECK(std::isinf(DistributedDiscreteGaussianRdp(2.5, 100, 1000, 4096, 400, 50)));
}

TEST_CASE("DistributedDiscreteGaussianRdp_TakesTheSmallestOfTheThreeTerms") {
  // s2 = 0.1, n = 10, d = 16, Delta_2 = 2, Delta_1 = 4, alpha = 4, evaluated by hand:
  const double s2 = 0.1, d = 16, a = 4;
  double tau = 0;
  for (int k = 1; k < 10; ++k) tau += std::exp(-2 * M_PI * M_PI * s2 * k / (k + 1.0));
  tau *= 10;
  const double l2 = 2 / std::sqrt(10 * s2), l1 = 4 / std::sqrt(10 * s2);
  const double expected =
      std::min({a * l2 * l2 / 2 + tau * d, a * (l2 * l2 + 2 * l1 * tau + tau * tau * d) / 2,
                a * std::pow(l2 + std::sqrt(d) * tau, 2) / 2});
  CHECK(DistributedDiscreteGaussianRdp(a, 2, 4, 16, s2, 10) == Approx(expected));
}

TEST_CASE("SkellamRdp_ApproachesTheGaussianFromAbove") {
  // Agarwal et al.: alpha D2^2 / (2 mu) + min(((2 alpha - 1) D2^2 + 6 D1) / (4 mu^2),
  // 3 D1 / (2 mu)).
  const double d2 = 50, d1 = 2500, alpha = 8;
  for (double mu : {100.0, 1e4, 1e6, 1e8}) {
    const double gaussian = alpha * d2 * d2 / (2 * mu);
    const double expected =
        gaussian +
        std::min(((2 * alpha - 1) * d2 * d2 + 6 * d1) / (4 * mu * mu), 3 * d1 / (2 * mu));
    CHECK(SkellamRdp(alpha, d2, d1, mu) == Approx(expected));
    CHECK(SkellamRdp(alpha, d2, d1, mu) > gaussian);
  }
  CHECK(SkellamRdp(alpha, d2, d1, 1e8) / (alpha * d2 * d2 / 2e8) == Approx(1).epsilon(1e-3));
  CHECK(std::isinf(SkellamRdp(2.5, d2, d1, 1e4)));
}

}  // namespace
}  // namespace cohort::privacy
