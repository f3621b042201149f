#ifndef COHORT_SERVER_STORE_TESTING_FAULT_INJECTING_STORE_H_
#define COHORT_SERVER_STORE_TESTING_FAULT_INJECTING_STORE_H_

// A Store that forwards every call to a real one (InMemoryStore by default) and fails calls when
// told to, so that tests of the core see the production store's behaviour, plus the faults a
// database gives:
//   - CommitFault::kRefused: CommitRound returns the status and writes nothing (the transaction
//     was rolled back, or the database was unreachable).
//   - CommitFault::kAckLost: CommitRound writes through, then returns the status (the
//     transaction committed, the acknowledgement was lost on the way back).
//   - CommitFault::kAckLostThenOutage: as kAckLost, and the store then stays unreachable (every
//     call fails with the status) until FailAll(OkStatus()).
//   - FailAll(status): every call returns the status without reaching the inner store (an
//     outage); FailAll(OkStatus()) ends it.
// It records what it forwarded: the mutating calls in order, the participation records, and
// how many commits landed. This class is thread-safe.
//
//   FaultInjectingStore store;
//   store.SetCommitFault(CommitFault::kAckLost, absl::UnavailableError("connection reset"));

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/store/store.h"

namespace cohort::server::test_util {

enum class CommitFault { kNone, kRefused, kAckLost, kAckLostThenOutage };

class FaultInjectingStore : public Store {
 public:
  FaultInjectingStore();
  explicit FaultInjectingStore(std::unique_ptr<Store> inner);

  // Applies to every later CommitRound until changed; kNone clears it.
  void SetCommitFault(CommitFault fault, absl::Status status = absl::OkStatus());
  void FailAll(absl::Status status);

  // Mutating calls forwarded to the inner store, oldest first, by method name ("CommitRound",
  // "PutRound", "UpdateTask", ...). Refused calls are not listed.
  std::vector<std::string> writes() const;
  // The RoundSummary phase each forwarded PutRound carried, oldest first.
  std::vector<cohort::v1::RoundPhase> put_round_phases() const;
  std::vector<ParticipationRecord> participation() const;
  // CommitRound calls whose writes reached the inner store (acknowledged or not).
  int landed_commits() const;
  Store& inner() { return *inner_; }

  absl::Status CreateTask(const cohort::v1::Task& task,
                          const cohort::v1::Model& initial_model) override;
  absl::Status UpdateTask(const cohort::v1::Task& task) override;
  absl::StatusOr<cohort::v1::Task> GetTask(const std::string& task_id) override;
  absl::StatusOr<std::vector<cohort::v1::Task>> ListTasks() override;
  absl::StatusOr<cohort::v1::Model> GetModel(const std::string& task_id, int64_t version) override;
  absl::StatusOr<cohort::v1::Model> GetLatestModel(const std::string& task_id) override;
  absl::Status PutRound(const cohort::v1::RoundSummary& round) override;
  absl::Status CommitRound(const cohort::v1::RoundSummary& round,
                           const cohort::v1::Model& new_model, const cohort::v1::Task& task,
                           const cohort::v1::ServerOptimizerState& optimizer_state) override;
  absl::StatusOr<cohort::v1::ServerOptimizerState> GetOptimizerState(const std::string& task_id,
                                                                     int64_t version) override;
  absl::StatusOr<std::vector<cohort::v1::RoundSummary>> ListRounds(const std::string& task_id,
                                                                   int64_t before_round,
                                                                   int32_t limit) override;
  absl::StatusOr<int> FailUnfinishedRounds(const std::string& reason) override;
  absl::Status RecordParticipation(const std::vector<ParticipationRecord>& records) override;
  absl::StatusOr<std::optional<absl::Time>> LastSelected(
      const std::string& task_id, const std::string& device_pseudonym) override;
  absl::Status PutCalibrationData(const std::string& task_id,
                                  const std::string& examples) override;
  absl::StatusOr<std::string> GetCalibrationData(const std::string& task_id) override;
  absl::Status AppendAudit(const AuditEntry& entry) override;
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(int32_t limit) override;

 private:
  // The outage status, if any.
  absl::Status Outage() const;
  // Records a forwarded write when it succeeded; returns `status`.
  absl::Status Wrote(const char* method, absl::Status status);

  const std::unique_ptr<Store> inner_;
  mutable absl::Mutex mu_;
  absl::Status outage_ ABSL_GUARDED_BY(mu_);
  CommitFault commit_fault_ ABSL_GUARDED_BY(mu_) = CommitFault::kNone;
  absl::Status commit_status_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> writes_ ABSL_GUARDED_BY(mu_);
  std::vector<cohort::v1::RoundPhase> put_round_phases_ ABSL_GUARDED_BY(mu_);
  std::vector<ParticipationRecord> participation_ ABSL_GUARDED_BY(mu_);
  int landed_commits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cohort::server::test_util

#endif  // COHORT_SERVER_STORE_TESTING_FAULT_INJECTING_STORE_H_
