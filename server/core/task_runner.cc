#include "server/core/task_runner.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/core/task_config.h"

namespace cohort::server {
namespace {

using cohort::v1::RoundEvent;
using cohort::v1::TaskState;

constexpr size_t kRecentRounds = 4;

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t s = absl::ToUnixSeconds(t);
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))));
}

bool IsLegalTaskTransition(TaskState from, TaskState to) {
  switch (from) {
    case cohort::v1::TASK_STATE_IDLE:
      return to == cohort::v1::TASK_STATE_RUNNING;
    case cohort::v1::TASK_STATE_RUNNING:
      return to == cohort::v1::TASK_STATE_PAUSED || to == cohort::v1::TASK_STATE_IDLE;
    case cohort::v1::TASK_STATE_PAUSED:
      return to == cohort::v1::TASK_STATE_RUNNING || to == cohort::v1::TASK_STATE_IDLE;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TaskRunner>> TaskRunner::Create(cohort::v1::Task task,
                                                               cohort::v1::Model latest_model,
                                                               int64_t last_round_number,
                                                               Services services) {
  const int64_t num_parameters = static_cast<int64_t>(latest_model.parameters().size() / 4);
  absl::StatusOr<std::unique_ptr<codec::ServerOptimizer>> optimizer =
      codec::CreateServerOptimizer(task.config().optimizer(), num_parameters);
  if (!optimizer.ok()) return optimizer.status();
  if (task.state() == cohort::v1::TASK_STATE_UNSPECIFIED) {
    task.set_state(cohort::v1::TASK_STATE_IDLE);
  }
  task.set_latest_model_version(latest_model.version());
  task.clear_current_round();
  std::shared_ptr<const secagg::ParameterTable> parameters;
  absl::Status refusal =
      CheckThreatModelServed(task.config().secagg(), services.key_verifier != nullptr);
  if (refusal.ok() && task.config().secagg().enabled()) {
    // A stored task whose parameters cannot be computed is paused, like a refused one, rather
    // than failing the recovery of every other task.
    absl::StatusOr<std::shared_ptr<const secagg::ParameterTable>> table =
        SecAggParameterTable(task.config());
    if (table.ok()) {
      parameters = *std::move(table);
    } else {
      refusal = table.status();
    }
  }
  return std::unique_ptr<TaskRunner>(new TaskRunner(
      std::move(task), std::make_shared<const cohort::v1::Model>(std::move(latest_model)),
      last_round_number, services, std::move(*optimizer), std::move(parameters),
      std::move(refusal)));
}

TaskRunner::TaskRunner(cohort::v1::Task task, std::shared_ptr<const cohort::v1::Model> model,
                       int64_t last_round_number, Services services,
                       std::unique_ptr<codec::ServerOptimizer> optimizer,
                       std::shared_ptr<const secagg::ParameterTable> parameters,
                       absl::Status refusal)
    : task_(std::move(task)),
      model_(std::move(model)),
      last_round_number_(last_round_number),
      store_(services.store),
      observer_(services.observer),
      random_(services.random),
      key_verifier_(services.key_verifier),
      parameters_(std::move(parameters)),
      offenders_(services.offenders),
      optimizer_(std::move(optimizer)),
      refusal_(std::move(refusal)) {}

absl::Status TaskRunner::CheckServed() const {
  if (refusal_.ok()) return refusal_;
  return absl::FailedPreconditionError(
      absl::StrCat("task ", task_id(), " cannot run rounds: ", refusal_.message()));
}

cohort::v1::Task TaskRunner::task() const {
  cohort::v1::Task task = task_;
  if (current_ != nullptr) *task.mutable_current_round() = current_->Summary();
  return task;
}

void TaskRunner::SetState(TaskState next, absl::Time now) {
  if (task_.state() == next) return;
  if (!IsLegalTaskTransition(task_.state(), next)) {
    COHORT_LOG_ERROR("illegal task transition task={} from={} to={}", task_id(),
                     cohort::v1::TaskState_Name(task_.state()), cohort::v1::TaskState_Name(next));
    std::abort();
  }
  task_.set_state(next);
  Emit(RoundEvent::KIND_TASK_STATE_CHANGED, now, cohort::v1::TaskState_Name(next));
}

void TaskRunner::Persist() {
  absl::Status s = store_->UpdateTask(task_);
  task_unsaved_ = !s.ok();
  if (!s.ok()) COHORT_LOG_WARN("cannot persist task task={} error={}", task_id(), s.ToString());
}

bool TaskRunner::CatchUpWithStore() {
  if (uncertain_commit_round_ != 0) {
    absl::StatusOr<cohort::v1::Model> latest = store_->GetLatestModel(task_id());
    if (!latest.ok()) return false;
    if (latest->version() > model_->version()) {
      absl::StatusOr<cohort::v1::Task> stored = store_->GetTask(task_id());
      if (!stored.ok()) return false;
      COHORT_LOG_WARN("round committed although its commit reported an error task={} round={} "
                      "model={}",
                      task_id(), uncertain_commit_round_, latest->version());
      std::erase_if(unsaved_rounds_, [&](const cohort::v1::RoundSummary& r) {
        return r.round_number() == uncertain_commit_round_;
      });
      task_.set_latest_model_version(latest->version());
      task_.set_rounds_committed(stored->rounds_committed());
      task_.set_rounds_failed(std::max<int64_t>(0, task_.rounds_failed() - 1));
      model_ = std::make_shared<const cohort::v1::Model>(*std::move(latest));
      task_unsaved_ = true;
    }
    uncertain_commit_round_ = 0;
  }
  while (!unsaved_rounds_.empty()) {
    if (!store_->PutRound(unsaved_rounds_.front()).ok()) return false;
    unsaved_rounds_.pop_front();
  }
  if (task_unsaved_) Persist();
  return !task_unsaved_;
}

void TaskRunner::Emit(RoundEvent::Kind kind, absl::Time now, const std::string& message) {
  if (observer_ == nullptr) return;
  RoundEvent event;
  event.set_kind(kind);
  ToProto(now, event.mutable_time());
  event.set_task_id(task_id());
  event.set_message(message);
  const Round* round = current_ != nullptr ? current_.get()
                       : recent_.empty()   ? nullptr
                                           : recent_.back().get();
  if (round != nullptr && kind != RoundEvent::KIND_TASK_STATE_CHANGED) {
    event.set_round_number(round->round_number());
    event.set_phase(round->phase());
    *event.mutable_round() = round->Summary();
  }
  observer_->OnEvent(event);
}

absl::Status TaskRunner::StartRounds(int64_t count, bool continuous, absl::Time now) {
  if (!continuous && count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("count must be >= 1 unless continuous is set, got ", count));
  }
  if (absl::Status s = CheckServed(); !s.ok()) return s;
  if (continuous) {
    task_.set_continuous(true);
  } else {
    task_.set_rounds_remaining(task_.rounds_remaining() + count);
  }
  if (task_.state() == cohort::v1::TASK_STATE_IDLE) SetState(cohort::v1::TASK_STATE_RUNNING, now);
  Persist();
  Sync(now);
  return absl::OkStatus();
}

absl::Status TaskRunner::Pause(absl::Time now) {
  if (task_.state() == cohort::v1::TASK_STATE_PAUSED) return absl::OkStatus();
  if (task_.state() != cohort::v1::TASK_STATE_RUNNING) {
    return absl::FailedPreconditionError(absl::StrCat("task ", task_id(), " is ",
                                                      cohort::v1::TaskState_Name(task_.state()),
                                                      "; only a RUNNING task can be paused"));
  }
  SetState(cohort::v1::TASK_STATE_PAUSED, now);
  Persist();
  return absl::OkStatus();
}

absl::Status TaskRunner::Resume(absl::Time now) {
  if (task_.state() != cohort::v1::TASK_STATE_PAUSED) {
    return absl::FailedPreconditionError(absl::StrCat("task ", task_id(), " is ",
                                                      cohort::v1::TaskState_Name(task_.state()),
                                                      "; only a PAUSED task can be resumed"));
  }
  if (absl::Status s = CheckServed(); !s.ok()) return s;
  const bool more = task_.continuous() || task_.rounds_remaining() > 0;
  SetState(more ? cohort::v1::TASK_STATE_RUNNING : cohort::v1::TASK_STATE_IDLE, now);
  Persist();
  Sync(now);
  return absl::OkStatus();
}

absl::Status TaskRunner::AbortRound(const std::string& reason, absl::Time now) {
  if (current_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("task ", task_id(), " has no round in flight"));
  }
  current_->Fail(reason.empty() ? "aborted by the operator" : absl::StrCat("aborted: ", reason),
                 now);
  Sync(now);
  return absl::OkStatus();
}

