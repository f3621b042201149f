#include "privacy/distributed_encoder.h"

#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "secagg/testing/fake_random_source.h"

namespace cohort::privacy {
namespace {

std::string Seed(uint64_t n) {
  std::string seed(32, '\0');
  secagg::FakeRandomSource source(n);
  source.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(seed.data()), seed.size()));
  return seed;
}

DpRoundParams Round(Mechanism m, int64_t d, double z, int bits, int64_t n_min, int64_t n_max,
                    double count_stddev = 0) {
  DpSpec spec;
  spec.mechanism = m;
  spec.clip_norm = 1.0;
  spec.noise_multiplier = z;
  spec.dimension = d;
  spec.bits = bits;
  spec.min_contributors = n_min;
  spec.max_contributors = n_max;
  spec.clipped_count_stddev = count_stddev;
  auto round = ResolveDpRound(spec);
  REQUIRE(round.ok());
  return *round;
}

// Encodes each device's delta and adds the encodings mod 2^bits, as secure aggregation does.
std::vector<uint64_t> SumOfEncodings(const std::vector<std::vector<float>>& deltas,
                                     const DpRoundParams& round, const std::string& seed,
                                     RandomBits& bits) {
  std::vector<uint64_t> sum(static_cast<size_t>(round.noised_coordinates), 0);
  const uint64_t mask = (uint64_t{1} << round.bits) - 1;
  for (const auto& delta : deltas) {
    auto e = EncodeDistributed(delta, round, seed, bits);
    REQUIRE(e.ok());
    REQUIRE(e->values.size() == sum.size());
    for (size_t j = 0; j < sum.size(); ++j) {
      REQUIRE(e->values[j] <= mask);
      sum[j] = (sum[j] + e->values[j]) & mask;
    }
  }
  return sum;
}

TEST_CASE("DecodeDistributedSum_NoiseHasMeanZeroAndTheConfiguredVariance") {
  // Zero updates round to exactly zero, so the decoded sum is the noise alone: per coordinate
  // n_contributors * local_variance / s^2 (the rotation is orthogonal, the shares i.i.d.).
  // 8 rounds of 1024 coordinates = 8192 samples: the variance estimate has a relative standard
  // error of sqrt(2 / 8192) = 1.6%, the tolerance is 6 of those; the seeds are fixed.
  for (Mechanism m : {Mechanism::kDistributedDiscreteGaussian, Mechanism::kDistributedSkellam}) {
    const DpRoundParams round = Round(m, 1000, 1.0, 18, 10, 16);
    secagg::FakeRandomSource source(70);
    RandomBits bits(source);
    const int64_t contributors = 12;  // between n_min and n_max: more noise than accounted for
    const std::vector<std::vector<float>> zeros(contributors, std::vector<float>(1000, 0.0f));
    double sum = 0, sum_squares = 0;
    int64_t samples = 0;
    for (int r = 0; r < 8; ++r) {
      const std::string seed = Seed(100 + static_cast<uint64_t>(r));
      const std::vector<uint64_t> encoded = SumOfEncodings(zeros, round, seed, bits);
      auto decoded = DecodeDistributedSum(encoded, round, seed, contributors);
      REQUIRE(decoded.ok());
      // Unrotated coordinates beyond d are noise too; the first d are what the server keeps.
      for (double v : decoded->sum) {
        sum += v;
        sum_squares += v * v;
        ++samples;
      }
    }
    const double expected =
        static_cast<double>(contributors) * round.local_variance / (round.scale * round.scale);
    INFO(MechanismName(m) << " expected variance " << expected);
    CHECK(std::abs(sum / static_cast<double>(samples)) <
          6 * std::sqrt(expected / static_cast<double>(samples)));
    CHECK(std::abs(sum_squares / static_cast<double>(samples) / expected - 1) <
          6 * std::sqrt(2.0 / static_cast<double>(samples)));
    // z C = 1 at n_min = 10; 12 contributors carry 12/10 of that variance.
    CHECK(expected == Approx(1.2).epsilon(1e-3));
  }
}

