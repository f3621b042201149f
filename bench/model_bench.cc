// Training speed of the built-in trainer (docs/benchmarks.md, "Models"): one SGD step of batch 32
// (forward, backward) for the simulator's MLP and CNN, per layer, against the floor of the same
// run: Eigen's GEMM doing the layer's multiply-adds as one product of the shapes the layer uses
// (forward and both backward products). The ratio says how far the layer is from its matrix
// products; layers without GEMMs (pooling, activations) have no floor.
//
//   ninja -C build model_bench && ./build/bench/model_bench

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "codec/splitmix64.h"
#include "model/graph.h"
#include "model/layer_op.h"
#include "model/network.h"
#include "model/zoo.h"

namespace cohort::model {
namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr int64_t kBatch = 32;

// Median seconds of `reps` calls after one warm-up call, best of 3 medians (a shared machine).
double Time(const std::function<void()>& f, int reps) {
  f();
  double best = 1e30;
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) {
      const auto start = std::chrono::steady_clock::now();
      f();
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::nth_element(times.begin(), times.begin() + reps / 2, times.end());
    best = std::min(best, times[reps / 2]);
  }
  return best;
}

std::vector<float> Random(int64_t n, uint64_t seed) {
  codec::SplitMix64 rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.NextDouble() - 0.5);
  return v;
}

// The GEMMs a Dense or Conv2D layer's forward and backward passes amount to: (m, k, n) triples.
std::vector<std::array<int64_t, 3>> Gemms(const cohort::v1::Layer& layer, const LayerInfo& info) {
  if (layer.has_dense()) {
    const int64_t in = info.input[0], out = info.output[0];
    return {{kBatch, in, out}, {in, kBatch, out}, {kBatch, out, in}};
  }
  if (layer.has_conv2d()) {
    const int64_t g = info.groups;
    const int64_t k = info.input[0] / g * info.window.kernel_h * info.window.kernel_w;
    const int64_t f = info.output[0] / g;
    const int64_t p = kBatch * info.output[1] * info.output[2];
    std::vector<std::array<int64_t, 3>> out;
    for (int64_t i = 0; i < g; ++i) {
      out.push_back({f, k, p});
      out.push_back({f, p, k});
      out.push_back({k, f, p});
    }
    return out;
  }
  return {};
}

double GemmFloor(const std::vector<std::array<int64_t, 3>>& gemms) {
  double total = 0;
  for (const auto& [m, k, n] : gemms) {
    Matrix a = Matrix::Random(m, k), b = Matrix::Random(k, n), c(m, n);
    total += Time([&] { c.noalias() = a * b; }, 20);
  }
  return total;
}

void Report(const std::string& name, const cohort::v1::ModelGraph& graph) {
  auto net = Network<float>::Create(graph);
  if (!net.ok()) {
    std::fprintf(stderr, "%s\n", net.status().ToString().c_str());
    return;
  }
  const GraphInfo& info = (*net)->info();
  const std::vector<float> params = Random(info.num_parameters, 1);
  const std::vector<float> x = Random(kBatch * (*net)->input_size(), 2);
  std::vector<int32_t> labels(kBatch);
  for (int64_t b = 0; b < kBatch; ++b) labels[b] = static_cast<int32_t>(b % info.num_outputs);
  std::vector<float> grad(params.size());
  const double step = Time([&] {
    (*net)->Loss(params.data(), x.data(), labels.data(), kBatch, grad.data());
  }, 30);
  std::printf("\n%s: %lld parameters, one SGD step of batch %lld: %.3f ms (%.1f us per example)\n",
              name.c_str(), static_cast<long long>(info.num_parameters),
              static_cast<long long>(kBatch), step * 1e3, step * 1e6 / kBatch);
  std::printf("| layer | output | forward+backward | GEMM floor | ratio |\n|---|---|---:|---:|---:|\n");
  double layers_total = 0, floor_total = 0;
  for (int i = 0; i < graph.layers_size(); ++i) {
    auto op = internal::MakeLayerOp<float>(graph.layers(i), info.layers[i]);
    const std::vector<float> in = Random(kBatch * NumElements(info.layers[i].input), 3 + i);
    std::vector<float> out(static_cast<size_t>(kBatch * NumElements(info.layers[i].output)));
    std::vector<float> d_in(in.size()), d_params(params.size());
    const std::vector<float> d_out = Random(static_cast<int64_t>(out.size()), 40 + i);
    const double t = Time([&] {
      op->Forward(params.data(), in.data(), kBatch, out.data());
      op->Backward(params.data(), in.data(), out.data(), d_out.data(), kBatch,
                   i == 0 ? nullptr : d_in.data(), d_params.data());
    }, 30);
    layers_total += t;
    const auto gemms = Gemms(graph.layers(i), info.layers[i]);
    const double floor = gemms.empty() ? 0 : GemmFloor(gemms);
    floor_total += floor;
    std::printf("| %s | %s | %.1f us | %s | %s |\n", graph.layers(i).name().c_str(),
                ShapeToString(info.layers[i].output).c_str(), t * 1e6,
                floor > 0 ? (std::to_string(static_cast<int>(floor * 1e6)) + " us").c_str() : "-",
                floor > 0 ? (std::to_string(t / floor).substr(0, 4) + "x").c_str() : "-");
  }
  std::printf("| all layers | | %.1f us | %.1f us | %.2fx |\n", layers_total * 1e6,
              floor_total * 1e6, layers_total / floor_total);
}

}  // namespace
}  // namespace cohort::model

int main() {
  cohort::model::Report("mlp 784-64-10", cohort::model::MlpGraph(784, 64, 10));
  cohort::model::Report("cnn (SmallCnnGraph)", cohort::model::SmallCnnGraph(28, 10));
  return 0;
}
