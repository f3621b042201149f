#ifndef COHORT_SERVER_STORE_STORE_H_
#define COHORT_SERVER_STORE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/model.pb.h"
#include "cohort/v1/optimizer.pb.h"

namespace cohort::server {

// One device's part in one round, kept for audit and for the sampler's cool-down.
struct ParticipationRecord {
  std::string task_id;
  int64_t round_number = 0;
  // Salted SHA-256 of the device id, hex; the raw id is never stored.
  std::string device_pseudonym;
  int32_t participant_index = 0;
  // The last phase the device completed, and whether its input reached the sum.
  cohort::v1::RoundPhase last_completed_phase = cohort::v1::ROUND_PHASE_UNSPECIFIED;
  bool contributed = false;
  absl::Time selected_at;
};

struct AuditEntry {
  absl::Time time;
  // Who: "admin" or a client-certificate subject.
  std::string actor;
  // The admin RPC, e.g. "CreateTask".
  std::string action;
  std::string task_id;
  std::string detail;
};

// Durable state of the coordinator: tasks, model versions, rounds, participation and the audit
// log. The core owns this interface; `InMemoryStore` is the embedded default and
// `PostgresStore` the production one. Both pass tests/store_contract_test.
//
// Error codes: NOT_FOUND for an unknown task, round or model version; ALREADY_EXISTS for a
// duplicate task id or model version; FAILED_PRECONDITION when a written task breaks a privacy
// rule (docs/privacy.md): its epsilon_spent exceeds its epsilon_budget, or it has fewer charged
// rounds or less epsilon spent than the stored task (a stale write that would forget spending);
// UNAVAILABLE when the backing database cannot be reached (the caller may retry); INTERNAL for
// anything else.
//
// A DP task's privacy (Task.privacy) is part of the task, so CommitRound stores what a round
// spent in the same transaction as its model; a charged round (RoundSummary.privacy.charged)
// is also kept in an append-only ledger (PostgreSQL: privacy_ledger).
//
// Implementations are thread-safe.
class Store {
 public:
  virtual ~Store() = default;

  virtual absl::Status CreateTask(const cohort::v1::Task& task,
                                  const cohort::v1::Model& initial_model) = 0;
  // Replaces the stored task (state, counters, config) by task_id.
  virtual absl::Status UpdateTask(const cohort::v1::Task& task) = 0;
  virtual absl::StatusOr<cohort::v1::Task> GetTask(const std::string& task_id) = 0;
  virtual absl::StatusOr<std::vector<cohort::v1::Task>> ListTasks() = 0;

  // version 0 is the initial model. `GetLatestModel` returns the highest committed version.
  virtual absl::StatusOr<cohort::v1::Model> GetModel(const std::string& task_id,
                                                     int64_t version) = 0;
  virtual absl::StatusOr<cohort::v1::Model> GetLatestModel(const std::string& task_id) = 0;

  // Inserts or replaces the round's summary (keyed by task id and round number); for rounds in
  // flight and for failed ones.
  virtual absl::Status PutRound(const cohort::v1::RoundSummary& round) = 0;
  // Atomically: stores `new_model`, the server optimizer's state after the step that made it
  // (kept with the model's version), the round's final summary and the updated task. Either all
  // four are durable when this returns OK, or none is.
  virtual absl::Status CommitRound(const cohort::v1::RoundSummary& round,
                                   const cohort::v1::Model& new_model,
                                   const cohort::v1::Task& task,
                                   const cohort::v1::ServerOptimizerState& optimizer_state) = 0;
  // The optimizer state CommitRound stored with model `version`. NOT_FOUND for an unknown task
  // and for a version committed without one (the initial model, or a build that kept none).
  virtual absl::StatusOr<cohort::v1::ServerOptimizerState> GetOptimizerState(
      const std::string& task_id, int64_t version) = 0;
  // Newest first: rounds with round_number < before_round (0 = no bound), at most `limit`.
  virtual absl::StatusOr<std::vector<cohort::v1::RoundSummary>> ListRounds(
      const std::string& task_id, int64_t before_round, int32_t limit) = 0;
  // Marks every round not yet COMMITTED or FAILED as FAILED with `reason`, and counts each in
  // its task as a round run and failed (rounds_failed + 1; rounds_remaining - 1, not below 0,
  // unless the task is continuous), atomically; returns how many. Called once at start-up for
  // crash recovery: a second call finds nothing and changes nothing.
  virtual absl::StatusOr<int> FailUnfinishedRounds(const std::string& reason) = 0;

  virtual absl::Status RecordParticipation(const std::vector<ParticipationRecord>& records) = 0;
  // When the device was last selected for the task, if ever.
  virtual absl::StatusOr<std::optional<absl::Time>> LastSelected(
      const std::string& task_id, const std::string& device_pseudonym) = 0;

  // Representative inputs of a task for int8 calibration of its inference artifacts, opaque
  // bytes (little-endian float32 examples); replaces what was attached before.
  virtual absl::Status PutCalibrationData(const std::string& task_id,
                                          const std::string& examples) = 0;
  // The attached calibration data, empty when there is none.
  virtual absl::StatusOr<std::string> GetCalibrationData(const std::string& task_id) = 0;

  virtual absl::Status AppendAudit(const AuditEntry& entry) = 0;
  virtual absl::StatusOr<std::vector<AuditEntry>> ListAudit(int32_t limit) = 0;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_STORE_STORE_H_
