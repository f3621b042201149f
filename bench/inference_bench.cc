// On-device inference (docs/benchmarks.md, "Inference"): the simulator's MLP and CNN, trained
// here on Fashion-MNIST for a few central epochs with the SDK's EigenTrainer and quantized to
// int8 on 500 training images, run by the three engines an app can choose: the Eigen reference
// (model::Network<float>), XNNPACK float32 and XNNPACK int8.
//
// Per model and engine: latency of one Predict at batch 1 (p50, p99), artifact bytes, memory of
// load + predict, and accuracy on the 10,000 test images. The machine is shared and noisy, so the
// engines are timed interleaved (rounds of calls, engine after engine) and every latency is also
// given as a ratio to the Eigen reference of the same run: that ratio is what the run measures.
// Memory: live heap growth (mallinfo2) and RSS growth, each engine loaded in a forked child.
//
//   ninja -C build inference_bench && ./build/bench/inference_bench [--quick]

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client_sdk/inference/engine.h"
#include "client_sdk/trainer/eigen_trainer.h"
#include "model/quantize.h"
#include "model/zoo.h"
#include "sim/dataset.h"

namespace cohort {
namespace {

using inference::Engine;
using inference::EngineKind;
using inference::EngineOptions;

template <typename T>
T OrDie(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, value.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(value);
}

void OrDie(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
    std::exit(1);
  }
}

struct EngineCase {
  std::string name;
  EngineOptions options;
  const std::string* artifact;  // serialized InferenceModel
  std::unique_ptr<Engine> engine;
  std::vector<double> latencies;  // seconds, batch 1
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

double Accuracy(const Engine& engine, const sim::Dataset& test) {
  constexpr int64_t kBatch = 100;
  std::vector<float> out(kBatch * 10);
  int64_t correct = 0;
  for (int64_t start = 0; start + kBatch <= test.size(); start += kBatch) {
    OrDie(engine.Predict(absl::MakeConstSpan(test.features).subspan(start * 784, kBatch * 784),
                         kBatch, absl::MakeSpan(out)),
          "predict");
    for (int64_t b = 0; b < kBatch; ++b) {
      const float* row = out.data() + b * 10;
      correct += (std::max_element(row, row + 10) - row) == test.labels[start + b];
    }
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(test.size());
}

int64_t StatusField(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(std::strlen(field))) * 1024;
  }
  return 0;
}

int64_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<int64_t>(m.uordblks + m.hblkhd);
}

struct Memory {
  int64_t heap = 0, rss = 0;
};

// Loads the artifact and predicts 100 single images in a child process, so that one engine's
// pages and freed heap do not hide another's: heap growth while the engine is alive, and the RSS
// high-water mark over the child's starting RSS.
Memory MeasureMemory(const EngineCase& c, const std::vector<float>& image) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const int64_t rss0 = StatusField("VmRSS:");
    const int64_t heap0 = HeapInUse();
    auto engine = OrDie(inference::LoadEngine(*c.artifact, c.options), "load");
    std::vector<float> out(10);
    for (int i = 0; i < 100; ++i) OrDie(engine->Predict(image, 1, absl::MakeSpan(out)), "predict");
    Memory m{HeapInUse() - heap0, StatusField("VmHWM:") - rss0};
    (void)!write(fds[1], &m, sizeof(m));
    _exit(0);
  }
  close(fds[1]);
  Memory m;
  if (read(fds[0], &m, sizeof(m)) != sizeof(m)) m = {};
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return m;
}

// Calls per second of `threads` callers predicting single images for `seconds`.
double Throughput(const Engine& engine, const std::vector<float>& image, int threads,
                  double seconds) {
  std::vector<int64_t> calls(static_cast<size_t>(threads), 0);
  const auto stop = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<float> out(10);
      while (std::chrono::steady_clock::now() < stop) {
        OrDie(engine.Predict(image, 1, absl::MakeSpan(out)), "predict");
        ++calls[t];
      }
    });
  }
  for (std::thread& w : workers) w.join();
  int64_t total = 0;
  for (int64_t n : calls) total += n;
  return static_cast<double>(total) / seconds;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five;
  in >> one >> five;
  return one + " (1 min), " + five + " (5 min)";
}

// Two decimals, three significant digits below 0.1 (a p99 far under the reference's).
std::string Ratio(double r) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), r < 0.1 ? "%.3fx" : "%.2fx", r);
  return buffer;
}

