// cohort-sim: a simulated federation over real gRPC on loopback.
//
//   cohort-sim                       # the README run: 100 devices, 50 rounds, SecAgg+, 8-bit
//   cohort-sim --no-secagg --float32 # the same federation in plain float FedAvg
//   cohort-sim --dropout=0.2         # a fifth of the selected devices vanish mid-round
//
// Exit codes: 0 when every round ran (whatever the accuracy), 2 for bad flags, 1 for a failure
// (data missing or corrupt, server unreachable, time limit).

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/logging.h"
#include "cli/conventions.h"
#include "cli/grpc_logging.h"
#include "google/protobuf/text_format.h"
#include "sim/options.h"
#include "sim/simulation.h"

namespace {

constexpr int kExitFailure = 1;
using cohort::cli::kExitUsage;

struct Flags {
  cohort::sim::SimOptions options;
  std::string admin_token_file;
  bool float32 = false;
  bool print_task_config = false;
  double forming_s = absl::ToDoubleSeconds(cohort::sim::SimOptions().forming_deadline);
  double key_phase_s = absl::ToDoubleSeconds(cohort::sim::SimOptions().key_phase_deadline);
  double masked_input_s = absl::ToDoubleSeconds(cohort::sim::SimOptions().masked_input_deadline);
  double time_limit_s = 0;
  std::string log_level = "error";
  std::string log_format;
};

void AddFlags(CLI::App& app, Flags& f) {
  cohort::sim::SimOptions& o = f.options;
  app.add_option("--devices", o.devices, "Simulated devices (each holds one data shard)")
      ->capture_default_str();
  app.add_option("--rounds", o.rounds, "Rounds to run")->capture_default_str();
  app.add_option("--cohort_fraction", o.cohort_fraction,
                 "Target devices per round as a fraction of --devices")
      ->capture_default_str();
  app.add_option("--cohort_size", o.cohort_size,
                 "Target devices per round (overrides --cohort_fraction when > 0)")
      ->capture_default_str();
  app.add_option("--over_selection", o.over_selection,
                 "Devices selected = ceil(target x this); the round needs only the target")
      ->capture_default_str();
  app.add_option("--min_participants", o.min_participants,
                 "Fewest contributors a round commits with (0 = server default, 80% of target)")
      ->capture_default_str();
  app.add_option("--partition", o.partition, "Data partition: dirichlet (label skew) or iid")
      ->check(CLI::IsMember({"dirichlet", "iid"}))
      ->capture_default_str();
  app.add_option("--alpha", o.alpha,
                 "Dirichlet concentration: small = skewed labels per device, large = near IID")
      ->capture_default_str();
  app.add_option("--data_dir", o.data_dir,
                 "Directory of the Fashion-MNIST IDX files (Debian: dataset-fashion-mnist)")
      ->capture_default_str();
  app.add_option("--model", o.model,
                 "mlp (one hidden ReLU layer), softmax (regression), cnn (two conv + pool "
                 "stages and a dense hidden layer, 56,714 parameters; its own defaults: 100 "
                 "rounds, 1 local epoch of batch 16, fedadam at server learning rate 0.02 "
                 "with cosine decay to a tenth) or the path of an .onnx file ([N,1,28,28] or "
                 "[N,784] in, 10 classes out)")
      ->capture_default_str();
  app.add_option("--hidden", o.hidden, "MLP hidden width")->capture_default_str();
  app.add_option("--holdout", o.holdout,
                 "Fraction of each device's examples held out for federated evaluation "
                 "(0 = no federated evaluation)")
      ->capture_default_str();
  app.add_option("--local_epochs", o.local_epochs, "Local epochs per round")
      ->capture_default_str();
  app.add_option("--batch_size", o.batch_size, "Local mini-batch size")->capture_default_str();
  app.add_option("--client_lr", o.client_lr, "Local SGD learning rate")->capture_default_str();
  app.add_option("--server_lr", o.server_lr,
                 "Server learning rate (0 = 1.0 for fedavg and fedavgm, 0.03 for the adaptive "
                 "optimizers)")
      ->capture_default_str();
  app.add_option("--optimizer", o.optimizer,
                 "Server optimizer: fedavg, fedavgm, or adaptive (Reddi et al. 2021) fedadagrad, "
                 "fedadam, fedyogi")
      ->check(CLI::IsMember({"fedavg", "fedavgm", "fedadagrad", "fedadam", "fedyogi"}))
      ->capture_default_str();
  app.add_option("--server_momentum", o.server_momentum, "FedAvgM server momentum")
      ->capture_default_str();
  app.add_option("--server_lr_decay", o.server_lr_decay,
                 "Server learning-rate decay over --rounds: constant, cosine or linear")
      ->check(CLI::IsMember({"constant", "cosine", "linear"}))
      ->capture_default_str();
  app.add_option("--server_lr_final_fraction", o.server_lr_final_fraction,
                 "With a decay: the last round's server learning rate as a fraction of the first")
      ->capture_default_str();
  app.add_option("--server_tau", o.server_tau,
                 "Adaptivity tau of the adaptive optimizers (0 = the server's 1e-3)")
      ->capture_default_str();
  app.add_flag("--secagg,!--no-secagg", o.secagg,
               "Secure aggregation (SecAgg+) on or off (default on)");
  app.add_flag("--on_device_report,!--no-on_device_report", o.on_device_report,
               "Attach 500 training images as calibration data; at the end fetch the published "
               "int8 and float32 inference models through a device's SDK, save them to the output "
               "directory and report their test accuracy on XNNPACK (default on)");
  app.add_flag("--float32", f.float32,
               "Upload plain weighted float32 updates instead of quantized ones (needs "
               "--no-secagg): the plain FedAvg baseline");
  app.add_option("--bits", o.bits, "Quantization bits per coordinate (2..16)")
      ->capture_default_str();
  app.add_option("--clip", o.clip, "L2 clip norm C of an update; quantization covers [-C, C]")
      ->capture_default_str();
  app.add_option("--max_example_weight", o.max_example_weight,
                 "Cap on a device's FedAvg weight (its example count)")
      ->capture_default_str();
  app.add_option("--secagg_dropout_rate", o.secagg_dropout_rate,
                 "Dropout rate the server sizes SecAgg+ for (0 = max(0.1, --dropout))")
      ->capture_default_str();
  app.add_option("--secagg_correctness_bits", o.secagg_correctness_bits,
                 "SecAgg+ round-failure bound 2^-bits (0 = strongest the cohort size allows, "
                 "<= 20)")
      ->capture_default_str();
  app.add_option("--dp", o.dp,
                 "Differential privacy: none, ddg (distributed discrete Gaussian), skellam "
                 "(both under SecAgg), central (with --no-secagg --float32)")
      ->capture_default_str();
  app.add_option("--dp_noise_multiplier", o.dp_noise_multiplier,
                 "Total noise stddev / clip norm at the fewest contributors (needs --dp_budget)");
  app.add_option("--dp_target_epsilon", o.dp_target_epsilon,
                 "Calibrate the noise so that --rounds rounds spend this epsilon");
  app.add_option("--dp_delta", o.dp_delta, "delta of the (epsilon, delta) guarantee")
      ->capture_default_str();
  app.add_option("--dp_budget", o.dp_budget, "Total epsilon; rounds stop before exceeding it");
  app.add_option("--dp_bits", o.dp_bits, "Ring bits per coordinate of a distributed-DP upload")
      ->capture_default_str();
  app.add_flag("--dp_adaptive_clipping", o.dp_adaptive_clipping,
               "Adapt the clip norm to the median update norm (Andrew et al. 2021)");
  app.add_option("--dp_weighting", o.dp_weighting, "DP weights: uniform or capped")
      ->capture_default_str();
  app.add_option("--dropout", o.dropout,
                 "Probability that a selected device vanishes at a random phase of its round")
      ->capture_default_str();
  app.add_option("--forming_timeout", f.forming_s, "Seconds a round gathers check-ins")
      ->capture_default_str();
  app.add_option("--key_phase_timeout", f.key_phase_s,
                 "Deadline in seconds of the advertise, share and unmasking phases")
      ->capture_default_str();
  app.add_option("--masked_input_timeout", f.masked_input_s,
                 "Deadline in seconds of download + training + upload")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of the partition, initial model, training and dropout")
      ->capture_default_str();
  app.add_option("--output_dir", o.output_dir,
                 "Where metrics.csv, metrics.json and plot.svg go (default out/sim)");
  app.add_flag("--quiet,-q", o.quiet, "No per-round lines; only the summary");
  app.add_option("--device_threads", o.device_threads,
                 "Threads driving the devices (0 = 2 x selected per round + 4)")
      ->capture_default_str();
  app.add_option("--time_limit", f.time_limit_s, "Abort after this many seconds (0 = none)")
      ->capture_default_str();
  app.add_option("--server", o.server,
                 "Device service host:port of a running cohort-server (default: start one "
                 "in-process with an in-memory store)");
  app.add_option("--admin_server", o.admin_server, "Admin service host:port (with --server)");
  app.add_option("--task", o.task_id,
                 "Join this existing task instead of creating one (with --server): its devices "
                 "check in to the task's population, and the run ends after --rounds more rounds");
  app.add_option("--admin_token", o.admin_token, "Admin bearer token (with --server)");
  app.add_option("--tls_ca", o.tls_ca_file,
                 "PEM CA of the server's certificate: TLS to --server and --admin_server (needed "
                 "for any address that is not loopback)");
  app.add_option("--admin_token_file", f.admin_token_file,
                 "File whose first line is the admin token (with --server)");
  app.add_option("--population", o.population, "Population name of the task")
      ->capture_default_str();
  app.add_flag("--print_task_config", f.print_task_config,
               "Print the TaskConfig this run would create (protobuf text, for cohortctl "
               "create-task) and exit");
  app.add_option("--log_level", f.log_level,
                 "Server and SDK log level: trace, debug, info, warn, error, off")
      ->capture_default_str();
  app.add_option("--log_format", f.log_format, "Log lines as text (default) or json");
}

// The model's recipe for every training flag the command line left out.
void ApplyModelRecipe(const CLI::App& app, cohort::sim::SimOptions& o) {
  const cohort::sim::ModelRecipe recipe = cohort::sim::DefaultRecipe(o.model);
  if (app.count("--rounds") == 0) o.rounds = recipe.rounds;
  if (app.count("--local_epochs") == 0) o.local_epochs = recipe.local_epochs;
  if (app.count("--client_lr") == 0) o.client_lr = recipe.client_lr;
  if (app.count("--batch_size") == 0) o.batch_size = recipe.batch_size;
  // The recipe's server rate and its decay belong to the recipe's optimizer.
  if (app.count("--optimizer") == 0) {
    o.optimizer = recipe.optimizer;
    if (app.count("--server_lr") == 0) o.server_lr = recipe.server_lr;
    if (app.count("--server_lr_decay") == 0) o.server_lr_decay = recipe.server_lr_decay;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "cohort-sim: runs a federation of simulated devices (client SDK + Eigen trainer over "
      "Fashion-MNIST shards) against a cohort-server over real gRPC on loopback, and reports "
      "test accuracy and bytes per round."};
  Flags flags;
  AddFlags(app, flags);
  cohort::cli::AddVersionFlag(app, "cohort-sim");
  if (std::optional<int> exit_code = cohort::cli::Parse(app, "cohort-sim", argc, argv)) {
    return *exit_code;
  }
  cohort::sim::SimOptions& options = flags.options;
  ApplyModelRecipe(app, options);
  options.quantize = !flags.float32;
  options.forming_deadline = absl::Seconds(flags.forming_s);
  options.key_phase_deadline = absl::Seconds(flags.key_phase_s);
  options.masked_input_deadline = absl::Seconds(flags.masked_input_s);
  options.time_limit = absl::Seconds(flags.time_limit_s);
  if (!flags.admin_token_file.empty()) {
    std::ifstream in(flags.admin_token_file);
    if (!in || !std::getline(in, options.admin_token)) {
      std::cerr << "cohort-sim: --admin_token_file: cannot read " << flags.admin_token_file
                << "\n";
      return kExitUsage;
    }
    options.admin_token = std::string(absl::StripAsciiWhitespace(options.admin_token));
  }
  if (absl::Status valid = cohort::sim::ValidateSimOptions(options); !valid.ok()) {
    std::cerr << "cohort-sim: " << valid.message() << "\n";
    return kExitUsage;
  }
  if (flags.print_task_config) {
    std::string text;
    google::protobuf::TextFormat::PrintToString(cohort::sim::MakeTaskConfig(options), &text);
    std::cout << text;
    return 0;
  }
  absl::StatusOr<cohort::LogFormat> log_format = cohort::ParseLogFormat(flags.log_format);
  if (!log_format.ok()) {
    std::cerr << "cohort-sim: " << log_format.status().message() << "\n";
    return kExitUsage;
  }
  if (absl::Status logging = cohort::InitLogging(flags.log_level, *log_format); !logging.ok()) {
    std::cerr << "cohort-sim: --log_level: " << logging.message() << "\n";
    return kExitUsage;
  }
  cohort::cli::RouteGrpcLogsToLogger();

  if (!options.quiet) {
    std::printf("cohort-sim: loading Fashion-MNIST from %s and starting %d devices...\n",
                options.data_dir.c_str(), options.devices);
    std::fflush(stdout);
  }
  auto simulation = cohort::sim::Simulation::Create(options);
  if (!simulation.ok()) {
    std::cerr << "cohort-sim: " << simulation.status().ToString() << "\n";
    return simulation.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                                            : kExitFailure;
  }
  absl::StatusOr<cohort::sim::SimulationResult> result = (*simulation)->Run();
  if (!result.ok()) {
    std::cerr << "cohort-sim: " << result.status().ToString() << "\n";
    return kExitFailure;
  }
  std::printf("%s", cohort::sim::FormatSummary(options, *result).c_str());
  return 0;
}
