#ifndef COHORT_SIM_SIMULATION_H_
#define COHORT_SIM_SIMULATION_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/inference_report.h"
#include "sim/metrics.h"
#include "sim/options.h"

namespace cohort::sim {

struct SimulationResult {
  std::vector<RoundMetrics> rounds;
  int64_t rounds_committed = 0;
  int64_t rounds_failed = 0;
  // Test accuracy of the last committed model (0 when none committed).
  double final_accuracy = 0.0;
  double final_loss = 0.0;
  double wall_seconds = 0.0;
  // Means over committed rounds.
  double mean_round_seconds = 0.0;
  double mean_bytes_up_per_device = 0.0;
  double mean_bytes_down_per_device = 0.0;
  // Selected devices that vanished on purpose (dropout injection), over the run.
  int64_t injected_dropouts = 0;
  std::string output_dir;
  std::string csv_path;
  std::string json_path;
  std::string svg_path;
  // The inference artifacts of the last committed version, fetched and scored as a device runs
  // them (with --on_device_report).
  std::optional<InferenceReport> on_device;
};

// One simulated federation: Fashion-MNIST split over `devices` simulated phones, each running the
// client SDK's Client with an EigenTrainer over its own shard, against a cohort-server that this
// class starts in-process (or reaches at options.server), over real gRPC on loopback. The
// simulation also plays the evaluator: it downloads every committed model version through the
// admin API and scores it on the 10k test set, which no device holds.
//
//   COHORT_ASSIGN_OR_RETURN(auto sim, Simulation::Create(options));
//   COHORT_ASSIGN_OR_RETURN(SimulationResult result, sim->Run());
//
// This class is not thread-safe; Run is called once.
class Simulation {
 public:
  // Loads and partitions the data, starts or connects to the server, creates the task and the
  // devices. INVALID_ARGUMENT for bad options; NOT_FOUND / DATA_LOSS from the data loader;
  // UNAVAILABLE when the server cannot be started or reached; the admin API's error otherwise.
  static absl::StatusOr<std::unique_ptr<Simulation>> Create(SimOptions options);
  virtual ~Simulation() = default;

  // Runs options.rounds rounds, printing a line per round unless quiet, writing metrics.csv,
  // metrics.json and plot.svg into the output directory after every round. DEADLINE_EXCEEDED
  // past options.time_limit or when no round ends for 10 minutes.
  virtual absl::StatusOr<SimulationResult> Run() = 0;
};

// The closing lines: final accuracy, rounds, mean round time and bytes, output files.
std::string FormatSummary(const SimOptions& options, const SimulationResult& result);

}  // namespace cohort::sim

#endif  // COHORT_SIM_SIMULATION_H_
