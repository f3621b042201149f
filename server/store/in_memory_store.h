#ifndef COHORT_SERVER_STORE_IN_MEMORY_STORE_H_
#define COHORT_SERVER_STORE_IN_MEMORY_STORE_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/store/store.h"

namespace cohort::server {

// The embedded default Store: everything in process memory, lost when the process exits. It
// keeps exactly the contract of store.h, including its error codes, so that a server tested on it
// behaves the same on PostgresStore (tests/store runs one contract suite against both).
//
// Beyond store.h:
//   - ListTasks orders by task_id.
//   - Times (AuditEntry::time, ParticipationRecord::selected_at) are kept to the microsecond,
//     rounded down, because PostgreSQL's timestamptz keeps no more.
//   - ListAudit orders by time, newest first; entries with equal times newest-appended first.
//   - INVALID_ARGUMENT for a negative limit or before_round, and from CommitRound when the
//     round, model and task name different tasks.
//   - Participation records are kept for the life of the process (append-only, as in the
//     database); LastSelected reads an index, not the records.
//
// This class is thread-safe.
class InMemoryStore : public Store {
 public:
  InMemoryStore() = default;
  InMemoryStore(const InMemoryStore&) = delete;
  InMemoryStore& operator=(const InMemoryStore&) = delete;

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
  // Everything kept for one task.
  struct TaskState {
    cohort::v1::Task task;
    std::map<int64_t, cohort::v1::Model> models;
    std::map<int64_t, cohort::v1::ServerOptimizerState> optimizer_states;
    std::map<int64_t, cohort::v1::RoundSummary> rounds;
    // Latest selected_at per device pseudonym.
    std::map<std::string, absl::Time> last_selected;
    std::string calibration_data;
  };

  absl::StatusOr<TaskState*> Find(const std::string& task_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<std::string, TaskState> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<ParticipationRecord> participation_ ABSL_GUARDED_BY(mu_);
  // Equal keys keep insertion order, so walking backwards gives newest-appended first on ties.
  std::multimap<absl::Time, AuditEntry> audit_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_STORE_IN_MEMORY_STORE_H_
