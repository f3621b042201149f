// Differential privacy benchmarks (docs/benchmarks.md, "Privacy"): first a table of what the
// accountant gives — the noise multiplier each mechanism needs for epsilon 1, 3 and 8 at
// delta 1e-5 over 50 rounds of 200 devices (160 the fewest a round commits with, 260 selected),
// for the two simulator models and 16- and 20-bit rings — then the samplers' and the device
// encoder's speed with the OS CSPRNG (secagg::OsRandom, as on a phone).
//
//   ninja -C build privacy_bench && ./build/bench/privacy_bench

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "privacy/accountant.h"
#include "privacy/discrete_gaussian.h"
#include "privacy/distributed_encoder.h"
#include "privacy/mechanism.h"
#include "privacy/rdp.h"
#include "privacy/skellam.h"
#include "secagg/random_source.h"

namespace cohort::privacy {
namespace {

constexpr double kDelta = 1e-5;
constexpr int64_t kRounds = 50;

DpSpec Spec(Mechanism m, int64_t d, int bits) {
  DpSpec spec;
  spec.mechanism = m;
  spec.clip_norm = 1.0;
  spec.noise_multiplier = 1.0;
  spec.dimension = d;
  spec.bits = bits;
  spec.min_contributors = 160;
  spec.max_contributors = 260;
  spec.upper_bound = true;  // what CreateTask calibrates on
  return spec;
}

// The continuous Gaussian's multiplier for the same target (the reference the discrete
// mechanisms approach as their rings widen).
double GaussianMultiplier(double target) {
  const std::vector<double> orders = DefaultOrders();
  double lo = 0.01, hi = 1000;
  for (int i = 0; i < 60; ++i) {
    const double z = std::sqrt(lo * hi);
    std::vector<double> curve;
    for (double a : orders) curve.push_back(kRounds * GaussianRdp(z, a));
    (EpsilonFromRdp(orders, curve, kDelta).epsilon <= target ? hi : lo) = z;
  }
  return hi;
}

void PrintCalibrationTable() {
  std::printf("Calibrated noise multiplier z (total noise stddev / clip norm at 160 contributors)\n"
              "for epsilon at delta 1e-5 over %lld rounds; per-round epsilon in parentheses;\n"
              "'-' = out of reach for that ring.\n\n",
              static_cast<long long>(kRounds));
  std::printf("| model (d) | mechanism | bits | eps 8 | eps 3 | eps 1 |\n");
  std::printf("|---|---|---:|---:|---:|---:|\n");
  const std::vector<double> orders = DefaultOrders();
  for (int64_t d : {int64_t{7850}, int64_t{50890}}) {
    const char* model = d == 7850 ? "softmax (7,850)" : "MLP-64 (50,890)";
    std::printf("| %s | Gaussian (continuous, reference) | - |", model);
    for (double target : {8.0, 3.0, 1.0}) std::printf(" %.3f |", GaussianMultiplier(target));
    std::printf("\n");
    struct Row {
      Mechanism m;
      int bits;
    };
    for (Row row : {Row{Mechanism::kCentralGaussian, 0},
                    Row{Mechanism::kDistributedDiscreteGaussian, 16},
                    Row{Mechanism::kDistributedDiscreteGaussian, 20},
                    Row{Mechanism::kDistributedSkellam, 16},
                    Row{Mechanism::kDistributedSkellam, 20}}) {
      std::printf("| %s | %s | %s |", model, MechanismName(row.m).c_str(),
                  row.bits == 0 ? "-" : std::to_string(row.bits).c_str());
      for (double target : {8.0, 3.0, 1.0}) {
        DpSpec spec = Spec(row.m, d, row.bits == 0 ? 20 : row.bits);
        absl::StatusOr<double> z =
            CalibrateNoiseMultiplier(spec, target, kDelta, kRounds, orders);
        if (!z.ok()) {
          std::printf(" - |");
          continue;
        }
        spec.noise_multiplier = *z;
        absl::StatusOr<DpRoundParams> round = ResolveDpRound(spec);
        const double one =
            round.ok() ? EpsilonFromRdp(orders, RoundRdpCurve(*round, orders), kDelta).epsilon
                       : 0;
        std::printf(" %.3f (%.2f) |", *z, one);
      }
      std::printf("\n");
    }
  }
  std::printf("\n");
}

void BM_DiscreteGaussianSample(benchmark::State& state) {
  RandomBits bits(*secagg::OsRandom());
  auto dg = DiscreteGaussianSampler::Create(static_cast<double>(state.range(0)));
  int64_t sink = 0;
  for (auto _ : state) sink += dg->Sample(bits);
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(state.iterations());
  state.counters["bits/sample"] =
      static_cast<double>(bits.bits_used()) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DiscreteGaussianSample)->Arg(4)->Arg(10000)->Arg(1 << 24);

void BM_SkellamSample(benchmark::State& state) {
  RandomBits bits(*secagg::OsRandom());
  auto sk = SkellamSampler::Create(static_cast<double>(state.range(0)));
  int64_t sink = 0;
  for (auto _ : state) sink += sk->Sample(bits);
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SkellamSample)->Arg(4)->Arg(10000)->Arg(1 << 24);

// One device's whole DP encoding (clip, rotate, scale, round, noise, wrap) at 20 bits.
void BM_EncodeDistributed(benchmark::State& state) {
  const int64_t d = state.range(0);
  DpSpec spec = Spec(state.range(1) == 0 ? Mechanism::kDistributedDiscreteGaussian
                                         : Mechanism::kDistributedSkellam,
                     d, 20);
  spec.upper_bound = false;
  spec.noise_multiplier = 5;
  absl::StatusOr<DpRoundParams> round = ResolveDpRound(spec);
  std::vector<float> delta(static_cast<size_t>(d));
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = static_cast<float>(std::sin(i) * 0.01);
  const std::string seed(32, 's');
  RandomBits bits(*secagg::OsRandom());
  for (auto _ : state) {
    absl::StatusOr<DistributedEncoding> e = EncodeDistributed(delta, *round, seed, bits);
    benchmark::DoNotOptimize(e->values.data());
  }
  state.SetItemsProcessed(state.iterations() * d);
}
BENCHMARK(BM_EncodeDistributed)
    ->Args({7850, 0})
    ->Args({50890, 0})
    ->Args({50890, 1})
    ->Args({1000000, 0})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cohort::privacy

int main(int argc, char** argv) {
  cohort::privacy::PrintCalibrationTable();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