Round* TaskRunner::FindRound(const std::string& round_id) {
  if (current_ != nullptr && current_->round_id() == round_id) return current_.get();
  for (auto& round : recent_) {
    if (round->round_id() == round_id) return round.get();
  }
  return nullptr;
}

absl::Duration TaskRunner::UntilNextForming(absl::Time now) const {
  if (current_ != nullptr && current_->phase() == cohort::v1::ROUND_PHASE_FORMING) {
    return absl::ZeroDuration();
  }
  // Is another round coming after the one in flight?
  const bool more = task_.continuous() || task_.rounds_remaining() > 1 ||
                    (task_.rounds_remaining() == 1 && current_ == nullptr);
  if (task_.state() != cohort::v1::TASK_STATE_RUNNING || !more) return absl::Minutes(5);
  if (current_ == nullptr) return absl::ZeroDuration();
  // The rest of the current phase plus the later phases' deadlines: an upper estimate.
  const auto& d = config().deadlines();
  absl::Duration rest = std::max(absl::ZeroDuration(), current_->phase_deadline() - now);
  switch (current_->phase()) {
    case cohort::v1::ROUND_PHASE_ADVERTISE_KEYS:
      rest += FromProto(d.share_keys());
      [[fallthrough]];
    case cohort::v1::ROUND_PHASE_SHARE_KEYS:
      rest += FromProto(d.masked_input());
      [[fallthrough]];
    case cohort::v1::ROUND_PHASE_MASKED_INPUT:
      if (current_->secure()) rest += FromProto(d.unmasking());
      break;
    default:
      break;
  }
  // Rounds usually end well before their deadlines; come back around the middle.
  return rest / 2;
}

