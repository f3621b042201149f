#ifndef COHORT_SERVER_CORE_TASK_RUNNER_H_
#define COHORT_SERVER_CORE_TASK_RUNNER_H_

// Runs the rounds of one task: opens a round while rounds are requested (a count, or without end
// when continuous) and the task is not paused, drives it with the clock's time, commits it
// atomically through Store::CommitRound, or records it as failed with the model unchanged.
// The server optimizer's state (FedAvgM's velocity, the adaptive kinds' moments) is committed
// with each model version and adopted only once the commit landed; a runner created for a
// stored task resumes from the state stored with its latest model.
//
// Task lifecycle (SetState lists the legal transitions):
//   IDLE    -> RUNNING (StartRounds)
//   RUNNING -> PAUSED (PauseTask) | IDLE (requested rounds done)
//   PAUSED  -> RUNNING (ResumeTask with rounds left) | IDLE (ResumeTask with none left)
// Pausing stops opening rounds; the round in flight finishes. A requested round counts as run
// whether it commits or fails.
//
// Secure aggregation: the task's parameter table (SecAggParameterTable) is computed once, in
// Create, so opening a round never searches for parameters. Devices the task's rounds exclude
// (their share bundles did not open) are recorded in its OffenderRegistry; CoolingOffUntil
// tells the check-in path to refuse a repeat offender for a while.
//
// A task whose stored configuration this server refuses (CheckThreatModelServed) or whose
// parameters cannot be computed is paused and never runs.
//
// Codes: StartRounds INVALID_ARGUMENT for a count < 1 without continuous; FAILED_PRECONDITION
// for Abort without a round in flight, and for StartRounds and Resume of a task whose stored
// configuration this server refuses (CheckThreatModelServed; such a task is paused, never run)
// or whose privacy budget is exhausted; store errors pass through (UNAVAILABLE, INTERNAL).
//
// DP tasks (server/core/dp_task.h): a round opens only if its worst case fits in the budget;
// otherwise the task is PAUSED and task.privacy says why. A round is charged when the server
// has seen its noisy sum: in the commit's transaction, or (failure after the sum was decoded)
// with the failed round.
// This class is not thread-safe (the Coordinator serializes calls).

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "codec/server_optimizer.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/model.pb.h"
#include "secagg/key_authenticity.h"
#include "secagg/parameter_finder.h"
#include "secagg/random_source.h"
#include "server/core/aggregation.h"
#include "server/core/inference_publisher.h"
#include "server/core/observer.h"
#include "server/core/offenders.h"
#include "server/core/pace_steering.h"
#include "server/core/round.h"
#include "server/core/upload_budget.h"
#include "server/store/store.h"

namespace cohort::server {

class TaskRunner {
 public:
  struct Services {
    Store* store = nullptr;                                         // required
    CoordinatorObserver* observer = nullptr;                        // optional
    secagg::RandomSource* random = nullptr;                         // required
    const secagg::KeyAuthenticityVerifier* key_verifier = nullptr;  // semi-malicious tasks
    OffenderPolicy offenders;
    UploadBudget* upload_budget = nullptr;  // the server's; nullptr = no bound
  };
  // `task` and `latest_model` as stored; `last_round_number` the highest stored round number;
  // `optimizer_state` the state stored with `latest_model` (nullopt: none, start afresh). None of
  // the services is owned. Slow with secure aggregation (the parameter search): call it outside
  // the coordinator's lock. INVALID_ARGUMENT for an optimizer config or a stored state this build
  // cannot use.
  static absl::StatusOr<std::unique_ptr<TaskRunner>> Create(
      cohort::v1::Task task, cohort::v1::Model latest_model, int64_t last_round_number,
      std::optional<cohort::v1::ServerOptimizerState> optimizer_state, Services services);

  const std::string& task_id() const { return task_.task_id(); }
  const cohort::v1::TaskConfig& config() const { return task_.config(); }
  // The task with its current round's summary.
  cohort::v1::Task task() const;
  // A KIND_CURRENT_STATE event: the task's state and its round in flight, if any.
  cohort::v1::RoundEvent CurrentState(absl::Time now) const;
  std::shared_ptr<const cohort::v1::Model> model() const { return model_; }

  // `evaluation_only`: `count` rounds that evaluate the latest model without training; they run
  // before any training round still queued.
  absl::Status StartRounds(int64_t count, bool continuous, bool evaluation_only, absl::Time now);
  absl::Status Pause(absl::Time now);
  absl::Status Resume(absl::Time now);
  absl::Status AbortRound(const std::string& reason, absl::Time now);

