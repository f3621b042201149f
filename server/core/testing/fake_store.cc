#include "server/core/testing/fake_store.h"

#include "absl/strings/str_cat.h"

namespace cohort::server::test_util {

absl::Status FakeStore::CreateTask(const cohort::v1::Task& task,
                                   const cohort::v1::Model& initial_model) {
  absl::MutexLock lock(&mu_);
  if (tasks_.count(task.task_id())) return absl::AlreadyExistsError(task.task_id());
  tasks_[task.task_id()] = task;
  models_[{task.task_id(), initial_model.version()}] = initial_model;
  return absl::OkStatus();
}

absl::Status FakeStore::UpdateTask(const cohort::v1::Task& task) {
  absl::MutexLock lock(&mu_);
  if (!tasks_.count(task.task_id())) return absl::NotFoundError(task.task_id());
  tasks_[task.task_id()] = task;
  return absl::OkStatus();
}

absl::StatusOr<cohort::v1::Task> FakeStore::GetTask(const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return absl::NotFoundError(task_id);
  return it->second;
}

absl::StatusOr<std::vector<cohort::v1::Task>> FakeStore::ListTasks() {
  absl::MutexLock lock(&mu_);
  std::vector<cohort::v1::Task> out;
  for (const auto& [id, task] : tasks_) out.push_back(task);
  return out;
}

absl::StatusOr<cohort::v1::Model> FakeStore::GetModel(const std::string& task_id, int64_t version) {
  absl::MutexLock lock(&mu_);
  auto it = models_.find({task_id, version});
  if (it == models_.end()) return absl::NotFoundError(absl::StrCat(task_id, "@", version));
  return it->second;
}

absl::StatusOr<cohort::v1::Model> FakeStore::GetLatestModel(const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  const cohort::v1::Model* latest = nullptr;
  for (const auto& [key, model] : models_) {
    if (key.first == task_id) latest = &model;
  }
  if (latest == nullptr) return absl::NotFoundError(task_id);
  return *latest;
}

absl::Status FakeStore::PutRound(const cohort::v1::RoundSummary& round) {
  absl::MutexLock lock(&mu_);
  rounds_[{round.task_id(), round.round_number()}] = round;
  return absl::OkStatus();
}

absl::Status FakeStore::CommitRound(const cohort::v1::RoundSummary& round,
                                    const cohort::v1::Model& new_model,
                                    const cohort::v1::Task& task) {
  absl::MutexLock lock(&mu_);
  if (!commit_status_.ok()) return commit_status_;
  if (models_.count({task.task_id(), new_model.version()})) {
    return absl::AlreadyExistsError("model version exists");
  }
  rounds_[{round.task_id(), round.round_number()}] = round;
  models_[{task.task_id(), new_model.version()}] = new_model;
  tasks_[task.task_id()] = task;
  ++commits_;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<cohort::v1::RoundSummary>> FakeStore::ListRounds(
    const std::string& task_id, int64_t before_round, int32_t limit) {
  absl::MutexLock lock(&mu_);
  std::vector<cohort::v1::RoundSummary> out;
  for (auto it = rounds_.rbegin(); it != rounds_.rend(); ++it) {
    if (it->first.first != task_id) continue;
    if (before_round > 0 && it->first.second >= before_round) continue;
    if (static_cast<int32_t>(out.size()) >= limit) break;
    out.push_back(it->second);
  }
  return out;
}

absl::StatusOr<int> FakeStore::FailUnfinishedRounds(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (auto& [key, round] : rounds_) {
    if (round.phase() != cohort::v1::ROUND_PHASE_COMMITTED &&
        round.phase() != cohort::v1::ROUND_PHASE_FAILED) {
      round.set_phase(cohort::v1::ROUND_PHASE_FAILED);
      round.set_failure_reason(reason);
      ++n;
    }
  }
  return n;
}

absl::Status FakeStore::RecordParticipation(const std::vector<ParticipationRecord>& records) {
  absl::MutexLock lock(&mu_);
  participation_.insert(participation_.end(), records.begin(), records.end());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<absl::Time>> FakeStore::LastSelected(
    const std::string& task_id, const std::string& device_pseudonym) {
  absl::MutexLock lock(&mu_);
  std::optional<absl::Time> last;
  for (const auto& r : participation_) {
    if (r.task_id == task_id && r.device_pseudonym == device_pseudonym &&
        (!last.has_value() || r.selected_at > *last)) {
      last = r.selected_at;
    }
  }
  return last;
}

absl::Status FakeStore::PutCalibrationData(const std::string& task_id,
                                           const std::string& examples) {
  absl::MutexLock lock(&mu_);
  if (!tasks_.contains(task_id)) return absl::NotFoundError(absl::StrCat("no task ", task_id));
  calibration_[task_id] = examples;
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeStore::GetCalibrationData(const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  if (!tasks_.contains(task_id)) return absl::NotFoundError(absl::StrCat("no task ", task_id));
  auto it = calibration_.find(task_id);
  return it == calibration_.end() ? std::string() : it->second;
}

absl::Status FakeStore::AppendAudit(const AuditEntry& entry) {
  absl::MutexLock lock(&mu_);
  audit_.push_back(entry);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditEntry>> FakeStore::ListAudit(int32_t limit) {
  absl::MutexLock lock(&mu_);
  std::vector<AuditEntry> out;
  for (auto it = audit_.rbegin(); it != audit_.rend() && static_cast<int32_t>(out.size()) < limit;
       ++it) {
    out.push_back(*it);
  }
  return out;
}

}  // namespace cohort::server::test_util
