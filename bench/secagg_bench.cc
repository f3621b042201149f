// Secure aggregation benchmarks (docs/benchmarks.md, "Secure aggregation"). Every masking figure
// is stated against a floor measured in the same run: a fused keystream-plus-add loop written
// straight on OpenSSL (AES-128-CTR into an L1 buffer, then a vector add into the values) over the
// same number of streams and elements, with every cipher context made before the clock starts;
// for the server, plus the same number of raw X25519 agreements.
//
//   ninja -C build secagg_bench && ./build/bench/secagg_bench

#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "secagg/client_session.h"
#include "secagg/mask_streams.h"
#include "secagg/parameter_finder.h"
#include "secagg/prg.h"
#include "secagg/server_unmasking.h"
#include "secagg/shamir.h"
#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/round_harness.h"

namespace cohort::secagg {
namespace {

constexpr int kModulusBits = 32;  // 4-byte lanes
constexpr int32_t kN = 1000;
constexpr double kDropout = 0.1;
constexpr double kCorrupt = 0.05;

double g_raw_bytes_per_second = 0;
double g_x25519_seconds = 0;  // one raw agreement
struct Row {
  std::string what;
  double seconds = 0;
  double lower_bound_seconds = 0;  // 0: no floor
  double floor_agreements = 0;     // X25519 agreements the floor adds (server unmasking)
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

// Keys sort the table; arguments are padded so that m = 16 comes before m = 62.
std::string Padded(const std::string& arg) { return std::string(4 - std::min<size_t>(4, arg.size()), '0') + arg; }

void Record(const std::string& key, const std::string& what, double seconds, double lb) {
  Row& row = g_rows[key];  // a floor may have been recorded first
  row.what = what;
  row.seconds = seconds;
  if (lb > 0) row.lower_bound_seconds = lb;
}

// The floor: `streams` AES-128-CTR keystreams added into `values` block by block, K-byte lanes
// into T values, masked to m bits. Contexts are made by the caller, outside the timing.
template <typename K, typename T>
void FusedKeystreamAdd(std::vector<EVP_CIPHER_CTX*>& streams, absl::Span<T> values, int m) {
  constexpr size_t kBlock = 8192;  // elements per pass over all streams, as MaskStreams
  constexpr size_t kPiece = 2048;  // elements per EVP call, as MaskPrg
  alignas(64) static uint8_t zeros[kPiece * sizeof(K)] = {};
  alignas(64) uint8_t ks[kPiece * sizeof(K)];
  const T mask = m >= static_cast<int>(8 * sizeof(T)) ? static_cast<T>(~T{0})
                                                      : static_cast<T>((T{1} << m) - 1);
  for (size_t start = 0; start < values.size(); start += kBlock) {
    const size_t len = std::min(kBlock, values.size() - start);
    for (EVP_CIPHER_CTX* ctx : streams) {
      for (size_t p = 0; p < len; p += kPiece) {
        const size_t n = std::min(kPiece, len - p);
        int out = 0;
        EVP_EncryptUpdate(ctx, ks, &out, zeros, static_cast<int>(n * sizeof(K)));
        T* v = values.data() + start + p;
        auto add = [&](size_t i) {
          K k;
          std::memcpy(&k, ks + i * sizeof(K), sizeof(K));
          v[i] = static_cast<T>(v[i] + k) & mask;
        };
        // Fixed-size groups so that GCC's -O2 cost model vectorises the add (as in MaskPrg).
        size_t j = 0;
        for (; j + 64 <= n; j += 64) {
          for (size_t i = j; i < j + 64; ++i) add(i);
        }
        for (; j < n; ++j) add(j);
      }
    }
  }
}

std::vector<EVP_CIPHER_CTX*> NewStreams(size_t count) {
  std::vector<EVP_CIPHER_CTX*> out;
  uint8_t key[16], iv[16] = {0};
  for (size_t i = 0; i < count; ++i) {
    std::fill(std::begin(key), std::end(key), static_cast<uint8_t>(i));
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nullptr, key, iv);
    out.push_back(ctx);
  }
  return out;
}

void FreeStreams(std::vector<EVP_CIPHER_CTX*>& streams) {
  for (EVP_CIPHER_CTX* ctx : streams) EVP_CIPHER_CTX_free(ctx);
  streams.clear();
}

template <typename K, typename T>
void RunFloor(benchmark::State& state, size_t streams, size_t elements, int m) {
  std::vector<EVP_CIPHER_CTX*> ctxs = NewStreams(streams);
  std::vector<T> values(elements, 7);
  for (auto _ : state) {
    FusedKeystreamAdd<K, T>(ctxs, absl::MakeSpan(values), m);
    benchmark::DoNotOptimize(values.data());
  }
  FreeStreams(ctxs);
}

// One X25519 agreement as a minimal caller makes it (context, peer, derive), on fixed keys.
void BM_RawX25519(benchmark::State& state) {
  EVP_PKEY* a = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  EVP_PKEY* b = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  uint8_t shared[32];
  for (auto _ : state) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(a, nullptr);
    size_t len = sizeof(shared);
    EVP_PKEY_derive_init(ctx);
    EVP_PKEY_derive_set_peer(ctx, b);
    EVP_PKEY_derive(ctx, shared, &len);
    EVP_PKEY_CTX_free(ctx);
    benchmark::DoNotOptimize(shared);
  }
  EVP_PKEY_free(a);
  EVP_PKEY_free(b);
}
BENCHMARK(BM_RawX25519)->Unit(benchmark::kMicrosecond);

void BM_RawAesCtrKeystream(benchmark::State& state) {
  std::vector<uint8_t> buf(1 << 20);
  for (auto _ : state) {
    Check(RawKeystream(Seed(1), absl::MakeSpan(buf)));
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(buf.size()));
}
BENCHMARK(BM_RawAesCtrKeystream)->Unit(benchmark::kMicrosecond)->MinTime(1.0);

constexpr size_t kPrgElements = 1 << 18;

// 32-bit lanes for m <= 32 (as MaskStreams uses them), 64-bit above.
void BM_PrgAddTo(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  auto prg = *MaskPrg::Create(Seed(2), m);
  auto run = [&](auto values) {
    for (auto _ : state) {
      Check(prg.AddTo(0, absl::MakeSpan(values)));
      benchmark::DoNotOptimize(values.data());
    }
  };
  if (m <= 32) run(std::vector<uint32_t>(kPrgElements, 1));
  else run(std::vector<uint64_t>(kPrgElements, 1));
}
BENCHMARK(BM_PrgAddTo)->Arg(16)->Arg(24)->Arg(32)->Arg(62)->Unit(benchmark::kMicrosecond)
    ->MinTime(0.5);

void BM_PrgAddToFloor(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  switch (PrgLaneBytes(m)) {
    case 2: return RunFloor<uint16_t, uint32_t>(state, 1, kPrgElements, m);
    case 4: return RunFloor<uint32_t, uint32_t>(state, 1, kPrgElements, m);
    default: return RunFloor<uint64_t, uint64_t>(state, 1, kPrgElements, m);
  }
}
BENCHMARK(BM_PrgAddToFloor)->Arg(16)->Arg(24)->Arg(32)->Arg(62)->Unit(benchmark::kMicrosecond)
    ->MinTime(0.5);

constexpr size_t kClientElements = 1000000;

size_t ClientStreams() {
  return Round(100000).client(Round(100000).masked_input()[0]).masking_neighbours().size() + 1;
}

void BM_ClientMask(benchmark::State& state) {
  SecAggClient& client = Round(100000).client(Round(100000).masked_input()[0]);
  std::vector<uint64_t> values(kClientElements, 7);
  for (auto _ : state) {
    Check(client.MaskChunk(0, absl::MakeSpan(values)));
    benchmark::DoNotOptimize(values.data());
  }
  state.counters["streams"] = static_cast<double>(ClientStreams());
}
BENCHMARK(BM_ClientMask)->Unit(benchmark::kMillisecond)->Iterations(8);

void BM_ClientMaskFloor(benchmark::State& state) {
  RunFloor<uint32_t, uint32_t>(state, ClientStreams(), kClientElements, kModulusBits);
  state.counters["streams"] = static_cast<double>(ClientStreams());
}
BENCHMARK(BM_ClientMaskFloor)->Unit(benchmark::kMillisecond)->Iterations(8);

constexpr int64_t kServerElements = 100000;

// What the server must expand and agree: one self-mask stream per survivor and one pairwise
// stream per (dropped, surviving neighbour) pair, each of the latter an X25519 agreement, plus
// one X25519 per dropped device to check its rebuilt key against the advertised one.
struct ServerWork {
  size_t streams = 0;
  size_t agreements = 0;
  size_t survivors = 0;
};
ServerWork ServerWorkOf(RoundHarness& round) {
  ServerWork w;
  const std::set<int32_t> u3(round.masked_input().begin(), round.masked_input().end());
  w.survivors = w.streams = u3.size();
  for (int32_t v : round.shared_keys()) {
    if (u3.count(v) != 0) continue;
    size_t pairs = 0;
    for (int32_t u : round.graph().Neighbours(v)) pairs += u3.count(u);
    w.streams += pairs;
    w.agreements += pairs + (pairs > 0 ? 1 : 0);
  }
  return w;
}

void BM_ServerUnmask(benchmark::State& state) {
  RoundHarness& round = Round(kServerElements);
  // The survivors' answers, computed once (they are the devices' work, not the server's).
  static std::map<int32_t, std::vector<UnmaskingShare>> answers;
  if (answers.empty()) {
    auto probe = *ServerUnmasking::Create(round.graph(), round.ServerOptions());
    for (int32_t w : round.masked_input()) {
      UnmaskingRequestLists req = probe->RequestFor(w);
      auto shares = round.client(w).Unmask(
          {.surviving = req.surviving, .dropped = req.dropped, .excluded = req.excluded});
      if (shares.ok()) answers[w] = *std::move(shares);
    }
  }
  std::vector<uint64_t> sum(static_cast<size_t>(kServerElements), 0);
  for (auto _ : state) {
    auto server = *ServerUnmasking::Create(round.graph(), round.ServerOptions());
    for (const auto& [w, shares] : answers) Check(server->AddResponse(w, shares));
    Check(server->Unmask(absl::MakeSpan(sum)));
    benchmark::DoNotOptimize(sum.data());
  }
  const ServerWork w = ServerWorkOf(round);
  state.counters["streams"] = static_cast<double>(w.streams);
  state.counters["agreements"] = static_cast<double>(w.agreements);
  state.counters["survivors"] = static_cast<double>(w.survivors);
}
BENCHMARK(BM_ServerUnmask)->Unit(benchmark::kMillisecond)->Iterations(4);

// The keystream part of the server's floor; the report adds agreements x one raw X25519.
void BM_ServerUnmaskFloor(benchmark::State& state) {
  const ServerWork w = ServerWorkOf(Round(kServerElements));
  RunFloor<uint32_t, uint32_t>(state, w.streams, static_cast<size_t>(kServerElements),
                               kModulusBits);
  state.counters["streams"] = static_cast<double>(w.streams);
  state.counters["agreements"] = static_cast<double>(w.agreements);
}
BENCHMARK(BM_ServerUnmaskFloor)->Unit(benchmark::kMillisecond)->Iterations(4);

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
      // CPU time: every case is single-threaded, and on a shared machine it moves less than
      // wall time.
      const double seconds = r.cpu_accumulated_time / static_cast<double>(r.iterations);
      const std::string name = r.benchmark_name();
      auto counter = [&](const char* c) {
        auto it = r.counters.find(c);
        return it == r.counters.end() ? 0.0 : static_cast<double>(it->second);
      };
      const std::string arg = name.find('/') == std::string::npos
                                  ? ""
                                  : name.substr(name.find('/') + 1, name.find('/', name.find('/') + 1) -
                                                                        name.find('/') - 1);
      if (name.rfind("BM_RawAesCtrKeystream", 0) == 0) {
        g_raw_bytes_per_second = static_cast<double>(1 << 20) / seconds;
        Record("0", "raw AES-128-CTR keystream (1 MiB)", seconds, 0);
      } else if (name.rfind("BM_RawX25519", 0) == 0) {
        g_x25519_seconds = seconds;
        Record("01", "raw X25519 agreement", seconds, 0);
      } else if (name.rfind("BM_PrgAddToFloor", 0) == 0) {
        g_rows["1" + Padded(arg)].lower_bound_seconds = seconds;
      } else if (name.rfind("BM_PrgAddTo", 0) == 0) {
        Record("1" + Padded(arg),
               "one mask: `MaskPrg::AddTo`, 262,144 elements, m = " + arg +
                   (std::stoi(arg) <= 32 ? " (32-bit values)" : " (64-bit values)"),
               seconds, 0);
      } else if (name.rfind("BM_ClientMaskFloor", 0) == 0) {
        g_rows["2"].lower_bound_seconds = seconds;
      } else if (name.rfind("BM_ClientMask", 0) == 0) {
        Record("2", "client `MaskChunk`, d = 1,000,000, m = 32, " +
                        std::to_string(static_cast<int>(counter("streams"))) +
                        " streams (k + 1)", seconds, 0);
      } else if (name.rfind("BM_ServerUnmaskFloor", 0) == 0) {
        g_rows["3"].lower_bound_seconds = seconds;
        g_rows["3"].floor_agreements = counter("agreements");
      } else if (name.rfind("BM_ServerUnmask", 0) == 0) {
        Record("3", "server unmask, n = 1000, d = 100,000, 10% dropout: " +
                        std::to_string(static_cast<int>(counter("survivors"))) + " survivors, " +
                        std::to_string(static_cast<int>(counter("streams"))) + " streams, " +
                        std::to_string(static_cast<int>(counter("agreements"))) + " X25519",
               seconds, 0);
      } else if (name.rfind("BM_ShamirSplit", 0) == 0) {
        Record("4", "Shamir split, 32-byte secret, k = 100, t = 51", seconds, 0);
      } else if (name.rfind("BM_ShamirReconstruct", 0) == 0) {
        Record("5" + arg, "Shamir reconstruct, t = 51, from " + arg + " shares", seconds, 0);
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
  std::printf("\n| measurement | time | same-run floor | ratio |\n|---|---:|---:|---:|\n");
  for (auto& [key, row] : g_rows) {
    row.lower_bound_seconds += row.floor_agreements * g_x25519_seconds;
    if (row.lower_bound_seconds > 0) {
      std::printf("| %s | %s | %s | %.2fx |\n", row.what.c_str(), Human(row.seconds).c_str(),
                  Human(row.lower_bound_seconds).c_str(), row.seconds / row.lower_bound_seconds);
    } else {
      std::printf("| %s | %s | n/a | n/a |\n", row.what.c_str(), Human(row.seconds).c_str());
    }
  }
  std::printf("\nraw AES-128-CTR keystream: %.2f GB/s; one X25519: %.1f us\n",
              g_raw_bytes_per_second / 1e9, g_x25519_seconds * 1e6);
  benchmark::Shutdown();
  return 0;
}