void TaskRunner::MaybeOpenRound(absl::Time now) {
  if (current_ != nullptr) return;
  if (!CatchUpWithStore()) return;
  if (task_.state() != cohort::v1::TASK_STATE_RUNNING) return;
  if (!refusal_.ok()) {
    // A task stored by a build that accepted this configuration: never open a round for it.
    COHORT_LOG_ERROR("task paused, its configuration is refused task={} reason={}", task_id(),
                     std::string(refusal_.message()));
    SetState(cohort::v1::TASK_STATE_PAUSED, now);
    Persist();
    return;
  }
  if (!task_.continuous() && task_.rounds_remaining() <= 0) {
    SetState(cohort::v1::TASK_STATE_IDLE, now);
    Persist();
    return;
  }
  RoundSetup setup;
  setup.task_id = task_id();
  setup.round_number = ++last_round_number_;
  std::string nonce(6, '\0');
  random_->Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size()));
  setup.round_id =
      absl::StrCat(task_id(), "/r", setup.round_number, "-", absl::BytesToHexString(nonce));
  setup.config = config();
  setup.base_model = model_;
  setup.random = random_;
  setup.secagg_parameters = parameters_;
  setup.key_verifier = key_verifier_;
  current_ = std::make_unique<Round>(std::move(setup), now);
  COHORT_LOG_INFO("round started task={} round={} round_id={} base_model={}", task_id(),
                  current_->round_number(), current_->round_id(), model_->version());
  if (absl::Status s = store_->PutRound(current_->Summary()); !s.ok()) {
    COHORT_LOG_WARN("cannot persist round task={} round={} error={}", task_id(),
                    current_->round_number(), s.ToString());
  }
  Emit(RoundEvent::KIND_ROUND_STARTED, now, current_->round_id());
}

void TaskRunner::Commit(absl::Time now) {
  absl::StatusOr<AggregateResult> result = current_->Aggregate();
  absl::StatusOr<cohort::v1::Model> next = result.ok()
                                               ? optimizer_->Apply(*model_, result->average_delta)
                                               : absl::StatusOr<cohort::v1::Model>(result.status());
  if (!next.ok()) {
    current_->Fail(absl::StrCat("aggregation failed: ", next.status().message()), now);
    return;
  }
  cohort::v1::Task task = task_;
  task.set_latest_model_version(next->version());
  task.set_rounds_committed(task.rounds_committed() + 1);
  if (!task.continuous())
    task.set_rounds_remaining(std::max<int64_t>(0, task.rounds_remaining() - 1));
  task.clear_current_round();
  cohort::v1::RoundSummary summary = current_->Summary();
  summary.set_phase(cohort::v1::ROUND_PHASE_COMMITTED);
  summary.set_new_model_version(next->version());
  ToProto(now, summary.mutable_ended_at());
  if (absl::Status s = store_->CommitRound(summary, *next, task); !s.ok()) {
    uncertain_commit_round_ = current_->round_number();
    current_->Fail(absl::StrCat("commit failed: ", s.message()), now);
    return;
  }
  task_ = std::move(task);
  model_ = std::make_shared<const cohort::v1::Model>(std::move(*next));
  current_->MarkCommitted(model_->version(), now);
  COHORT_LOG_INFO("round committed task={} round={} contributors={} total_weight={} model={}",
                  task_id(), current_->round_number(), result->contributors, result->total_weight,
                  model_->version());
}

