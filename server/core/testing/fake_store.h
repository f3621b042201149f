#ifndef COHORT_SERVER_CORE_TESTING_FAKE_STORE_H_
#define COHORT_SERVER_CORE_TESTING_FAKE_STORE_H_

// A recording in-memory Store for core unit tests: keeps everything in maps, counts calls, and
// can be told to fail CommitRound. (The production in-memory store is server/store's
// InMemoryStore; this one stays small so core tests do not depend on it.)
// This class is thread-safe.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "server/store/store.h"

namespace cohort::server::test_util {

class FakeStore : public Store {
 public:
  absl::Status CreateTask(const cohort::v1::Task& task,
                          const cohort::v1::Model& initial_model) override;
  absl::Status UpdateTask(const cohort::v1::Task& task) override;
  absl::StatusOr<cohort::v1::Task> GetTask(const std::string& task_id) override;
  absl::StatusOr<std::vector<cohort::v1::Task>> ListTasks() override;
  absl::StatusOr<cohort::v1::Model> GetModel(const std::string& task_id, int64_t version) override;
  absl::StatusOr<cohort::v1::Model> GetLatestModel(const std::string& task_id) override;
  absl::Status PutRound(const cohort::v1::RoundSummary& round) override;
  absl::Status CommitRound(const cohort::v1::RoundSummary& round,
                           const cohort::v1::Model& new_model,
                           const cohort::v1::Task& task) override;
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

  void FailCommits(absl::Status status) {
    absl::MutexLock lock(&mu_);
    commit_status_ = std::move(status);
  }
  int commits() const {
    absl::MutexLock lock(&mu_);
    return commits_;
  }
  std::vector<ParticipationRecord> participation() const {
    absl::MutexLock lock(&mu_);
    return participation_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, cohort::v1::Task> tasks_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int64_t>, cohort::v1::Model> models_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int64_t>, cohort::v1::RoundSummary> rounds_ ABSL_GUARDED_BY(mu_);
  std::vector<ParticipationRecord> participation_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> calibration_ ABSL_GUARDED_BY(mu_);
  std::vector<AuditEntry> audit_ ABSL_GUARDED_BY(mu_);
  absl::Status commit_status_ ABSL_GUARDED_BY(mu_);
  int commits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cohort::server::test_util

#endif  // COHORT_SERVER_CORE_TESTING_FAKE_STORE_H_