  // The round in flight (nullptr if none).
  Round* current() { return current_.get(); }
  // The round in flight or one of the last few ended rounds.
  Round* FindRound(const std::string& round_id);
  // Time until a round is expected to be forming again (zero if one forms now).
  absl::Duration UntilNextForming(absl::Time now) const;

  // Advances the round in flight to `now`, commits or fails it, opens the next one, persists
  // and reports what changed. Call after every device call of this task and on every tick.
  void Sync(absl::Time now);

  ArrivalRate& arrivals() { return arrivals_; }
  // Counts a check-in of `pseudonym` in arrivals() unless that device was counted within the
  // estimate's time constant: a device that repeats its check-in, or ignores its retry window,
  // is one device of supply, and cannot thin everyone else's admission.
  void ObserveArrival(const std::string& pseudonym, absl::Time now);
  // The task's inference artifacts, republished after each commit.
  InferencePublisher& publisher() { return publisher_; }

  // When a device this task excluded repeatedly may take part again, if it is cooling off.
  std::optional<absl::Time> CoolingOffUntil(const std::string& pseudonym, absl::Time now) const {
    return offenders_.CoolingOffUntil(pseudonym, now);
  }

 private:
  TaskRunner(cohort::v1::Task task, std::shared_ptr<const cohort::v1::Model> model,
             int64_t last_round_number, Services services,
             std::unique_ptr<codec::ServerOptimizer> optimizer,
             codec::OptimizerState optimizer_state,
             std::shared_ptr<const secagg::ParameterTable> parameters, absl::Status refusal);
  void SetState(cohort::v1::TaskState next, absl::Time now);
  void MaybeOpenRound(absl::Time now);
  void Commit(absl::Time now);
  // Commits an evaluation-only round: its summary and the task, no model version.
  void CommitEvaluation(absl::Time now);
  bool MoreRoundsWanted() const;
  void EndRound(absl::Time now);
  void Emit(cohort::v1::RoundEvent::Kind kind, absl::Time now, const std::string& message);
  cohort::v1::RoundEvent MakeEvent(cohort::v1::RoundEvent::Kind kind, absl::Time now,
                                   const std::string& message, const Round* round) const;
  void Persist();
  // Writes back what a store outage kept from the store (ended rounds, the task) and learns
  // whether a commit whose outcome was unknown landed after all. False while the store is
  // still failing: no new round opens until the store has caught up.
  bool CatchUpWithStore();
  // FAILED_PRECONDITION naming the task when its configuration is refused, or when its privacy
  // budget is exhausted.
  absl::Status CheckServed() const;
  // DP: charges the round in flight, whose noisy sum the server has seen, to `task` and to the
  // round's summary (docs/privacy.md#accounting).
  cohort::v1::RoundPrivacy ChargeCurrentRound(const AggregateResult* result,
                                              cohort::v1::Task* task);
  void ReportPrivacy();

  cohort::v1::Task task_;
  std::shared_ptr<const cohort::v1::Model> model_;
  int64_t last_round_number_;
  Store* store_;
  CoordinatorObserver* observer_;
  secagg::RandomSource* random_;
  const secagg::KeyAuthenticityVerifier* key_verifier_;
  UploadBudget* upload_budget_;
  std::shared_ptr<const secagg::ParameterTable> parameters_;  // null without secure aggregation
  OffenderRegistry offenders_;
  std::unique_ptr<codec::ServerOptimizer> optimizer_;  // keeps FedAvgM momentum across rounds
  // The state after the step that made model_ (what the store holds with model_'s version).
  codec::OptimizerState optimizer_state_;
  std::unique_ptr<Round> current_;
  std::deque<std::unique_ptr<Round>> recent_;  // ended rounds, newest last
  ArrivalRate arrivals_;
  absl::flat_hash_map<std::string, absl::Time> last_arrival_;  // pseudonym -> when counted
  size_t last_arrival_swept_size_ = 0;
  InferencePublisher publisher_;
  std::deque<cohort::v1::RoundSummary> unsaved_rounds_;
  bool task_unsaved_ = false;
  // A round whose CommitRound failed and whose outcome the store could not tell at once: the
  // commit may have landed with its acknowledgement lost, so the store's latest model is checked
  // before the next round opens. Its committed summary and the optimizer state it wrote.
  struct UncertainCommit {
    cohort::v1::RoundSummary summary;
    codec::OptimizerState optimizer_state;
  };
  std::optional<UncertainCommit> uncertain_commit_;
  // Why this build refuses to run the task's configuration (OK: it runs).
  absl::Status refusal_;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_TASK_RUNNER_H_