TEST_CASE("DecodeDistributedSum_RecoversTheSumOfClippedUpdates") {
  // Low noise (z = 0.001) so the signal dominates: the error per coordinate has variance
  // (n s2 + rounding <= n/4) / s^2, and a device above the clip norm counts as clipped.
  const DpRoundParams round = Round(Mechanism::kDistributedDiscreteGaussian, 300, 0.001, 20, 8, 8);
  secagg::FakeRandomSource source(71);
  RandomBits bits(source);
  std::vector<std::vector<float>> deltas(8, std::vector<float>(300));
  std::vector<double> expected(300, 0.0);
  for (size_t i = 0; i < deltas.size(); ++i) {
    double norm = 0;
    for (size_t j = 0; j < 300; ++j) {
      deltas[i][j] = static_cast<float>(std::sin(0.1 * static_cast<double>(i * 300 + j)) * 0.05);
      norm += static_cast<double>(deltas[i][j]) * deltas[i][j];
    }
    norm = std::sqrt(norm);
    if (i == 0) {  // device 0 is 20x over the clip norm
      for (float& v : deltas[i]) v *= static_cast<float>(20 / norm);
      norm = 20;
    }
    const double clip = std::min(1.0, 1.0 / norm);
    for (size_t j = 0; j < 300; ++j) expected[j] += deltas[i][j] * clip;
  }
  const std::string seed = Seed(5);
  const std::vector<uint64_t> encoded = SumOfEncodings(deltas, round, seed, bits);
  auto decoded = DecodeDistributedSum(encoded, round, seed, 8);
  REQUIRE(decoded.ok());
  double mse = 0;
  for (size_t j = 0; j < 300; ++j) mse += std::pow(decoded->sum[j] - expected[j], 2) / 300;
  const double bound = (8 * round.local_variance + 8 / 4.0) / (round.scale * round.scale);
  CHECK(mse < 1.5 * bound);
  // And a different seed on the server decodes garbage: the rotation is part of the code. The
  // wrong inverse scatters the signal, so the error is about as large as the signal itself.
  auto wrong = DecodeDistributedSum(encoded, round, Seed(6), 8);
  REQUIRE(wrong.ok());
  double wrong_mse = 0, signal = 0;
  for (size_t j = 0; j < 300; ++j) {
    wrong_mse += std::pow(wrong->sum[j] - expected[j], 2) / 300;
    signal += expected[j] * expected[j] / 300;
  }
  CHECK(signal > 100 * bound);
  CHECK(wrong_mse > 0.5 * signal);
}

TEST_CASE("EncodeDistributed_ReportsClippingAndTheNoisyCountDecodesIt") {
  // 40 devices, 10 of them over the clip norm; the count coordinate's noise is sigma_b = 2.
  const DpRoundParams round =
      Round(Mechanism::kDistributedDiscreteGaussian, 64, 1.0, 20, 40, 40, /*count_stddev=*/2);
  REQUIRE(round.count_magnitude > 0);
  secagg::FakeRandomSource source(72);
  RandomBits bits(source);
  std::vector<std::vector<float>> deltas(40, std::vector<float>(64, 0.01f));
  for (int i = 0; i < 10; ++i) deltas[static_cast<size_t>(i)] = std::vector<float>(64, 1.0f);
  int clipped = 0;
  for (const auto& d : deltas) {
    auto e = EncodeDistributed(d, round, Seed(9), bits);
    REQUIRE(e.ok());
    clipped += e->clipped ? 1 : 0;
  }
  CHECK(clipped == 10);
  // Over 200 rounds the count's error is N(0, <= 2^2 * (1 + tiny)): mean within 6 standard
  // errors of 30, spread near 2.
  double sum = 0, sum_squares = 0;
  for (int r = 0; r < 200; ++r) {
    const std::string seed = Seed(200 + static_cast<uint64_t>(r));
    auto decoded = DecodeDistributedSum(SumOfEncodings(deltas, round, seed, bits), round, seed, 40);
    REQUIRE(decoded.ok());
    const double error = decoded->unclipped_count - 30;
    sum += error;
    sum_squares += error * error;
  }
  const double count_stddev =
      std::sqrt(40 * round.local_variance) / (2.0 * static_cast<double>(round.count_magnitude));
  CHECK(std::abs(sum / 200) < 6 * count_stddev / std::sqrt(200.0));
  CHECK(std::sqrt(sum_squares / 200) == Approx(count_stddev).epsilon(0.35));
}

