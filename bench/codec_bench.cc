// Update codec benchmarks (docs/benchmarks.md, "Codec"): the bytes a device uploads for
// d = 1,000,000 parameters at b = 4, 8 and 16 bits and cohorts of 100 and 1000, next to float32,
// and the encode / accumulate / decode / apply throughput at d = 1,000,000.
//
//   ninja -C build codec_bench && ./build/bench/codec_bench

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "codec/aggregate_decoder.h"
#include "codec/codec_params.h"
#include "codec/model.h"
#include "codec/server_optimizer.h"
#include "codec/splitmix64.h"
#include "codec/update_encoder.h"
#include "secagg/packing.h"

namespace cohort::codec {
namespace {

constexpr int64_t kD = 1000000;
constexpr int64_t kBlock = 1 << 16;  // the SDK's encode-and-pack block

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::abort();
  }
}

cohort::v1::CodecParams Params(int bits, int32_t max_weight, int32_t cohort,
                               cohort::v1::UpdateEncoding encoding) {
  cohort::v1::CodecConfig config;
  config.set_encoding(encoding);
  config.set_bits(bits);
  config.set_max_example_weight(max_weight);
  config.set_l2_clip_norm(1.0);
  absl::StatusOr<cohort::v1::CodecParams> p = ResolveCodecParams(config, kD, cohort, kBlock);
  Check(p.status());
  return *p;
}

cohort::v1::CodecParams Quantized(int bits) {
  return Params(bits, 1000, 1000, cohort::v1::UPDATE_ENCODING_QUANTIZED);
}

// A delta of norm ~1.15: clipped, like a typical local update against C = 1.
const std::vector<float>& Delta() {
  static const std::vector<float> delta = [] {
    std::vector<float> d(kD);
    SplitMix64 rng(7);
    for (float& v : d) v = static_cast<float>((2 * rng.NextDouble() - 1) * 0.002);
    return d;
  }();
  return delta;
}

// Encode to a full-width vector (EncodeUpdate).
void BM_Encode(benchmark::State& state) {
  const cohort::v1::CodecParams p = Quantized(static_cast<int>(state.range(0)));
  uint64_t seed = 1;
  for (auto _ : state) {
    absl::StatusOr<EncodedUpdate> e = EncodeUpdate(p, Delta(), 500, seed++);
    Check(e.status());
    benchmark::DoNotOptimize(e->values.data());
  }
  state.SetItemsProcessed(state.iterations() * kD);
}
BENCHMARK(BM_Encode)->Arg(4)->Arg(8)->Arg(16)->Unit(benchmark::kMillisecond);

// What the SDK does: encode block by block straight into the packed wire form.
void BM_EncodeAndPack(benchmark::State& state) {
  const cohort::v1::CodecParams p = Quantized(static_cast<int>(state.range(0)));
  std::vector<uint64_t> block(kBlock);
  uint64_t seed = 1;
  for (auto _ : state) {
    absl::StatusOr<UpdateEncoder> encoder = UpdateEncoder::Create(p, Delta(), 500, seed++);
    Check(encoder.status());
    std::string packed;
    packed.reserve(secagg::PackedSize(static_cast<size_t>(p.vector_length()), p.modulus_bits()));
    for (int64_t begin = 0; begin < p.vector_length(); begin += kBlock) {
      const int64_t n = std::min(kBlock, p.vector_length() - begin);
      absl::Span<uint64_t> out = absl::MakeSpan(block).subspan(0, static_cast<size_t>(n));
      Check(encoder->Encode(begin, out));
      absl::StatusOr<std::string> piece = secagg::Pack(out, p.modulus_bits());
      Check(piece.status());
      packed += *piece;
    }
    benchmark::DoNotOptimize(packed.data());
  }
  state.SetItemsProcessed(state.iterations() * kD);
}
BENCHMARK(BM_EncodeAndPack)->Arg(4)->Arg(8)->Arg(16)->Unit(benchmark::kMillisecond);

void BM_EncodeFloat32(benchmark::State& state) {
  const cohort::v1::CodecParams p = Params(8, 1000, 1000, cohort::v1::UPDATE_ENCODING_FLOAT32);
  for (auto _ : state) {
    absl::StatusOr<EncodedUpdate> e = EncodeUpdate(p, Delta(), 500, 1);
    Check(e.status());
    benchmark::DoNotOptimize(e->values.data());
  }
  state.SetItemsProcessed(state.iterations() * kD);
}
BENCHMARK(BM_EncodeFloat32)->Unit(benchmark::kMillisecond);

// Server, plain mode: fold one device's encoded update into the running sum mod 2^m.
void BM_PlainAccumulatorAdd(benchmark::State& state) {
  const cohort::v1::CodecParams p = Quantized(8);
  absl::StatusOr<EncodedUpdate> e = EncodeUpdate(p, Delta(), 500, 1);
  Check(e.status());
  absl::StatusOr<PlainAccumulator> acc = PlainAccumulator::Create(p);
  Check(acc.status());
  for (auto _ : state) Check(acc->Add(e->values));
  state.SetItemsProcessed(state.iterations() * kD);
}
BENCHMARK(BM_PlainAccumulatorAdd)->Unit(benchmark::kMillisecond);

// Server: unmasked sum of 1000 devices -> the average delta.
void BM_DecodeQuantizedSum(benchmark::State& state) {
  const cohort::v1::CodecParams p = Quantized(static_cast<int>(state.range(0)));
  absl::StatusOr<EncodedUpdate> e = EncodeUpdate(p, Delta(), 1000, 1);
  Check(e.status());
  std::vector<uint64_t> sum = e->values;
  for (uint64_t& v : sum) v *= 1000;  // 1000 identical devices at the weight cap
  for (auto _ : state) {
    absl::StatusOr<AggregateResult> r = DecodeQuantizedSum(sum, p, 1000);
    Check(r.status());
    benchmark::DoNotOptimize(r->average_delta.data());
  }
  state.SetItemsProcessed(state.iterations() * kD);
}
BENCHMARK(BM_DecodeQuantizedSum)->Arg(8)->Arg(16)->Unit(benchmark::kMillisecond);

