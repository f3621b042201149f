#ifndef COHORT_SIM_METRICS_H_
#define COHORT_SIM_METRICS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace cohort::sim {

// What cohort-sim records about one round, as a person and a script see it.
struct RoundMetrics {
  int64_t round = 0;
  // The model version the round committed (0 when it failed).
  int64_t model_version = 0;
  bool committed = false;
  std::string failure_reason;
  // Devices selected into the round (the cohort, with over-selection) and devices whose update
  // made it into the sum.
  int32_t cohort = 0;
  int32_t survivors = 0;
  int32_t dropouts = 0;
  // The global model after the round, evaluated on the held-out test set.
  double test_accuracy = 0.0;
  double test_loss = 0.0;
  // Federated evaluation: the model the round started from (version model_version - 1), on the
  // cohort's held-out examples, summed by the round (-1 / 0 when the round did not evaluate).
  double federated_accuracy = -1.0;
  double federated_loss = -1.0;
  int64_t federated_examples = 0;
  // Mean local training loss reported by the devices (-1 when unknown).
  double train_loss = -1.0;
  // Bytes over the device API, both directions, all devices of the round (protobuf payload
  // sizes as the server counts them), and per selected device.
  int64_t bytes_up = 0;
  int64_t bytes_down = 0;
  double bytes_up_per_device = 0.0;
  double bytes_down_per_device = 0.0;
  // Wall time from the round's start to its commit (server timestamps).
  double round_seconds = 0.0;
  // DP rounds: the task's epsilon after the round (-1 without DP), and the ring bits of each
  // uploaded coordinate (0 without distributed DP).
  double epsilon_spent = -1.0;
  int32_t dp_bits = 0;
};

// The line printed per round, e.g.
// "round  12/50  cohort 13  survivors 13  acc 0.8123  loss 0.5123  up 1.2 MiB  down 2.4 MiB  3.1 s"
std::string FormatRoundLine(const RoundMetrics& m, int64_t total_rounds);

// "1.2 MiB", "834 KiB", "12 B".
std::string FormatBytes(double bytes);

std::string MetricsCsv(const std::vector<RoundMetrics>& rounds);
std::string MetricsJson(const std::vector<RoundMetrics>& rounds, const std::string& config_json);

// Writes `contents` to `path` (replacing it). INTERNAL naming the path on failure.
absl::Status WriteFile(const std::string& path, const std::string& contents);

// JSON string literal with escapes.
std::string JsonString(const std::string& s);

}  // namespace cohort::sim

#endif  // COHORT_SIM_METRICS_H_
