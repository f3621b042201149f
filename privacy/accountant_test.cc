#include "privacy/accountant.h"

#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "privacy/log_math.h"
#include "privacy/rdp.h"

namespace cohort::privacy {
namespace {

std::vector<double> FineOrders(double from, double to, double step) {
  std::vector<double> orders;
  for (double a = from; a < to; a += step) orders.push_back(a);
  return orders;
}

std::vector<double> GaussianCurve(absl::Span<const double> orders, double z) {
  std::vector<double> curve;
  for (double a : orders) curve.push_back(GaussianRdp(z, a));
  return curve;
}

// The exact (epsilon, delta) curve of the Gaussian mechanism with noise multiplier z
// (Balle & Wang 2018, Thm. 8): delta = Phi(1/(2z) - eps z) - e^eps Phi(-1/(2z) - eps z).
// In log space: for large epsilon, e^eps overflows while Phi(...) underflows.
double ExactGaussianDelta(double z, double epsilon) {
  auto log_phi = [](double x) { return std::log(0.5) + LogErfc(-x / std::sqrt(2.0)); };
  return std::exp(log_phi(1 / (2 * z) - epsilon * z)) -
         std::exp(epsilon + log_phi(-1 / (2 * z) - epsilon * z));
}

TEST_CASE("EpsilonFromRdp_MatchesDpAccountingOnAPureDpCurve") {
  // dp_accounting test_compute_epsilon_delta_pure_dp: rdp = 1.1 at orders 2..32, delta 1e-5
  // gives epsilon 1.32783806176 at order 32 (the improved conversion).
  std::vector<double> orders, rdp;
  for (int a = 2; a <= 32; ++a) {
    orders.push_back(a);
    rdp.push_back(1.1);
  }
  const EpsilonResult r = EpsilonFromRdp(orders, rdp, 1e-5);
  CHECK(r.epsilon == Approx(1.32783806176).epsilon(1e-10));
  CHECK(r.order == 32);
}

TEST_CASE("EpsilonFromRdp_GivesExactlyOneForDpAccountingsCalibratedGaussian") {
  // dp_accounting test_compute_epsilon_delta_gaussian: noise multiplier 4.530877117 is
  // (1, 1e-6)-DP under the improved conversion with orders 1.000..99.999.
  const std::vector<double> orders = FineOrders(1.0, 100.0, 0.001);
  const EpsilonResult r = EpsilonFromRdp(orders, GaussianCurve(orders, 4.530877117), 1e-6);
  CHECK(r.epsilon == Approx(1.0).epsilon(1e-6));
}

TEST_CASE("EpsilonFromRdp_StandardConversionHasMironovsClosedForm") {
  // rdp = rho alpha; min over alpha of rho alpha + log(1/delta) / (alpha - 1) is
  // rho + 2 sqrt(rho log(1/delta)) at alpha = 1 + sqrt(log(1/delta) / rho) (Mironov 2017).
  const std::vector<double> orders = FineOrders(1.001, 400.0, 0.001);
  for (double z : {0.8, 2.0, 10.0}) {
    for (int rounds : {1, 100}) {
      std::vector<double> curve = GaussianCurve(orders, z);
      for (double& v : curve) v *= rounds;
      const double rho = rounds / (2 * z * z);
      const double log_inv_delta = std::log(1e5);
      const EpsilonResult r = EpsilonFromRdp(orders, curve, 1e-5, Conversion::kStandard);
      INFO("z " << z << " rounds " << rounds);
      CHECK(r.epsilon == Approx(rho + 2 * std::sqrt(rho * log_inv_delta)).epsilon(1e-5));
      CHECK(r.order == Approx(1 + std::sqrt(log_inv_delta / rho)).epsilon(1e-2));
    }
  }
}

TEST_CASE("EpsilonFromRdp_ImprovedIsTighterButNeverBeatsTheExactGaussianCurve") {
  const std::vector<double> orders = DefaultOrders();
  for (double z : {0.7, 1.0, 3.0, 10.0}) {
    for (int rounds : {1, 10, 1000}) {
      std::vector<double> curve = GaussianCurve(orders, z);
      for (double& v : curve) v *= rounds;
      for (double delta : {1e-3, 1e-5, 1e-10}) {
        const double improved = EpsilonFromRdp(orders, curve, delta).epsilon;
        const double standard = EpsilonFromRdp(orders, curve, delta, Conversion::kStandard).epsilon;
        INFO("z " << z << " rounds " << rounds << " delta " << delta);
        CHECK(improved <= standard);
        // Composition of `rounds` Gaussians is one Gaussian of multiplier z / sqrt(rounds); an
        // accountant that claimed less than its exact epsilon would be unsound.
        CHECK(ExactGaussianDelta(z / std::sqrt(rounds), improved) <= delta * (1 + 1e-9));
      }
    }
  }
}

TEST_CASE("RdpAccountant_ComposesAdditivelyAndRestoresFromItsCurve") {
  RdpAccountant acc;
  const std::vector<double> one = GaussianCurve(acc.orders(), 1.3);
  acc.Compose(one, 6);
  RdpAccountant stepwise;
  for (int i = 0; i < 3; ++i) stepwise.Compose(one, 2);
  for (size_t i = 0; i < acc.rdp().size(); ++i) {
    CHECK(acc.rdp()[i] == Approx(6 * one[i]));
    CHECK(stepwise.rdp()[i] == Approx(acc.rdp()[i]));
  }
  // Six rounds at z = 1.3 equal one at z = 1.3 / sqrt(6).
  const double composed = acc.Epsilon(1e-5).epsilon;
  RdpAccountant single;
  single.Compose(GaussianCurve(single.orders(), 1.3 / std::sqrt(6.0)));
  CHECK(composed == Approx(single.Epsilon(1e-5).epsilon));
  CHECK(acc.EpsilonAfter(one, 1, 1e-5).epsilon > composed);
  CHECK(acc.Epsilon(1e-5).epsilon == composed);  // EpsilonAfter changed nothing
  auto restored = RdpAccountant::Restore(acc.orders(), acc.rdp());
  REQUIRE(restored.ok());
  CHECK(restored->Epsilon(1e-5).epsilon == composed);
  CHECK(RdpAccountant::Restore(acc.orders(), {1.0}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  std::vector<double> negative(acc.orders().size(), 0.0);
  negative[3] = -1;
  CHECK(RdpAccountant::Restore(acc.orders(), negative).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("EpsilonFromRdp_NoNoiseMeansNoGuaranteeAndNoRoundsMeansZero") {
  RdpAccountant acc;
  CHECK(acc.Epsilon(1e-5).epsilon == 0);
  acc.Compose(GaussianCurve(acc.orders(), 0.0));
  CHECK(std::isinf(acc.Epsilon(1e-5).epsilon));
}

}  // namespace
}  // namespace cohort::privacy