void TaskRunner::EndRound(absl::Time now) {
  const bool committed = current_->phase() == cohort::v1::ROUND_PHASE_COMMITTED;
  if (!committed) {
    task_.set_rounds_failed(task_.rounds_failed() + 1);
    if (!task_.continuous()) {
      task_.set_rounds_remaining(std::max<int64_t>(0, task_.rounds_remaining() - 1));
    }
    COHORT_LOG_WARN("round failed task={} round={} reason={}", task_id(), current_->round_number(),
                    current_->failure_reason());
    if (absl::Status s = store_->PutRound(current_->Summary()); !s.ok()) {
      COHORT_LOG_WARN("cannot persist round task={} error={}; retrying when the store is back",
                      task_id(), s.ToString());
      unsaved_rounds_.push_back(current_->Summary());
    }
    Persist();
  }
  // Participation records: the sampler's cool-down and the audit trail.
  std::vector<ParticipationRecord> records;
  const cohort::v1::RoundSummary summary = current_->Summary();
  for (const Round::ParticipantRecord& p : current_->Participants()) {
    ParticipationRecord r;
    r.task_id = task_id();
    r.round_number = current_->round_number();
    r.device_pseudonym = p.pseudonym;
    r.participant_index = p.index;
    r.last_completed_phase = p.last_completed;
    r.contributed = p.contributed && committed;
    r.selected_at = p.selected_at;
    records.push_back(std::move(r));
  }
  if (!records.empty()) {
    if (absl::Status s = store_->RecordParticipation(records); !s.ok()) {
      COHORT_LOG_WARN("cannot record participation task={} error={}", task_id(), s.ToString());
    }
  }
  if (observer_ != nullptr) observer_->OnRoundEnded(committed ? "committed" : "failed");
  Emit(committed ? RoundEvent::KIND_ROUND_COMMITTED : RoundEvent::KIND_ROUND_FAILED, now,
       committed ? absl::StrCat("model version ", model_->version()) : current_->failure_reason());
  recent_.push_back(std::move(current_));
  while (recent_.size() > kRecentRounds) recent_.pop_front();
}

void TaskRunner::Sync(absl::Time now) {
  for (int guard = 0; guard < 4; ++guard) {
    MaybeOpenRound(now);
    if (current_ == nullptr) return;
    Round* round = current_.get();
    round->AdvanceTo(now);
    if (round->ready_to_commit()) Commit(now);
    bool phase_changed = false;
    for (const RoundChange& change : round->TakeChanges()) {
      // The move to COMMITTED follows a close already reported (the from == to change that
      // made the round ready to commit).
      if (observer_ != nullptr && change.to != cohort::v1::ROUND_PHASE_COMMITTED) {
        observer_->OnPhaseClosed(change.from, change.phase_duration, change.dropped);
      }
      if (change.to != change.from && change.to != cohort::v1::ROUND_PHASE_COMMITTED &&
          change.to != cohort::v1::ROUND_PHASE_FAILED) {
        phase_changed = true;
        Emit(RoundEvent::KIND_PHASE_CHANGED, now,
             absl::StrCat(cohort::v1::RoundPhase_Name(change.to), " ", change.message));
      }
    }
    if (phase_changed && !round->ended()) {
      if (absl::Status s = store_->PutRound(round->Summary()); !s.ok()) {
        COHORT_LOG_WARN("cannot persist round task={} error={}", task_id(), s.ToString());
      }
    }
    for (const std::string& pseudonym : round->TakeExcluded()) {
      offenders_.Record(pseudonym, now);
      if (observer_ != nullptr) observer_->OnDeviceExcluded(task_id());
    }
    if (round->TakeDirty() && observer_ != nullptr) observer_->OnRoundChanged(round->round_id());
    if (!round->ended()) return;
    EndRound(now);
    // Loop: the next round may open at once.
  }
}

}  // namespace cohort::server