// Server: apply the average delta with FedAvgM (includes parsing the model bytes and the new
// model's SHA-256 over 4 MB).
void BM_FedAvgMApply(benchmark::State& state) {
  cohort::v1::ModelLayout layout;
  auto* t = layout.add_tensors();
  t->set_name("w");
  t->add_shape(kD);
  absl::StatusOr<cohort::v1::Model> model = MakeModel(layout, Delta(), 0);
  Check(model.status());
  cohort::v1::ServerOptimizerConfig config;
  config.set_kind(cohort::v1::ServerOptimizerConfig::KIND_FEDAVGM);
  absl::StatusOr<std::unique_ptr<ServerOptimizer>> optimizer = CreateServerOptimizer(config, kD);
  Check(optimizer.status());
  const OptimizerState velocity = (*optimizer)->InitialState();
  for (auto _ : state) {
    absl::StatusOr<OptimizerStep> next = (*optimizer)->Apply(*model, Delta(), velocity);
    Check(next.status());
    benchmark::DoNotOptimize(next->model.parameters().data());
  }
  state.SetItemsProcessed(state.iterations() * kD);
}
BENCHMARK(BM_FedAvgMApply)->Unit(benchmark::kMillisecond);

void BM_Sha256Model(benchmark::State& state) {
  const std::string bytes = FloatsToBytes(Delta());
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(bytes));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_Sha256Model)->Unit(benchmark::kMillisecond);

// Collects every run so main() can print the throughput table after the console output.
std::map<std::string, double> g_seconds;  // benchmark name -> seconds per iteration

class TableReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      g_seconds[r.benchmark_name()] = r.real_accumulated_time / static_cast<double>(r.iterations);
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

void PrintWireTable() {
  std::printf(
      "\nBytes per device on the wire, d = %lld parameters (vector_length d + 1, packed at m "
      "bits)\n\n",
      static_cast<long long>(kD));
  std::printf(
      "| b | cohort n | weight cap W | m | bytes per device | MiB | float32 / this | m / b |\n"
      "|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  const double float32_bytes = 4.0 * static_cast<double>(kD + 1);
  for (int32_t weight : {1000, 1}) {
    for (int bits : {4, 8, 16}) {
      for (int32_t cohort : {100, 1000}) {
        const cohort::v1::CodecParams p =
            Params(bits, weight, cohort, cohort::v1::UPDATE_ENCODING_QUANTIZED);
        const double bytes = static_cast<double>(
            secagg::PackedSize(static_cast<size_t>(p.vector_length()), p.modulus_bits()));
        std::printf("| %d | %d | %d | %d | %.0f | %.2f | %.2fx | %.2f |\n", bits, cohort, weight,
                    p.modulus_bits(), bytes, bytes / (1 << 20), float32_bytes / bytes,
                    static_cast<double>(p.modulus_bits()) / bits);
      }
    }
  }
  std::printf("| float32 | any | any | - | %.0f | %.2f | 1.00x | - |\n", float32_bytes,
              float32_bytes / (1 << 20));
}

void PrintThroughputTable() {
  std::printf(
      "\nThroughput at d = %lld\n\n| operation | time | M elements/s | ns/element |\n"
      "|---|---:|---:|---:|\n",
      static_cast<long long>(kD));
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"BM_Encode/4", "EncodeUpdate, b = 4 (full uint64 vector)"},
      {"BM_Encode/8", "EncodeUpdate, b = 8"},
      {"BM_Encode/16", "EncodeUpdate, b = 16"},
      {"BM_EncodeAndPack/4", "UpdateEncoder + Pack in 64 Ki blocks (SDK path), b = 4"},
      {"BM_EncodeAndPack/8", "UpdateEncoder + Pack in 64 Ki blocks (SDK path), b = 8"},
      {"BM_EncodeAndPack/16", "UpdateEncoder + Pack in 64 Ki blocks (SDK path), b = 16"},
      {"BM_EncodeFloat32", "EncodeUpdate, FLOAT32"},
      {"BM_PlainAccumulatorAdd", "PlainAccumulator::Add (one device, mod 2^m)"},
      {"BM_DecodeQuantizedSum/8", "DecodeQuantizedSum, b = 8, 1000 contributors"},
      {"BM_DecodeQuantizedSum/16", "DecodeQuantizedSum, b = 16, 1000 contributors"},
      {"BM_FedAvgMApply", "FedAvgM::Apply (incl. SHA-256 of the new model)"},
      {"BM_Sha256Model", "SHA-256 of a 4 MB model"},
  };
  for (const auto& [name, what] : rows) {
    auto it = g_seconds.find(name);
    if (it == g_seconds.end()) continue;  // filtered out with --benchmark_filter
    const double seconds = it->second;
    std::printf("| %s | %.2f ms | %.0f | %.2f |\n", what.c_str(), seconds * 1e3,
                static_cast<double>(kD) / seconds / 1e6, seconds * 1e9 / static_cast<double>(kD));
  }
}

}  // namespace
}  // namespace cohort::codec

int main(int argc, char** argv) {
  using namespace cohort::codec;
  benchmark::Initialize(&argc, argv);
  TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  PrintWireTable();
  PrintThroughputTable();
  benchmark::Shutdown();
  return 0;
}
