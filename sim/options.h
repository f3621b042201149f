#ifndef COHORT_SIM_OPTIONS_H_
#define COHORT_SIM_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client_sdk/trainer/eigen_trainer.h"
#include "cohort/v1/admin.pb.h"
#include "sim/dataset.h"

namespace cohort::sim {

// Everything a simulation run needs; main fills it from flags. The defaults are the README's
// run: 100 devices, 50 rounds, 10% per round with 1.3x over-selection, SecAgg+ on, 8-bit
// quantization with clip 1.0, Dirichlet(0.5) labels, MLP(64) trained 5 local epochs at learning
// rate 0.1, in-process in-memory server. The training defaults were picked with
// sim/fedavg_dry_run (docs/simulation.md).
struct SimOptions {
  // Server. Empty `server` starts one in-process on 127.0.0.1 (random ports, in-memory store,
  // random admin token); otherwise connect to these addresses with this token.
  std::string server;
  std::string admin_server;
  std::string admin_token;
  // PEM file of the CA that signed the server's certificate: TLS for the devices and the admin
  // channel. Without it `server` and `admin_server` must be loopback addresses, since the admin
  // token and every device's traffic would cross the network in plaintext.
  std::string tls_ca_file;
  std::string population = "cohort-sim";
  // With `server`: join this existing task (its population, model and settings) instead of
  // creating one; the flags that would define a task are then unused. The run observes the next
  // `rounds` rounds that end, starting only as many as the task does not already have queued.
  std::string task_id;

  // Data.
  std::string data_dir = kDefaultFashionMnistDir;
  std::string partition = "dirichlet";  // "dirichlet" or "iid"
  double alpha = 0.5;

  // Federation.
  int devices = 100;
  int rounds = 50;
  // Devices wanted per round: cohort_size if > 0, else ceil(cohort_fraction * devices).
  double cohort_fraction = 0.1;
  int cohort_size = 0;
  double over_selection = 1.3;
  // Fewest contributors a round may commit with; 0 = the server's default (80% of the target).
  int min_participants = 0;

  // Model and training.
  // "mlp", "softmax", "cnn" (model::CnnGraph) or the path of an ONNX file taking
  // [N, 1, 28, 28] or [N, 784] and giving 10 classes.
  std::string model = "mlp";
  int hidden = 64;
  int local_epochs = 5;
  // Fraction of each device's examples held out of training for federated evaluation (the task
  // then enables config.evaluation); 0 turns federated evaluation off.
  double holdout = 0.1;
  int batch_size = 32;
  double client_lr = 0.1;
  // Server optimizer: "fedavg", "fedavgm", or the adaptive "fedadagrad", "fedadam", "fedyogi".
  std::string optimizer = "fedavg";
  // 0 = the optimizer's default (EffectiveServerLr).
  double server_lr = 0.0;
  double server_momentum = 0.9;
  // Adaptivity of the adaptive optimizers; 0 = the server's default (1e-3).
  double server_tau = 0.0;
  // Server learning-rate decay over the run's rounds: "constant", "cosine" or "linear", down to
  // server_lr_final_fraction of the initial rate at the last round.
  std::string server_lr_decay = "constant";
  double server_lr_final_fraction = 0.1;

  // Update codec and secure aggregation.
  bool secagg = true;
  // Attach calibration data, and at the end fetch the published float32 and int8 inference
  // artifacts through a device's SDK and score them on the test set (docs/inference.md).
  bool on_device_report = true;
  // Quantized (bits, clip) when true; plain weighted float32 (no secure aggregation) when false.
  bool quantize = true;
  int bits = 8;
  double clip = 1.0;
  int max_example_weight = 10000;
  // Expected dropout the server sizes the Shamir threshold for; 0 = max(0.1, dropout).
  double secagg_dropout_rate = 0.0;
  // The round-failure bound 2^-bits the server proves for SecAgg+; 0 = the strongest, up to the
  // server's default of 20, that parameters exist for at this cohort size (small cohorts cannot
  // reach 2^-20: e.g. 8 participants at 10% dropout reach 2^-14).
  int secagg_correctness_bits = 0;

