#ifndef COHORT_SERVER_CORE_DP_TASK_H_
#define COHORT_SERVER_CORE_DP_TASK_H_

// A task's differential privacy on the server (docs/privacy.md): validating and resolving
// TaskConfig.dp at CreateTask, the parameters of each round, and the budget: every round is
// accounted with the fewest contributors it may commit with (min_participants), a round is only
// opened if even its worst case (all selected devices admitted, the coarsest scale) fits in the
// budget, and what it spent is charged once the server has seen the noisy sum.
//
//   COHORT_RETURN_IF_ERROR(ValidateDpConfig(&config));             // at CreateTask
//   if (absl::Status s = CheckNextRound(config, d, task.mutable_privacy()); !s.ok()) { pause }
//   COHORT_ASSIGN_OR_RETURN(DpParams dp, ResolveRoundDp(config, d, clip, admitted, random));
//   RoundPrivacy spent = ChargeRound(config, dp, result, task.mutable_privacy());
//
// Codes: INVALID_ARGUMENT naming the field and the numbers (a budget one round already exceeds,
// a target the ring cannot reach, a mechanism the rest of the config cannot serve);
// FAILED_PRECONDITION from CheckNextRound when the next round would overspend (the message is
// also stored as the budget's stop_reason). Thread-safe (pure functions).

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codec/aggregate_decoder.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/plan.pb.h"
#include "privacy/mechanism.h"
#include "secagg/random_source.h"

namespace cohort::server {

bool DpEnabled(const cohort::v1::TaskConfig& config);

// Fills DP defaults, checks the mechanism against secure aggregation and the codec, calibrates
// the noise multiplier for a target epsilon, and refuses budgets the first round already
// breaks. A no-op for tasks without DP.
absl::Status ValidateDpConfig(cohort::v1::TaskConfig* config);

// The accountant's state of a new DP task.
cohort::v1::PrivacyBudget InitialPrivacyBudget(const cohort::v1::TaskConfig& config);

// The spec of a round with at most `max_contributors` at clip norm `clip_norm`.
privacy::DpSpec DpSpecFor(const cohort::v1::TaskConfig& config, int64_t num_parameters,
                          double clip_norm, int64_t max_contributors);

// OK if the worst case of the next round fits in the budget (and records its epsilon);
// otherwise marks the budget exhausted with the reason and returns FAILED_PRECONDITION.
absl::Status CheckNextRound(const cohort::v1::TaskConfig& config, int64_t num_parameters,
                            cohort::v1::PrivacyBudget* budget);

// The round's DP parameters once forming closed with `admitted` devices; a fresh rotation seed.
absl::StatusOr<cohort::v1::DpParams> ResolveRoundDp(const cohort::v1::TaskConfig& config,
                                                    int64_t num_parameters, double clip_norm,
                                                    int32_t admitted, secagg::RandomSource& random);

// What a round's parameters say about it before it is charged (mechanism, noise, clip).
cohort::v1::RoundPrivacy DescribeRound(const cohort::v1::DpParams& dp);

// Charges a round whose noisy sum the server has seen. `result` (may be null) carries the
// unclipped count for adaptive clipping, which moves budget->clip_norm for the next round.
cohort::v1::RoundPrivacy ChargeRound(const cohort::v1::TaskConfig& config,
                                     const cohort::v1::DpParams& dp,
                                     const codec::AggregateResult* result,
                                     cohort::v1::PrivacyBudget* budget);

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_DP_TASK_H_
