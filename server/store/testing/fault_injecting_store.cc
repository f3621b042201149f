#include "server/store/testing/fault_injecting_store.h"

#include <utility>

#include "server/store/in_memory_store.h"

namespace cohort::server::test_util {

FaultInjectingStore::FaultInjectingStore()
    : FaultInjectingStore(std::make_unique<InMemoryStore>()) {}

FaultInjectingStore::FaultInjectingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

void FaultInjectingStore::SetCommitFault(CommitFault fault, absl::Status status) {
  absl::MutexLock lock(&mu_);
  commit_fault_ = fault;
  commit_status_ = std::move(status);
}

void FaultInjectingStore::FailAll(absl::Status status) {
  absl::MutexLock lock(&mu_);
  outage_ = std::move(status);
}

std::vector<std::string> FaultInjectingStore::writes() const {
  absl::MutexLock lock(&mu_);
  return writes_;
}

std::vector<cohort::v1::RoundPhase> FaultInjectingStore::put_round_phases() const {
  absl::MutexLock lock(&mu_);
  return put_round_phases_;
}

std::vector<ParticipationRecord> FaultInjectingStore::participation() const {
  absl::MutexLock lock(&mu_);
  return participation_;
}

int FaultInjectingStore::landed_commits() const {
  absl::MutexLock lock(&mu_);
  return landed_commits_;
}

absl::Status FaultInjectingStore::Outage() const {
  absl::MutexLock lock(&mu_);
  return outage_;
}

absl::Status FaultInjectingStore::Wrote(const char* method, absl::Status status) {
  if (status.ok()) {
    absl::MutexLock lock(&mu_);
    writes_.emplace_back(method);
  }
  return status;
}

absl::Status FaultInjectingStore::CreateTask(const cohort::v1::Task& task,
                                             const cohort::v1::Model& initial_model) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return Wrote("CreateTask", inner_->CreateTask(task, initial_model));
}

absl::Status FaultInjectingStore::UpdateTask(const cohort::v1::Task& task) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return Wrote("UpdateTask", inner_->UpdateTask(task));
}

absl::StatusOr<cohort::v1::Task> FaultInjectingStore::GetTask(const std::string& task_id) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return inner_->GetTask(task_id);
}

absl::StatusOr<std::vector<cohort::v1::Task>> FaultInjectingStore::ListTasks() {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return inner_->ListTasks();
}

absl::StatusOr<cohort::v1::Model> FaultInjectingStore::GetModel(const std::string& task_id,
                                                                int64_t version) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return inner_->GetModel(task_id, version);
}

absl::StatusOr<cohort::v1::Model> FaultInjectingStore::GetLatestModel(const std::string& task_id) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return inner_->GetLatestModel(task_id);
}

absl::Status FaultInjectingStore::PutRound(const cohort::v1::RoundSummary& round) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  absl::Status status = Wrote("PutRound", inner_->PutRound(round));
  if (status.ok()) {
    absl::MutexLock lock(&mu_);
    put_round_phases_.push_back(round.phase());
  }
  return status;
}

absl::Status FaultInjectingStore::CommitRound(
    const cohort::v1::RoundSummary& round, const cohort::v1::Model& new_model,
    const cohort::v1::Task& task, const cohort::v1::ServerOptimizerState& optimizer_state) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  CommitFault fault;
  absl::Status injected;
  {
    absl::MutexLock lock(&mu_);
    fault = commit_fault_;
    injected = commit_status_;
  }
  if (fault == CommitFault::kRefused) return injected;
  absl::Status status =
      Wrote("CommitRound", inner_->CommitRound(round, new_model, task, optimizer_state));
  if (!status.ok()) return status;
  absl::MutexLock lock(&mu_);
  ++landed_commits_;
  if (fault == CommitFault::kAckLostThenOutage) outage_ = injected;
  return fault == CommitFault::kNone ? status : injected;
}

absl::StatusOr<cohort::v1::ServerOptimizerState> FaultInjectingStore::GetOptimizerState(
    const std::string& task_id, int64_t version) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return inner_->GetOptimizerState(task_id, version);
}

absl::StatusOr<std::vector<cohort::v1::RoundSummary>> FaultInjectingStore::ListRounds(
    const std::string& task_id, int64_t before_round, int32_t limit) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return inner_->ListRounds(task_id, before_round, limit);
}

absl::StatusOr<int> FaultInjectingStore::FailUnfinishedRounds(const std::string& reason) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  absl::StatusOr<int> failed = inner_->FailUnfinishedRounds(reason);
  if (failed.ok()) Wrote("FailUnfinishedRounds", absl::OkStatus()).IgnoreError();
  return failed;
}

absl::Status FaultInjectingStore::RecordParticipation(
    const std::vector<ParticipationRecord>& records) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  absl::Status status = Wrote("RecordParticipation", inner_->RecordParticipation(records));
  if (status.ok()) {
    absl::MutexLock lock(&mu_);
    participation_.insert(participation_.end(), records.begin(), records.end());
  }
  return status;
}

absl::StatusOr<std::optional<absl::Time>> FaultInjectingStore::LastSelected(
    const std::string& task_id, const std::string& device_pseudonym) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return inner_->LastSelected(task_id, device_pseudonym);
}

absl::Status FaultInjectingStore::PutCalibrationData(const std::string& task_id,
                                                     const std::string& examples) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return Wrote("PutCalibrationData", inner_->PutCalibrationData(task_id, examples));
}

absl::StatusOr<std::string> FaultInjectingStore::GetCalibrationData(const std::string& task_id) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return inner_->GetCalibrationData(task_id);
}

absl::Status FaultInjectingStore::AppendAudit(const AuditEntry& entry) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return Wrote("AppendAudit", inner_->AppendAudit(entry));
}

absl::StatusOr<std::vector<AuditEntry>> FaultInjectingStore::ListAudit(int32_t limit) {
  if (absl::Status s = Outage(); !s.ok()) return s;
  return inner_->ListAudit(limit);
}

}  // namespace cohort::server::test_util
