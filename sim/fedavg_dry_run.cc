// fedavg_dry_run: FedAvg of the EigenTrainer over partitioned Fashion-MNIST, in one process, with
// no network, no SDK and no secure aggregation. It exists to pick the default hyper-parameters
// of cohort-sim quickly; cohort-sim then runs the real protocol with them.
//
// Quantization is simulated exactly as the codec specifies it: each device clips its model
// delta to L2 norm C, rounds every coordinate stochastically to one of 2^b levels over [-C, C],
// and the server averages the dequantized deltas weighted by example count (what DecodeSum
// returns: secure aggregation's exact integer sum of weight * level, divided by the weights).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "client_sdk/trainer/eigen_trainer.h"
#include "model/zoo.h"
#include "sim/dataset.h"
#include "sim/partition.h"
#include "sim/metrics.h"
#include "sim/random.h"
#include "sim/svg_plot.h"

namespace cohort::sim {
namespace {

struct Flags {
  std::string data_dir = kDefaultFashionMnistDir;
  std::string model = "mlp";
  int hidden = 64;
  int devices = 100;
  int rounds = 50;
  int per_round = 13;
  std::string partition = "dirichlet";
  double alpha = 0.5;
  int epochs = 2;
  int batch_size = 32;
  double lr = 0.05;
  double server_lr = 1.0;
  double server_momentum = 0.0;
  bool server_adam = false;  // FedAdam (beta1 0.9, beta2 0.99, tau 1e-3); --server_lr is eta
  double clip = 0.0;  // 0: no clipping, no quantization (plain float FedAvg)
  int bits = 8;
  int max_example_weight = 1 << 20;
  uint64_t seed = 1;
  int threads = 1;
  std::string csv;
  std::string svg;
};

// Clips, quantizes stochastically to 2^bits levels over [-clip, clip], dequantizes.
void QuantizeInPlace(std::vector<float>& delta, double clip, int bits, SplitMix64& rng) {
  double norm_sq = 0.0;
  for (float v : delta) norm_sq += double{v} * v;
  const double norm = std::sqrt(norm_sq);
  const double scale = norm > clip ? clip / norm : 1.0;
  const double levels = std::ldexp(1.0, bits) - 1.0;
  const double step = 2.0 * clip / levels;
  for (float& v : delta) {
    const double x = std::clamp(v * scale, -clip, clip);
    const double pos = (x + clip) / step;
    double level = std::floor(pos);
    if (rng.NextDouble() < pos - level) level += 1.0;
    v = static_cast<float>(-clip + std::min(level, levels) * step);
  }
}

int Run(const Flags& f) {
  auto data_or = LoadFashionMnist(f.data_dir);
  if (!data_or.ok()) {
    std::fprintf(stderr, "fedavg_dry_run: %s\n", data_or.status().ToString().c_str());
    return 1;
  }
  const FashionMnist& data = *data_or;
  absl::StatusOr<Partition> partition =
      f.partition == "iid" ? PartitionIid(data.train.size(), f.devices, f.seed)
                           : PartitionDirichlet(data.train.labels, f.devices, f.alpha, f.seed);
  if (!partition.ok()) {
    std::fprintf(stderr, "fedavg_dry_run: %s\n", partition.status().ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<client::EigenTrainer>> trainers;
  for (int d = 0; d < f.devices; ++d) {
    Dataset shard = Subset(data.train, (*partition)[d]);
    trainers.push_back(client::EigenTrainer::Create(std::move(shard.features),
                                                    std::move(shard.labels), shard.num_features,
                                                    MixSeed(f.seed, 1000 + d))
                           .value());
  }
  auto evaluator = client::EigenTrainer::Create(data.test.features, data.test.labels,
                                                data.test.num_features, 0)
                       .value();
  const client::ModelLayout layout =
      f.model == "softmax" ? client::SoftmaxRegressionLayout(784, 10)
      : f.model == "cnn"   ? client::GraphLayout(model::CnnGraph(28, 10)).value()
      : f.model == "small_cnn" ? client::GraphLayout(model::SmallCnnGraph(28, 10)).value()
                           : client::MlpLayout(784, f.hidden, 10);
  std::vector<float> model = client::GlorotUniformParameters(layout, f.seed);
  std::printf("model=%s params=%zu devices=%d per_round=%d partition=%s alpha=%g skew=%.3f "
              "epochs=%d batch=%d lr=%g server_lr=%g clip=%g bits=%d\n",
              f.model.c_str(), model.size(), f.devices, f.per_round, f.partition.c_str(), f.alpha,
              MeanLabelSkew(data.train.labels, *partition), f.epochs, f.batch_size, f.lr,
              f.server_lr, f.clip, f.clip > 0 ? f.bits : 32);
  std::ofstream csv;
  if (!f.csv.empty()) {
    csv.open(f.csv);
    csv << "round,test_accuracy,test_loss,train_loss,median_delta_norm,seconds\n";
  }

  SplitMix64 select_rng(MixSeed(f.seed, 0x5e1ec7));
  std::vector<int> ids(f.devices);
  double final_accuracy = 0.0;
  std::vector<RoundMetrics> history;
  std::vector<double> velocity(model.size(), 0.0);
  std::vector<double> second(model.size(), 1e-6);  // tau^2
  for (int round = 1; round <= f.rounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    std::iota(ids.begin(), ids.end(), 0);
    select_rng.Shuffle(ids.begin(), ids.end());
    std::vector<int> cohort(ids.begin(), ids.begin() + std::min(f.per_round, f.devices));
    std::vector<std::vector<float>> deltas(cohort.size());
    std::vector<double> weights(cohort.size()), losses(cohort.size()), norms(cohort.size());
    client::TrainingParams params;
    params.local_epochs = f.epochs;
    params.batch_size = f.batch_size;
    params.learning_rate = f.lr;
    params.extra["round"] = round;
    auto work = [&](size_t k) {
      const client::TrainingResult r = trainers[cohort[k]]->Train(layout, model, params).value();
      std::vector<float> delta(model.size());
      double sq = 0.0;
      for (size_t i = 0; i < model.size(); ++i) {
        delta[i] = r.parameters[i] - model[i];
        sq += double{delta[i]} * delta[i];
      }
      norms[k] = std::sqrt(sq);
      if (f.clip > 0) {
        SplitMix64 rng(MixSeed(f.seed, uint64_t(round) << 20 | cohort[k]));
        QuantizeInPlace(delta, f.clip, f.bits, rng);
      }
      deltas[k] = std::move(delta);
      weights[k] = static_cast<double>(std::min<int64_t>(r.num_examples, f.max_example_weight));
      losses[k] = r.loss;
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < f.threads; ++t) {
      pool.emplace_back([&, t] {
        for (size_t k = t; k < cohort.size(); k += f.threads) work(k);
      });
    }
    for (auto& th : pool) th.join();
    double weight_sum = 0.0, train_loss = 0.0;
    std::vector<double> sum(model.size(), 0.0);
    for (size_t k = 0; k < cohort.size(); ++k) {
      weight_sum += weights[k];
      train_loss += weights[k] * losses[k];
      for (size_t i = 0; i < model.size(); ++i) sum[i] += weights[k] * deltas[k][i];
    }
    for (size_t i = 0; i < model.size(); ++i) {
      const double delta = sum[i] / weight_sum;
      if (f.server_adam) {
        velocity[i] = 0.9 * velocity[i] + 0.1 * delta;
        second[i] = 0.99 * second[i] + 0.01 * delta * delta;
        model[i] += static_cast<float>(f.server_lr * velocity[i] / (std::sqrt(second[i]) + 1e-3));
      } else {
        velocity[i] = f.server_momentum * velocity[i] + delta;
        model[i] += static_cast<float>(f.server_lr * velocity[i]);
      }
    }
    const client::EvaluationResult eval = evaluator->Evaluate(layout, model).value();
    std::sort(norms.begin(), norms.end());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("round %3d  acc %.4f  loss %.4f  train_loss %.4f  median|delta| %.3f  %.2fs\n",
                round, eval.accuracy, eval.loss, train_loss / weight_sum, norms[norms.size() / 2],
                seconds);
    std::fflush(stdout);
    if (csv.is_open()) {
      csv << round << "," << eval.accuracy << "," << eval.loss << "," << train_loss / weight_sum
          << "," << norms[norms.size() / 2] << "," << seconds << "\n";
    }
    final_accuracy = eval.accuracy;
    RoundMetrics m;
    m.round = round;
    m.committed = true;
    m.model_version = round;
    m.cohort = m.survivors = static_cast<int32_t>(cohort.size());
    m.test_accuracy = eval.accuracy;
    m.test_loss = eval.loss;
    m.round_seconds = seconds;
    history.push_back(m);
  }
  if (!f.svg.empty()) {
    const absl::Status written = WriteFile(f.svg, RenderRoundsSvg(history, "fedavg_dry_run"));
    if (!written.ok()) std::fprintf(stderr, "%s\n", written.ToString().c_str());
  }
  std::printf("final test accuracy %.4f\n", final_accuracy);
  return 0;
}

}  // namespace
}  // namespace cohort::sim

int main(int argc, char** argv) {
  cohort::sim::Flags f;
  CLI::App app{"In-process FedAvg dry run over Fashion-MNIST (picks cohort-sim defaults)"};
  app.add_option("--data_dir", f.data_dir, "Directory of the Fashion-MNIST IDX files");
  app.add_option("--model", f.model, "mlp, softmax, cnn or small_cnn")
      ->check(CLI::IsMember({"mlp", "softmax", "cnn", "small_cnn"}));
  app.add_option("--server_momentum", f.server_momentum, "FedAvgM momentum; 0 = plain FedAvg");
  app.add_flag("--server_adam", f.server_adam, "FedAdam server step (--server_lr is its eta)");
  app.add_option("--hidden", f.hidden, "MLP hidden width");
  app.add_option("--devices", f.devices, "Simulated devices");
  app.add_option("--rounds", f.rounds, "Rounds");
  app.add_option("--per_round", f.per_round, "Devices per round");
  app.add_option("--partition", f.partition, "iid or dirichlet")
      ->check(CLI::IsMember({"iid", "dirichlet"}));
  app.add_option("--alpha", f.alpha, "Dirichlet concentration");
  app.add_option("--epochs", f.epochs, "Local epochs");
  app.add_option("--batch_size", f.batch_size, "Local batch size");
  app.add_option("--lr", f.lr, "Client learning rate");
  app.add_option("--server_lr", f.server_lr, "Server learning rate");
  app.add_option("--clip", f.clip, "L2 clip norm C; 0 = plain float FedAvg");
  app.add_option("--bits", f.bits, "Quantization bits (with --clip)");
  app.add_option("--max_example_weight", f.max_example_weight, "Cap on a device's weight");
  app.add_option("--seed", f.seed, "Seed");
  app.add_option("--threads", f.threads, "Training threads");
  app.add_option("--csv", f.csv, "Write per-round metrics here");
  app.add_option("--svg", f.svg, "Write an accuracy plot here");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return cohort::sim::Run(f);
}