TEST_CASE("DecodeDistributedSum_WrapsNoMoreOftenThanTheRingBoundSays") {
  // A deliberately tight ring (wrap bound ~2^-3 at 4 aligned maximal updates): the fraction of
  // rounds in which any coordinate decodes wrong must stay below the bound.
  DpSpec spec;
  spec.mechanism = Mechanism::kDistributedDiscreteGaussian;
  spec.clip_norm = 1.0;
  spec.noise_multiplier = 1.0;
  spec.dimension = 16;
  spec.bits = 10;
  spec.min_contributors = 4;
  spec.max_contributors = 4;
  spec.log2_max_wrap = -3;
  auto round = ResolveDpRound(spec);
  REQUIRE(round.ok());
  spec.bits = 40;  // the same round on a ring that cannot wrap
  DpRoundParams wide = *round;
  wide.bits = 40;
  secagg::FakeRandomSource source(73);
  RandomBits bits(source);
  std::vector<std::vector<float>> deltas(4, std::vector<float>(16, 0.25f));  // norm 1, aligned
  int wrapped = 0;
  constexpr int kRounds = 400;
  for (int r = 0; r < kRounds; ++r) {
    const std::string seed = Seed(500 + static_cast<uint64_t>(r));
    // Encode once at 40 bits; the 10-bit sum is the same integers mod 2^10.
    const std::vector<uint64_t> exact = SumOfEncodings(deltas, wide, seed, bits);
    std::vector<uint64_t> narrow(exact.size());
    for (size_t j = 0; j < exact.size(); ++j) narrow[j] = exact[j] & ((1u << 10) - 1);
    auto a = DecodeDistributedSum(exact, wide, seed, 4);
    auto b = DecodeDistributedSum(narrow, *round, seed, 4);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    bool any = false;
    for (size_t j = 0; j < 16; ++j) any |= std::abs(a->sum[j] - b->sum[j]) > 1e-9;
    wrapped += any ? 1 : 0;
  }
  CHECK(static_cast<double>(wrapped) / kRounds <= std::exp2(round->log2_wrap_probability));
}

TEST_CASE("AddCentralNoise_AddsTheConfiguredVarianceAroundTheSum") {
  DpSpec spec;
  spec.mechanism = Mechanism::kCentralGaussian;
  spec.clip_norm = 2.0;
  spec.noise_multiplier = 0.7;
  spec.dimension = 5000;
  spec.min_contributors = 10;
  spec.max_contributors = 10;
  auto round = ResolveDpRound(spec);
  REQUIRE(round.ok());
  secagg::FakeRandomSource source(74);
  RandomBits bits(source);
  std::vector<double> sum(5000);
  for (size_t j = 0; j < sum.size(); ++j) sum[j] = 0.001 * static_cast<double>(j);
  std::vector<double> noisy = sum;
  REQUIRE(AddCentralNoise(absl::MakeSpan(noisy), *round, bits).ok());
  double mean = 0, var = 0;
  for (size_t j = 0; j < sum.size(); ++j) {
    mean += (noisy[j] - sum[j]) / 5000;
    var += std::pow(noisy[j] - sum[j], 2) / 5000;
  }
  const double expected = std::pow(0.7 * 2.0, 2);
  CHECK(std::abs(mean) < 6 * std::sqrt(expected / 5000));
  CHECK(std::abs(var / expected - 1) < 6 * std::sqrt(2.0 / 5000));
  DpRoundParams distributed = *round;
  distributed.mechanism = Mechanism::kDistributedSkellam;
  CHECK(AddCentralNoise(absl::MakeSpan(noisy), distributed, bits).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("EncodeDistributed_RefusesBadInput") {
  const DpRoundParams round = Round(Mechanism::kDistributedDiscreteGaussian, 10, 1.0, 16, 2, 2);
  secagg::FakeRandomSource source(75);
  RandomBits bits(source);
  CHECK(EncodeDistributed(std::vector<float>(9), round, Seed(1), bits).status().code() ==
        absl::StatusCode::kInvalidArgument);
  std::vector<float> nan(10, 0.0f);
  nan[3] = std::nanf("");
  CHECK(EncodeDistributed(nan, round, Seed(1), bits).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(EncodeDistributed(std::vector<float>(10), round, "short", bits).status().code() ==
        absl::StatusCode::kInvalidArgument);
  std::vector<uint64_t> too_big(static_cast<size_t>(round.noised_coordinates), 1u << 16);
  CHECK(DecodeDistributedSum(too_big, round, Seed(1), 2).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::privacy
