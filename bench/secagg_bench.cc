// Secure aggregation benchmarks (docs/benchmarks.md, "Secure aggregation"). One run measures the
// raw AES-256-CTR keystream rate first and expresses every masking figure against the lower
// bound it implies: streams * elements * bytes_per_element / raw rate.
//
//   ninja -C build secagg_bench && ./build/bench/secagg_bench

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "secagg/client_session.h"
#include "secagg/parameter_finder.h"
#include "secagg/prg.h"
#include "secagg/server_unmasking.h"
#include "secagg/shamir.h"
#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/round_harness.h"

namespace cohort::secagg {
namespace {

constexpr int kModulusBits = 32;  // 4 keystream bytes per element
constexpr int32_t kN = 1000;
constexpr double kDropout = 0.1;
constexpr double kCorrupt = 0.05;

double g_raw_bytes_per_second = 0;
struct Row {
  std::string what;
  double seconds = 0;
  double lower_bound_seconds = 0;  // 0: no PRG bound
};
std::map<std::string, Row> g_rows;

SecretKey Seed(uint8_t b) {
  std::array<uint8_t, 32> k;
  k.fill(b);
  return SecretKey(k);
}

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::abort();
  }
}

SecAggParameters Params() {
  ParameterOptions o;
  o.num_participants = kN;
  o.dropout_rate = kDropout;
  o.corrupted_fraction = kCorrupt;
  auto p = FindParameters(o);
  Check(p.status());
  return *p;
}

// The 1000-device round shared by the client and server benchmarks, built once.
RoundHarness& Round(int64_t vector_length) {
  static std::optional<RoundHarness> round;
  if (!round.has_value()) {
    const SecAggParameters p = Params();
    FakeRandomSource rng(1);
    RoundHarnessOptions o;
    o.num_participants = kN;
    o.neighbour_degree = p.neighbour_degree;
    o.threshold = p.threshold;
    o.modulus_bits = kModulusBits;
    o.vector_length = vector_length;
    for (int32_t i = 1; i <= kN; ++i) {
      if (rng.NextU64() % 1000 < static_cast<uint64_t>(kDropout * 1000)) {
        o.drop_before_mask.insert(i);
      }
    }
    auto r = RoundHarness::Run(o, rng);
    Check(r.status());
    round.emplace(*std::move(r));
  }
  return *round;
}

void Record(const std::string& key, const std::string& what, double seconds, double lb) {
  g_rows[key] = {what, seconds, lb};
}

void BM_RawAesCtrKeystream(benchmark::State& state) {
  std::vector<uint8_t> buf(1 << 20);
  for (auto _ : state) {
    Check(RawKeystream(Seed(1), absl::MakeSpan(buf)));
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(buf.size()));
}
BENCHMARK(BM_RawAesCtrKeystream)->Unit(benchmark::kMicrosecond)->MinTime(1.0);

