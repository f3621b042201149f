#include "server/store/in_memory_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace cohort::server {
namespace {

using cohort::v1::Model;
using cohort::v1::RoundSummary;
using cohort::v1::Task;

// PostgreSQL keeps microseconds; truncating here keeps both stores answering alike.
absl::Time ToMicros(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

bool IsFinal(cohort::v1::RoundPhase phase) {
  return phase == cohort::v1::ROUND_PHASE_COMMITTED || phase == cohort::v1::ROUND_PHASE_FAILED;
}

absl::Status TaskNotFound(const std::string& task_id) {
  return absl::NotFoundError(absl::StrCat("task '", task_id, "' does not exist"));
}

// The two privacy rules PostgreSQL enforces with a constraint and a trigger (migration 0002).
absl::Status CheckPrivacy(const Task* stored, const Task& next) {
  const auto& p = next.privacy();
  if (p.epsilon_budget() > 0 && p.epsilon_spent() > p.epsilon_budget()) {
    return absl::FailedPreconditionError(
        absl::StrCat("task '", next.task_id(), "' would have spent epsilon ", p.epsilon_spent(),
                     ", above its budget of ", p.epsilon_budget()));
  }
  if (stored != nullptr && (p.rounds_charged() < stored->privacy().rounds_charged() ||
                            p.epsilon_spent() < stored->privacy().epsilon_spent())) {
    return absl::FailedPreconditionError(
        absl::StrCat("task '", next.task_id(),
                     "' would forget privacy spent: ", stored->privacy().rounds_charged(),
                     " rounds and epsilon ", stored->privacy().epsilon_spent(), " stored, ",
                     p.rounds_charged(), " and ", p.epsilon_spent(), " written"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<InMemoryStore::TaskState*> InMemoryStore::Find(const std::string& task_id) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return TaskNotFound(task_id);
  return &it->second;
}

absl::Status InMemoryStore::CreateTask(const Task& task, const Model& initial_model) {
  absl::MutexLock lock(&mu_);
  if (tasks_.contains(task.task_id())) {
    return absl::AlreadyExistsError(absl::StrCat("task '", task.task_id(), "' already exists"));
  }
  if (absl::Status s = CheckPrivacy(nullptr, task); !s.ok()) return s;
  TaskState& state = tasks_[task.task_id()];
  state.task = task;
  state.models[initial_model.version()] = initial_model;
  return absl::OkStatus();
}

absl::Status InMemoryStore::UpdateTask(const Task& task) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(task.task_id());
  if (!state.ok()) return state.status();
  if (absl::Status s = CheckPrivacy(&(*state)->task, task); !s.ok()) return s;
  (*state)->task = task;
  return absl::OkStatus();
}

absl::StatusOr<Task> InMemoryStore::GetTask(const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(task_id);
  if (!state.ok()) return state.status();
  return (*state)->task;
}

absl::StatusOr<std::vector<Task>> InMemoryStore::ListTasks() {
  absl::MutexLock lock(&mu_);
  std::vector<Task> tasks;
  tasks.reserve(tasks_.size());
  for (const auto& [id, state] : tasks_) tasks.push_back(state.task);
  return tasks;
}

absl::StatusOr<Model> InMemoryStore::GetModel(const std::string& task_id, int64_t version) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(task_id);
  if (!state.ok()) return state.status();
  auto it = (*state)->models.find(version);
  if (it == (*state)->models.end()) {
    return absl::NotFoundError(
        absl::StrCat("model version ", version, " of task '", task_id, "' does not exist"));
  }
  return it->second;
}

absl::StatusOr<Model> InMemoryStore::GetLatestModel(const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(task_id);
  if (!state.ok()) return state.status();
  if ((*state)->models.empty()) {
    return absl::NotFoundError(absl::StrCat("task '", task_id, "' has no model"));
  }
  return (*state)->models.rbegin()->second;
}

absl::Status InMemoryStore::PutRound(const RoundSummary& round) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(round.task_id());
  if (!state.ok()) return state.status();
  (*state)->rounds[round.round_number()] = round;
  return absl::OkStatus();
}

absl::Status InMemoryStore::CommitRound(const RoundSummary& round, const Model& new_model,
                                        const Task& task,
                                        const cohort::v1::ServerOptimizerState& optimizer_state) {
  if (round.task_id() != task.task_id()) {
    return absl::InvalidArgumentError(absl::StrCat("round of task '", round.task_id(),
                                                   "' committed with task '", task.task_id(), "'"));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(task.task_id());
  if (!state.ok()) return state.status();
  // Checked before anything changes: a refused commit leaves the store as it was.
  if ((*state)->models.contains(new_model.version())) {
    return absl::AlreadyExistsError(absl::StrCat("model version ", new_model.version(),
                                                 " of task '", task.task_id(), "' already exists"));
  }
  if (absl::Status s = CheckPrivacy(&(*state)->task, task); !s.ok()) return s;
  (*state)->models[new_model.version()] = new_model;
  (*state)->optimizer_states[new_model.version()] = optimizer_state;
  (*state)->rounds[round.round_number()] = round;
  (*state)->task = task;
  return absl::OkStatus();
}

absl::StatusOr<cohort::v1::ServerOptimizerState> InMemoryStore::GetOptimizerState(
    const std::string& task_id, int64_t version) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(task_id);
  if (!state.ok()) return state.status();
  auto it = (*state)->optimizer_states.find(version);
  if (it == (*state)->optimizer_states.end()) {
    return absl::NotFoundError(absl::StrCat("no optimizer state is stored with model version ",
                                            version, " of task '", task_id, "'"));
  }
  return it->second;
}

absl::StatusOr<std::vector<RoundSummary>> InMemoryStore::ListRounds(const std::string& task_id,
                                                                    int64_t before_round,
                                                                    int32_t limit) {
  if (before_round < 0 || limit < 0) {
    return absl::InvalidArgumentError(absl::StrCat("ListRounds: before_round ", before_round,
                                                   " and limit ", limit, " must be >= 0"));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(task_id);
  if (!state.ok()) return state.status();
  const auto& rounds = (*state)->rounds;
  auto end = before_round == 0 ? rounds.end() : rounds.lower_bound(before_round);
  std::vector<RoundSummary> out;
  for (auto it = std::make_reverse_iterator(end);
       it != rounds.rend() && static_cast<int32_t>(out.size()) < limit; ++it) {
    out.push_back(it->second);
  }
  return out;
}

absl::StatusOr<int> InMemoryStore::FailUnfinishedRounds(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  int failed = 0;
  for (auto& [task_id, state] : tasks_) {
    for (auto& [number, round] : state.rounds) {
      if (IsFinal(round.phase())) continue;
      round.set_phase(cohort::v1::ROUND_PHASE_FAILED);
      round.set_failure_reason(reason);
      ++failed;
      Task& task = state.task;
      task.set_rounds_failed(task.rounds_failed() + 1);
      if (!task.continuous()) {
        task.set_rounds_remaining(std::max<int64_t>(0, task.rounds_remaining() - 1));
      }
    }
  }
  return failed;
}

absl::Status InMemoryStore::RecordParticipation(const std::vector<ParticipationRecord>& records) {
  absl::MutexLock lock(&mu_);
  // All or nothing, as in the database's transaction.
  for (const ParticipationRecord& record : records) {
    if (!tasks_.contains(record.task_id)) return TaskNotFound(record.task_id);
  }
  for (const ParticipationRecord& record : records) {
    ParticipationRecord stored = record;
    stored.selected_at = ToMicros(record.selected_at);
    absl::Time& last = tasks_[record.task_id]
                           .last_selected.try_emplace(record.device_pseudonym, stored.selected_at)
                           .first->second;
    if (stored.selected_at > last) last = stored.selected_at;
    participation_.push_back(std::move(stored));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<absl::Time>> InMemoryStore::LastSelected(
    const std::string& task_id, const std::string& device_pseudonym) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(task_id);
  if (!state.ok()) return state.status();
  auto it = (*state)->last_selected.find(device_pseudonym);
  if (it == (*state)->last_selected.end()) return std::optional<absl::Time>();
  return std::optional<absl::Time>(it->second);
}

absl::Status InMemoryStore::PutCalibrationData(const std::string& task_id,
                                               const std::string& examples) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(task_id);
  if (!state.ok()) return state.status();
  (*state)->calibration_data = examples;
  return absl::OkStatus();
}

absl::StatusOr<std::string> InMemoryStore::GetCalibrationData(const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskState*> state = Find(task_id);
  if (!state.ok()) return state.status();
  return (*state)->calibration_data;
}

absl::Status InMemoryStore::AppendAudit(const AuditEntry& entry) {
  absl::MutexLock lock(&mu_);
  AuditEntry stored = entry;
  stored.time = ToMicros(entry.time);
  audit_.emplace(stored.time, std::move(stored));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditEntry>> InMemoryStore::ListAudit(int32_t limit) {
  if (limit < 0) {
    return absl::InvalidArgumentError(absl::StrCat("ListAudit: limit ", limit, " must be >= 0"));
  }
  absl::MutexLock lock(&mu_);
  std::vector<AuditEntry> out;
  for (auto it = audit_.rbegin(); it != audit_.rend() && static_cast<int32_t>(out.size()) < limit;
       ++it) {
    out.push_back(it->second);
  }
  return out;
}

}  // namespace cohort::server