void RunModel(const char* name, const cohort::v1::ModelGraph& graph, int epochs,
              const sim::FashionMnist& data, bool quick) {
  // Train centrally with the SDK's trainer.
  const client::ModelLayout layout = OrDie(client::GraphLayout(graph), "layout");
  auto trainer = OrDie(client::EigenTrainer::Create(data.train.features, data.train.labels, 784,
                                                    uint64_t{7}),
                       "trainer");
  std::vector<float> params = client::GlorotUniformParameters(layout, 3);
  const auto train_start = std::chrono::steady_clock::now();
  client::TrainingParams tp;
  tp.local_epochs = epochs;
  tp.batch_size = 32;
  tp.learning_rate = 0.05;
  params = OrDie(trainer->Train(layout, params, tp), "train").parameters;
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();

  // Artifacts: float as trained, int8 calibrated on the first 500 training images.
  const std::string f32 = OrDie(model::FloatArtifact(graph, params), "float").SerializeAsString();
  const std::vector<float> calibration(data.train.features.begin(),
                                       data.train.features.begin() + 500 * 784);
  const std::string int8 =
      OrDie(model::QuantizeModel(graph, params, calibration), "quantize").SerializeAsString();

  std::vector<EngineCase> cases;
  cases.push_back({"Eigen float (reference)", {.kind = EngineKind::kEigenReference}, &f32});
  cases.push_back({"XNNPACK float32", {}, &f32});
  cases.push_back({"XNNPACK int8", {}, &int8});
  for (EngineCase& c : cases) c.engine = OrDie(inference::LoadEngine(*c.artifact, c.options), "load");

  // Latency at batch 1, interleaved: rounds of calls on a rotating set of test images.
  const int rounds = quick ? 4 : 20, calls = quick ? 100 : 500;
  std::vector<float> out(10);
  for (EngineCase& c : cases) {
    for (int i = 0; i < 200; ++i) {  // warm-up: caches, branch predictors, XNNPACK setup
      OrDie(c.engine->Predict(absl::MakeConstSpan(data.test.features).subspan(i * 784, 784), 1,
                              absl::MakeSpan(out)),
            "warm-up");
    }
  }
  for (int r = 0; r < rounds; ++r) {
    for (EngineCase& c : cases) {
      for (int i = 0; i < calls; ++i) {
        const auto image = absl::MakeConstSpan(data.test.features).subspan(((r * calls + i) % 10000) * 784, 784);
        const auto start = std::chrono::steady_clock::now();
        OrDie(c.engine->Predict(image, 1, absl::MakeSpan(out)), "predict");
        c.latencies.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    }
  }
  const double ref_p50 = Percentile(cases[0].latencies, 0.5);
  const double ref_p99 = Percentile(cases[0].latencies, 0.99);
  const std::vector<float> image(data.test.features.begin(), data.test.features.begin() + 784);

  std::printf("\n%s: %lld parameters, %d epochs of central training in %.0f s, %zu timed calls per engine\n\n",
              name, static_cast<long long>(NumParameters(layout)), epochs, train_seconds,
              cases[0].latencies.size());
  std::printf("| engine | p50 (us) | p99 (us) | p50 / Eigen | p99 / Eigen | artifact (bytes) | vs float | heap growth (KiB) | RSS growth (KiB) | test accuracy (%%) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const EngineCase& c : cases) {
    const double p50 = Percentile(c.latencies, 0.5), p99 = Percentile(c.latencies, 0.99);
    const Memory m = MeasureMemory(c, image);
    std::printf("| %s | %.1f | %.1f | %s | %s | %zu | %.3fx | %.0f | %.0f | %.2f |\n",
                c.name.c_str(), p50 * 1e6, p99 * 1e6, Ratio(p50 / ref_p50).c_str(),
                Ratio(p99 / ref_p99).c_str(),
                c.artifact->size(),
                static_cast<double>(c.artifact->size()) / static_cast<double>(f32.size()),
                static_cast<double>(m.heap) / 1024.0, static_cast<double>(m.rss) / 1024.0,
                Accuracy(*c.engine, data.test));
  }

  // Concurrency: two callers on one engine, with one operator set (callers take turns, as a
  // mutex would) against two (each its own). Configurations alternate over several short trials
  // (median kept), so that a burst of load from colleagues does not favour one of them.
  std::printf("\n| %s, XNNPACK int8 at batch 1 | calls/s | vs 1 caller | operator sets made |\n", name);
  std::printf("|---|---:|---:|---:|\n");
  const double seconds = quick ? 0.1 : 0.4;
  struct Config {
    const char* name;
    int callers, sets;
    std::unique_ptr<Engine> engine;
    std::vector<double> rates;
  };
  std::vector<Config> configs;
  configs.push_back({"1 caller", 1, 1, nullptr, {}});
  configs.push_back({"2 callers, max_concurrency 1", 2, 1, nullptr, {}});
  configs.push_back({"2 callers, max_concurrency 2", 2, 2, nullptr, {}});
  for (Config& c : configs) {
    c.engine = OrDie(inference::LoadEngine(int8, {.max_concurrency = c.sets}), "load");
  }
  for (int trial = 0; trial < (quick ? 3 : 9); ++trial) {
    for (Config& c : configs) c.rates.push_back(Throughput(*c.engine, image, c.callers, seconds));
  }
  const double single = Percentile(configs[0].rates, 0.5);
  for (const Config& c : configs) {
    const double rate = Percentile(c.rates, 0.5);
    std::printf("| %s | %.0f | %.2fx | %d |\n", c.name, rate, rate / single, c.engine->instances());
  }
}

int Main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const sim::FashionMnist data = OrDie(sim::LoadFashionMnist(), "Fashion-MNIST");
  std::printf("Inference on Fashion-MNIST (%lld train, %lld test images), %u hardware threads%s\n",
              static_cast<long long>(data.train.size()), static_cast<long long>(data.test.size()),
              std::thread::hardware_concurrency(), quick ? ", --quick" : "");
  std::printf("load average at start: %s\n", LoadAverage().c_str());
  RunModel("MLP (dense 64, relu, dense 10)", model::MlpGraph(784, 64, 10), quick ? 1 : 3, data,
           quick);
  RunModel("CNN (conv 5x5x8, pool, conv 5x5x16, pool, dense 10)", model::SmallCnnGraph(28, 10),
           quick ? 1 : 3, data, quick);
  std::printf("\nload average at end: %s\n", LoadAverage().c_str());
  return 0;
}

}  // namespace
}  // namespace cohort

int main(int argc, char** argv) { return cohort::Main(argc, argv); }
