#ifndef COHORT_SERVER_CORE_TASK_CONFIG_H_
#define COHORT_SERVER_CORE_TASK_CONFIG_H_

// Validation of an operator's TaskConfig, with defaults filled in. Every error names the field
// as the operator wrote it, e.g.
//   "config.target_cohort_size must be >= 2, got 0".
//
// Defaults (applied to fields left at zero / unset):
//   over_selection_factor 1.3; min_participants ceil(0.8 * target_cohort_size) (at least 2, or
//   3 with secure aggregation); deadlines forming 60 s, advertise_keys 30 s, share_keys 30 s,
//   masked_input 300 s, unmasking 30 s; training local_epochs 1, batch_size 32, learning_rate
//   0.05; codec encoding QUANTIZED, l2_clip_norm 1.0 when
//   neither it nor quantization_range is set, bits 8, max_example_weight 1000; secagg
//   expected_dropout_rate 0.1, corrupted_fraction 0.05, threat model HONEST_BUT_CURIOUS,
//   security_bits 40, correctness_bits 20; optimizer FEDAVG, learning_rate 1.0 (0.01 for the
//   adaptive kinds), momentum 0.9 (FEDAVGM), beta1 0.9, beta2 0.99, tau 1e-3 (adaptive kinds:
//   codec::ValidateServerOptimizerConfig, which also refuses a kind this build does not know);
//   device_cooldown 1 h when unset (an explicit 0 s turns it off); initial model Glorot-uniform
//   from seed 1 when unset.
//
// deadlines.consistency_check 30 s (semi-malicious tasks).
//
// Secure aggregation parameters must exist for every cohort size a round may start with
// (min_participants to the selection target); the check computes the same table the task's
// rounds use (SecAggParameterTable).
//
// Codes: INVALID_ARGUMENT naming the first bad field. Thread-safe (pure function).

#include <memory>

#include "absl/status/statusor.h"
#include "cohort/v1/admin.pb.h"
#include "secagg/parameter_finder.h"

namespace cohort::server {

absl::StatusOr<cohort::v1::TaskConfig> ValidateTaskConfig(cohort::v1::TaskConfig config);

// Why this server cannot run a task with `secagg` as configured (OK when it can). The
// semi-malicious model is served only with the malicious-server variant: authenticated device
// keys need a key-authenticity verifier (the device CA, --device_ca_file), without which a
// server that lies about who dropped, or invents devices, recovers one device's input
// (docs/secagg.md, "Threat model"). Checked at CreateTask and again before a recovered task
// opens a round. INVALID_ARGUMENT naming config.secagg.threat_model.
absl::Status CheckThreatModelServed(const cohort::v1::SecAggConfig& secagg,
                                    bool key_verifier_configured);

// k and t for every cohort size a task's round may start with; computed once per task (a
// search per grid point), outside any lock. INVALID_ARGUMENT when some size admits none.
absl::StatusOr<std::shared_ptr<const secagg::ParameterTable>> SecAggParameterTable(
    const cohort::v1::TaskConfig& config);

// Number of float32 parameters of a layout (product of each tensor's shape, summed).
int64_t ParameterCount(const cohort::v1::ModelLayout& layout);

// Devices a round selects: ceil(target_cohort_size * over_selection_factor).
int32_t SelectionTarget(const cohort::v1::TaskConfig& config);

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_TASK_CONFIG_H_