void BM_PrgAddTo(benchmark::State& state) {
  const size_t d = 1 << 18;
  std::vector<uint64_t> values(d, 1);
  auto prg = *MaskPrg::Create(Seed(2), static_cast<int>(state.range(0)));
  for (auto _ : state) {
    Check(prg.AddTo(0, absl::MakeSpan(values)));
    benchmark::DoNotOptimize(values.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(d) *
                          prg.bytes_per_element());
  state.counters["elements/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * d), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PrgAddTo)->Arg(16)->Arg(32)->Arg(62)->Unit(benchmark::kMicrosecond)->MinTime(1.0);

void BM_ClientMask(benchmark::State& state) {
  const size_t d = 1000000;
  RoundHarness& round = Round(100000);
  SecAggClient& client = round.client(round.masked_input()[0]);
  const size_t streams = client.masking_neighbours().size() + 1;
  std::vector<uint64_t> values(d, 7);
  for (auto _ : state) {
    Check(client.MaskChunk(0, absl::MakeSpan(values)));
    benchmark::DoNotOptimize(values.data());
  }
  state.counters["k"] = static_cast<double>(streams - 1);
  state.counters["streams"] = static_cast<double>(streams);
}
BENCHMARK(BM_ClientMask)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_ServerUnmask(benchmark::State& state) {
  const int64_t d = 100000;
  RoundHarness& round = Round(d);
  // The survivors' answers, computed once (they are the devices' work, not the server's).
  static std::map<int32_t, std::vector<UnmaskingShare>> answers;
  size_t streams = 0;
  if (answers.empty()) {
    auto probe = *ServerUnmasking::Create(round.graph(), round.ServerOptions());
    for (int32_t w : round.masked_input()) {
      UnmaskingRequestLists req = probe->RequestFor(w);
      auto shares = round.client(w).Unmask(
          {.surviving = req.surviving, .dropped = req.dropped, .excluded = req.excluded});
      if (shares.ok()) answers[w] = *std::move(shares);
    }
  }
  std::vector<uint64_t> sum(static_cast<size_t>(d), 0);
  for (auto _ : state) {
    auto server = *ServerUnmasking::Create(round.graph(), round.ServerOptions());
    for (const auto& [w, shares] : answers) Check(server->AddResponse(w, shares));
    Check(server->Unmask(absl::MakeSpan(sum)));
    benchmark::DoNotOptimize(sum.data());
  }
  // Streams the server expands: one self mask per survivor, one pairwise mask per
  // (dropped, surviving neighbour) pair.
  const std::set<int32_t> u3(round.masked_input().begin(), round.masked_input().end());
  streams = u3.size();
  for (int32_t v : round.shared_keys()) {
    if (u3.count(v) != 0) continue;
    for (int32_t u : round.graph().Neighbours(v)) streams += u3.count(u);
  }
  state.counters["streams"] = static_cast<double>(streams);
  state.counters["survivors"] = static_cast<double>(u3.size());
}
BENCHMARK(BM_ServerUnmask)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_ShamirSplit(benchmark::State& state) {
  FakeRandomSource rng(3);
  std::vector<int32_t> xs(100);
  for (int i = 0; i < 100; ++i) xs[i] = i + 1;
  for (auto _ : state) {
    auto shares = ShamirSplit(Seed(4), 51, xs, rng);
    benchmark::DoNotOptimize(shares);
  }
}
BENCHMARK(BM_ShamirSplit)->Unit(benchmark::kMicrosecond);

void BM_ShamirReconstruct(benchmark::State& state) {
  FakeRandomSource rng(5);
  std::vector<int32_t> xs(100);
  for (int i = 0; i < 100; ++i) xs[i] = i + 1;
  auto shares = *ShamirSplit(Seed(6), 51, xs, rng);
  std::vector<ShamirShare> given;
  for (int i = 0; i < static_cast<int>(state.range(0)); ++i) given.push_back({xs[i], shares[i]});
  for (auto _ : state) {
    auto secret = ShamirReconstruct(given, 51);
    Check(secret.status());
    benchmark::DoNotOptimize(secret);
  }
}
BENCHMARK(BM_ShamirReconstruct)->Arg(51)->Arg(100)->Unit(benchmark::kMicrosecond);

// Collects every run so main() can print the ratio table after the usual console output.
class TableReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const double seconds = r.real_accumulated_time / static_cast<double>(r.iterations);
      const std::string name = r.benchmark_name();
      auto counter = [&](const char* c) {
        auto it = r.counters.find(c);
        return it == r.counters.end() ? 0.0 : static_cast<double>(it->second);
      };
      if (name.rfind("BM_RawAesCtrKeystream", 0) == 0) {
        g_raw_bytes_per_second = static_cast<double>(1 << 20) / seconds;
        Record("0", "raw AES-256-CTR keystream (1 MiB)", seconds, seconds);
      } else if (name.rfind("BM_PrgAddTo", 0) == 0) {
        const std::string rest = name.substr(name.find('/') + 1);
        const std::string m = rest.substr(0, rest.find('/'));
        const double bytes = (1 << 18) * ((std::stoi(m) + 7) / 8);
        Record("1" + m, "MaskPrg::AddTo, 262,144 elements, m = " + m, seconds,
               bytes / g_raw_bytes_per_second);
      } else if (name.rfind("BM_ClientMask", 0) == 0) {
        const double streams = counter("streams");
        Record("2", "client MaskChunk, d = 1,000,000, m = 32, k = " +
                        std::to_string(static_cast<int>(counter("k"))),
               seconds, streams * 1e6 * 4 / g_raw_bytes_per_second);
      } else if (name.rfind("BM_ServerUnmask", 0) == 0) {
        const double streams = counter("streams");
        Record("3", "server unmask, n = 1000, d = 100,000, 10% dropout (" +
                        std::to_string(static_cast<int>(streams)) + " streams)",
               seconds, streams * 1e5 * 4 / g_raw_bytes_per_second);
      } else if (name.rfind("BM_ShamirSplit", 0) == 0) {
        Record("4", "Shamir split, 32-byte secret, k = 100, t = 51", seconds, 0);
      } else if (name.rfind("BM_ShamirReconstruct", 0) == 0) {
        const std::string rest = name.substr(name.find('/') + 1);
        const std::string m = rest.substr(0, rest.find('/'));
        Record("5" + m, "Shamir reconstruct, t = 51, from " + m + " shares", seconds, 0);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

std::string Human(double seconds) {
  char buf[64];
  if (seconds >= 1) std::snprintf(buf, sizeof(buf), "%.3f s", seconds);
  else if (seconds >= 1e-3) std::snprintf(buf, sizeof(buf), "%.2f ms", seconds * 1e3);
  else std::snprintf(buf, sizeof(buf), "%.1f us", seconds * 1e6);
  return buf;
}

}  // namespace
}  // namespace cohort::secagg

int main(int argc, char** argv) {
  using namespace cohort::secagg;
  benchmark::Initialize(&argc, argv);
  const SecAggParameters p = Params();
  std::printf("parameter finder: n = %d, dropout %.2f, corrupted %.2f, honest-but-curious -> "
              "k = %d, t = %d (security 2^%.1f, failure 2^%.1f)\n",
              p.num_participants, kDropout, kCorrupt, p.neighbour_degree, p.threshold,
              p.log2_security_failure, p.log2_correctness_failure);
  TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\n| measurement | time | PRG lower bound | ratio |\n|---|---:|---:|---:|\n");
  for (const auto& [key, row] : g_rows) {
    if (row.lower_bound_seconds > 0) {
      std::printf("| %s | %s | %s | %.2fx |\n", row.what.c_str(), Human(row.seconds).c_str(),
                  Human(row.lower_bound_seconds).c_str(), row.seconds / row.lower_bound_seconds);
    } else {
      std::printf("| %s | %s | n/a | n/a |\n", row.what.c_str(), Human(row.seconds).c_str());
    }
  }
  std::printf("\nraw keystream: %.2f GB/s\n", g_raw_bytes_per_second / 1e9);
  benchmark::Shutdown();
  return 0;
}