  // Differential privacy (docs/privacy.md): "none"; "ddg" (distributed discrete Gaussian) or
  // "skellam" under secure aggregation; "central" (plain float32 rounds, the server adds the
  // noise). Noise is --dp_noise_multiplier, or calibrated so that --rounds rounds spend
  // --dp_target_epsilon at --dp_delta. --dp_budget defaults to the target.
  std::string dp = "none";
  double dp_noise_multiplier = 0.0;
  double dp_target_epsilon = 0.0;
  double dp_delta = 1e-5;
  double dp_budget = 0.0;
  int dp_bits = 20;
  bool dp_adaptive_clipping = false;
  std::string dp_weighting = "uniform";  // "uniform" or "capped"

  // Probability that a selected device vanishes (stops answering, no Leave) at a uniformly random
  // phase of its round.
  double dropout = 0.0;

  // Phase deadlines. A round with a vanished device waits for the deadline of the phase it
  // vanished in, so these bound a dropout round's time.
  // Forming is short because the server's pace steering admits devices spread over the whole
  // window, so a round's forming lasts about this long whatever the population.
  absl::Duration forming_deadline = absl::Seconds(2);
  absl::Duration key_phase_deadline = absl::Seconds(3);
  absl::Duration masked_input_deadline = absl::Seconds(8);

  uint64_t seed = 1;
  // Worker threads that drive the simulated devices; 0 = 2 x the selected cohort + 4.
  int device_threads = 0;

  // Output: metrics.csv, metrics.json, plot.svg (replaced on each run). Empty = out/sim.
  std::string output_dir;
  bool quiet = false;
  // Abort the whole run if it takes longer (0 = no limit).
  absl::Duration time_limit = absl::ZeroDuration();
};

// The training recipe of a built-in model, picked with sim/fedavg_dry_run (docs/simulation.md).
// main applies it to the flags a user did not give; the SimOptions defaults are the MLP's. The
// CNN trains one local epoch (its rounds cost ~4x the MLP's per epoch) and needs an adaptive
// server optimizer to reach its accuracy within 100 rounds on Dirichlet(0.5) shards.
struct ModelRecipe {
  int rounds = 50;
  int local_epochs = 5;
  double client_lr = 0.1;
  int batch_size = 32;
  std::string optimizer = "fedavg";
  double server_lr = 0.0;  // applied only with the recipe's optimizer
  std::string server_lr_decay = "constant";
};
ModelRecipe DefaultRecipe(const std::string& model);

// The server learning rate the run uses: --server_lr, or 1.0 for fedavg and fedavgm and 0.03 for
// the adaptive optimizers (their steps are about server_lr per coordinate, sign-like, so they
// need a rate far below FedAvg's; 0.03 is where FedAdam does best on the default federation).
double EffectiveServerLr(const SimOptions& options);

// Devices wanted in each round's sum.
int TargetCohortSize(const SimOptions& options);
// Devices selected per round (target x over-selection, rounded up).
int SelectedCohortSize(const SimOptions& options);

// Fewest contributors a round commits with, as the server resolves it.
int MinParticipants(const SimOptions& options);

// The expected dropout rate and correctness bits the task asks the server for (resolving the
// "0 = automatic" defaults). INVALID_ARGUMENT, naming the flags, when no SecAgg+ parameters exist.
absl::StatusOr<double> SecAggDropoutRate(const SimOptions& options);
absl::StatusOr<int> SecAggCorrectnessBits(const SimOptions& options);

// Returns INVALID_ARGUMENT naming the flag (e.g. "--alpha must be > 0, got -1").
absl::Status ValidateSimOptions(const SimOptions& options);

// True when --model names an ONNX file rather than a built-in model.
bool IsOnnxModel(const SimOptions& options);

// The built-in model's graph (mlp, softmax, cnn); unset for an ONNX model, which the server
// imports.
cohort::v1::ModelGraph SimModelGraph(const SimOptions& options);

// The admin API task for this run (options validated). For an ONNX model it has neither graph
// nor initial model: the request carries the file.
cohort::v1::TaskConfig MakeTaskConfig(const SimOptions& options);

// The options as a JSON object, recorded in metrics.json.
std::string OptionsJson(const SimOptions& options);

}  // namespace cohort::sim

#endif  // COHORT_SIM_OPTIONS_H_
