#include "privacy/mechanism.h"

#include <cmath>
#include <string>

#include <catch2/catch.hpp>

#include "privacy/accountant.h"
#include "privacy/discrete_gaussian.h"
#include "privacy/rdp.h"

namespace cohort::privacy {
namespace {

DpSpec Spec(Mechanism mechanism = Mechanism::kDistributedDiscreteGaussian) {
  DpSpec spec;
  spec.mechanism = mechanism;
  spec.clip_norm = 0.5;
  spec.noise_multiplier = 1.0;
  spec.dimension = 7850;
  spec.bits = 16;
  spec.min_contributors = 80;
  spec.max_contributors = 130;
  return spec;
}

double Epsilon(const DpRoundParams& round, int64_t rounds, double delta) {
  const std::vector<double> orders = DefaultOrders();
  std::vector<double> curve = RoundRdpCurve(round, orders);
  for (double& v : curve) v *= static_cast<double>(rounds);
  return EpsilonFromRdp(orders, curve, delta).epsilon;
}

bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST_CASE("ResolveDpRound_FillsTheRingUpToTheWrapBoundAndNoFurther") {
  for (Mechanism m : {Mechanism::kDistributedDiscreteGaussian, Mechanism::kDistributedSkellam}) {
    const DpSpec spec = Spec(m);
    auto round = ResolveDpRound(spec);
    REQUIRE(round.ok());
    CHECK(round->padded_dimension == 8192);
    CHECK(round->noised_coordinates == 8192);
    CHECK(round->log2_wrap_probability <= -20);
    // 1% more scale would break the bound: the scale is (nearly) the largest that fits.
    RingLoad load;
    load.bits = 16;
    load.contributors = 130;
    load.coordinates = 8192;
    load.scaled_clip_norm = spec.clip_norm * round->scale * 1.01;
    load.noise =
        m == Mechanism::kDistributedSkellam ? NoiseKind::kSkellam : NoiseKind::kDiscreteGaussian;
    const double total = spec.noise_multiplier * load.scaled_clip_norm;
    load.local_variance = RoundUpToVarianceGrid(total * total / 80);
    CHECK(Log2WrapProbability(load) > -20);
    // Noise: every share on the grid, and at 80 contributors at least z C in update units.
    CHECK(RoundUpToVarianceGrid(round->local_variance) == round->local_variance);
    CHECK(round->noise_stddev() >= spec.noise_multiplier * spec.clip_norm);
    CHECK(round->noise_stddev() <= spec.noise_multiplier * spec.clip_norm * 1.001);
    // The rounding inflates the sensitivity a little above s C.
    CHECK(round->l2_sensitivity > spec.clip_norm * round->scale);
    CHECK(round->l2_sensitivity < spec.clip_norm * round->scale * 1.2);
    CHECK(round->effective_noise_multiplier() < spec.noise_multiplier);
    CHECK(round->effective_noise_multiplier() > 0.8 * spec.noise_multiplier);
  }
}

TEST_CASE("ResolveDpRound_MoreBitsGiveAFinerScaleAndLessRoundingCost") {
  DpSpec spec = Spec();
  auto narrow = ResolveDpRound(spec);
  spec.bits = 20;
  auto wide = ResolveDpRound(spec);
  REQUIRE(narrow.ok());
  REQUIRE(wide.ok());
  CHECK(wide->scale > 10 * narrow->scale);
  CHECK(wide->effective_noise_multiplier() > narrow->effective_noise_multiplier());
  CHECK(Epsilon(*wide, 100, 1e-5) < Epsilon(*narrow, 100, 1e-5));
}

TEST_CASE("ResolveDpRound_RefusesARingTooSmallForTheCohortNamingTheNumbers") {
  DpSpec spec = Spec();
  spec.bits = 8;
  spec.max_contributors = 300;
  auto round = ResolveDpRound(spec);
  REQUIRE(round.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(round.status(), "2^8"));
  CHECK(Contains(round.status(), "300 contributors"));
  spec = Spec();
  spec.noise_multiplier = 0;
  CHECK(ResolveDpRound(spec).status().code() == absl::StatusCode::kInvalidArgument);
  spec = Spec();
  spec.min_contributors = 200;
  CHECK(ResolveDpRound(spec).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ResolveDpRound_AdaptiveClippingAddsANoisedCountCoordinate") {
  // Andrew et al. 2021: the count's noise sigma_b costs like a Gaussian of multiplier 2 sigma_b;
  // together z_eff^-2 = z^-2 + (2 sigma_b)^-2 (here with the integer h and the rounding).
  DpSpec spec = Spec();
  spec.bits = 20;
  spec.clipped_count_stddev = 5;  // count noise 5 devices
  auto round = ResolveDpRound(spec);
  REQUIRE(round.ok());
  CHECK(round->noised_coordinates == 8193);
  CHECK(round->count_magnitude > 0);
  const double total = std::sqrt(80 * round->local_variance);
  const double count_stddev = total / (2.0 * static_cast<double>(round->count_magnitude));
  CHECK(count_stddev >= 5);
  CHECK(count_stddev < 5.01);
  spec.clipped_count_stddev = 0;
  auto plain = ResolveDpRound(spec);
  REQUIRE(plain.ok());
  const double z_plain = plain->effective_noise_multiplier();
  const double z_expected = 1 / std::sqrt(1 / (z_plain * z_plain) + 1 / (4 * 5.0 * 5.0));
  CHECK(round->effective_noise_multiplier() == Approx(z_expected).epsilon(1e-3));
}

TEST_CASE("ResolveDpRound_CentralRoundsTheSumOnAFineGrid") {
  DpSpec spec = Spec(Mechanism::kCentralGaussian);
  auto round = ResolveDpRound(spec);
  REQUIRE(round.ok());
  const double sc = spec.clip_norm * round->scale;
  CHECK(sc == Approx(4096 * std::sqrt(7850.0)));
  CHECK(round->l2_sensitivity == Approx(sc * (1 + 0x1.0p-20) + std::sqrt(7850.0)));
  CHECK(round->noise_stddev() == Approx(spec.noise_multiplier * spec.clip_norm).epsilon(1e-6));
  // Its RDP is the Gaussian's at the effective multiplier, just below z.
  CHECK(round->effective_noise_multiplier() == Approx(1 / (1 + 1.0 / 4096)).epsilon(1e-5));
  const std::vector<double> orders = {2, 10};
  const std::vector<double> curve = RoundRdpCurve(*round, orders);
  CHECK(curve[0] == Approx(GaussianRdp(round->effective_noise_multiplier(), 2)));
}

TEST_CASE("RoundRdpCurve_SamplingAssumptionOnlyLowersTheCurve") {
  DpSpec spec = Spec();
  auto plain = ResolveDpRound(spec);
  spec.sampling_rate = 0.01;
  auto sampled = ResolveDpRound(spec);
  REQUIRE(plain.ok());
  REQUIRE(sampled.ok());
  const std::vector<double> orders = DefaultOrders();
  const std::vector<double> a = RoundRdpCurve(*plain, orders);
  const std::vector<double> b = RoundRdpCurve(*sampled, orders);
  bool strictly_lower_somewhere = false;
  for (size_t i = 0; i < orders.size(); ++i) {
    CHECK(b[i] <= a[i]);
    strictly_lower_somewhere |= b[i] < 0.5 * a[i];
  }
  CHECK(strictly_lower_somewhere);
}

TEST_CASE("CalibrateNoiseMultiplier_FindsTheSmallestNoiseThatMeetsTheTarget") {
  const std::vector<double> orders = DefaultOrders();
  for (Mechanism m : {Mechanism::kDistributedDiscreteGaussian, Mechanism::kDistributedSkellam,
                      Mechanism::kCentralGaussian}) {
    DpSpec spec = Spec(m);
    spec.bits = 20;
    for (double target : {8.0, 3.0, 1.0}) {
      auto z = CalibrateNoiseMultiplier(spec, target, 1e-5, 100, orders);
      INFO(MechanismName(m) << " target " << target);
      REQUIRE(z.ok());
      spec.noise_multiplier = *z;
      auto at = ResolveDpRound(spec);
      REQUIRE(at.ok());
      CHECK(Epsilon(*at, 100, 1e-5) <= target);
      spec.noise_multiplier = *z * 0.99;
      auto below = ResolveDpRound(spec);
      REQUIRE(below.ok());
      CHECK(Epsilon(*below, 100, 1e-5) > target);
    }
  }
}

TEST_CASE("CalibrateNoiseMultiplier_RefusesATargetTheRingCannotReach") {
  DpSpec spec = Spec();
  spec.bits = 10;
  spec.max_contributors = 100;
  spec.min_contributors = 100;
  auto z = CalibrateNoiseMultiplier(spec, 0.5, 1e-5, 1000, DefaultOrders());
  REQUIRE(z.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(z.status(), "out of reach"));
  CHECK(Contains(z.status(), "10-bit"));
}

}  // namespace
}  // namespace cohort::privacy
