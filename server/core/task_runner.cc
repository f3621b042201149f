#include "server/core/task_runner.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/core/dp_task.h"
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

absl::StatusOr<std::unique_ptr<TaskRunner>> TaskRunner::Create(
    cohort::v1::Task task, cohort::v1::Model latest_model, int64_t last_round_number,
    std::optional<cohort::v1::ServerOptimizerState> optimizer_state, Services services) {
  const int64_t num_parameters = static_cast<int64_t>(latest_model.parameters().size() / 4);
  absl::StatusOr<std::unique_ptr<codec::ServerOptimizer>> optimizer =
      codec::CreateServerOptimizer(task.config().optimizer(), num_parameters);
  if (!optimizer.ok()) return optimizer.status();
  codec::OptimizerState state = (*optimizer)->InitialState();
  if (optimizer_state.has_value()) {
    absl::StatusOr<codec::OptimizerState> stored =
        codec::StateFromProto(**optimizer, *optimizer_state);
    if (!stored.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("task ", task.task_id(), " model version ",
                                                     latest_model.version(), ": ",
                                                     stored.status().message()));
    }
    state = *std::move(stored);
  } else if (latest_model.version() > 0 &&
             (!state.first.empty() || task.config().optimizer().decay().kind() !=
                                          cohort::v1::LearningRateDecay::KIND_CONSTANT)) {
    // Plain FedAvg has no moments, but a decaying rate has a position in its schedule.
    COHORT_LOG_WARN(
        "no optimizer state stored with the latest model; its moments and learning-rate "
        "schedule start afresh task={} model={}",
        task.task_id(), latest_model.version());
  }
  if (task.state() == cohort::v1::TASK_STATE_UNSPECIFIED) {
    task.set_state(cohort::v1::TASK_STATE_IDLE);
  }
  task.set_latest_model_version(latest_model.version());
  task.clear_current_round();
  if (DpEnabled(task.config()) && task.privacy().rdp_orders_size() == 0) {
    *task.mutable_privacy() = InitialPrivacyBudget(task.config());
  }
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
      last_round_number, services, std::move(*optimizer), std::move(state), std::move(parameters),
      std::move(refusal)));
}

TaskRunner::TaskRunner(cohort::v1::Task task, std::shared_ptr<const cohort::v1::Model> model,
                       int64_t last_round_number, Services services,
                       std::unique_ptr<codec::ServerOptimizer> optimizer,
                       codec::OptimizerState optimizer_state,
                       std::shared_ptr<const secagg::ParameterTable> parameters,
                       absl::Status refusal)
    : task_(std::move(task)),
      model_(std::move(model)),
      last_round_number_(last_round_number),
      store_(services.store),
      observer_(services.observer),
      random_(services.random),
      key_verifier_(services.key_verifier),
      upload_budget_(services.upload_budget),
      parameters_(std::move(parameters)),
      offenders_(services.offenders),
      optimizer_(std::move(optimizer)),
      optimizer_state_(std::move(optimizer_state)),
      publisher_(task_.task_id(),
                 task_.config().inference().max_download_starts_per_second() > 0
                     ? task_.config().inference().max_download_starts_per_second()
                     : 50.0),
      refusal_(std::move(refusal)) {
  publisher_.Publish(model_);
  ReportPrivacy();
}

void TaskRunner::ReportPrivacy() {
  if (observer_ == nullptr || !DpEnabled(config())) return;
  observer_->OnPrivacySpent(task_id(), task_.privacy().epsilon_spent(),
                            task_.privacy().epsilon_budget());
}

cohort::v1::RoundPrivacy TaskRunner::ChargeCurrentRound(const AggregateResult* result,
                                                        cohort::v1::Task* task) {
  const cohort::v1::RoundPrivacy charged =
      ChargeRound(config(), current_->codec().dp(), result, task->mutable_privacy());
  current_->RecordPrivacy(charged);
  COHORT_LOG_INFO("privacy charged task={} round={} round_epsilon={} epsilon_spent={} budget={}",
                  task_id(), current_->round_number(), charged.round_epsilon(),
                  charged.epsilon_spent(), task->privacy().epsilon_budget());
  return charged;
}

absl::Status TaskRunner::CheckServed() const {
  if (refusal_.ok() && task_.privacy().exhausted()) {
    return absl::FailedPreconditionError(
        absl::StrCat("task ", task_id(), " cannot run rounds: ", task_.privacy().stop_reason()));
  }
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
  if (uncertain_commit_.has_value()) {
    absl::StatusOr<cohort::v1::Model> latest = store_->GetLatestModel(task_id());
    if (!latest.ok()) return false;
    if (latest->version() > model_->version()) {
      absl::StatusOr<cohort::v1::Task> stored = store_->GetTask(task_id());
      if (!stored.ok()) return false;
      const int64_t round = uncertain_commit_->summary.round_number();
      COHORT_LOG_WARN("round committed although its commit reported an error task={} round={} "
                      "model={}",
                      task_id(), round, latest->version());
      // The round's record says FAILED (or is waiting to): put back what the commit wrote.
      std::erase_if(unsaved_rounds_,
                    [&](const cohort::v1::RoundSummary& r) { return r.round_number() == round; });
      unsaved_rounds_.push_back(uncertain_commit_->summary);
      task_.set_latest_model_version(latest->version());
      task_.set_rounds_committed(stored->rounds_committed());
      task_.set_rounds_failed(std::max<int64_t>(0, task_.rounds_failed() - 1));
      // The stored task carries that commit's privacy charge; the local one charged it too.
      if (stored->has_privacy()) *task_.mutable_privacy() = stored->privacy();
      model_ = std::make_shared<const cohort::v1::Model>(*std::move(latest));
      // The state that commit wrote with the version, which is now the latest.
      optimizer_state_ = std::move(uncertain_commit_->optimizer_state);
      publisher_.Publish(model_);
      task_unsaved_ = true;
    }
    uncertain_commit_.reset();
  }
  while (!unsaved_rounds_.empty()) {
    if (!store_->PutRound(unsaved_rounds_.front()).ok()) return false;
    unsaved_rounds_.pop_front();
  }
  if (task_unsaved_) Persist();
  return !task_unsaved_;
}

void TaskRunner::ObserveArrival(const std::string& pseudonym, absl::Time now) {
  const absl::Duration tau = arrivals_.time_constant();
  auto [it, inserted] = last_arrival_.try_emplace(pseudonym, now);
  if (!inserted) {
    if (now - it->second < tau) return;
    it->second = now;
  }
  arrivals_.Observe(now);
  // Forget devices not counted for a time constant; sweeping when the map has doubled keeps
  // the cost amortized O(1) and the map near one time constant of distinct arrivals.
  if (last_arrival_.size() > 2 * last_arrival_swept_size_ + 1024) {
    for (auto entry = last_arrival_.begin(); entry != last_arrival_.end();) {
      if (now - entry->second >= tau) {
        last_arrival_.erase(entry++);
      } else {
        ++entry;
      }
    }
    last_arrival_swept_size_ = last_arrival_.size();
  }
}

RoundEvent TaskRunner::MakeEvent(RoundEvent::Kind kind, absl::Time now,
                                 const std::string& message, const Round* round) const {
  RoundEvent event;
  event.set_kind(kind);
  ToProto(now, event.mutable_time());
  event.set_task_id(task_id());
  event.set_message(message);
  if (round != nullptr) {
    event.set_round_number(round->round_number());
    event.set_phase(round->phase());
    *event.mutable_round() = round->Summary();
  }
  return event;
}

void TaskRunner::Emit(RoundEvent::Kind kind, absl::Time now, const std::string& message) {
  if (observer_ == nullptr) return;
  const Round* round = current_ != nullptr ? current_.get()
                       : recent_.empty()   ? nullptr
                                           : recent_.back().get();
  if (kind == RoundEvent::KIND_TASK_STATE_CHANGED) round = nullptr;
  observer_->OnEvent(MakeEvent(kind, now, message, round));
}

RoundEvent TaskRunner::CurrentState(absl::Time now) const {
  return MakeEvent(RoundEvent::KIND_CURRENT_STATE, now, cohort::v1::TaskState_Name(task().state()),
                   current_.get());
}

absl::Status TaskRunner::StartRounds(int64_t count, bool continuous, bool evaluation_only,
                                     absl::Time now) {
  if (!continuous && count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("count must be >= 1 unless continuous is set, got ", count));
  }
  if (evaluation_only && continuous) {
    return absl::InvalidArgumentError("evaluation_only rounds need a count, not continuous");
  }
  if (evaluation_only && !config().evaluation().enabled()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "task ", task_id(), " cannot run evaluation rounds: config.evaluation.enabled is false"));
  }
  if (absl::Status s = CheckServed(); !s.ok()) return s;
  if (evaluation_only) {
    task_.set_evaluation_rounds_remaining(task_.evaluation_rounds_remaining() + count);
  } else if (continuous) {
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
  SetState(MoreRoundsWanted() ? cohort::v1::TASK_STATE_RUNNING : cohort::v1::TASK_STATE_IDLE,
           now);
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
  const int64_t queued = task_.rounds_remaining() + task_.evaluation_rounds_remaining();
  const bool more = task_.continuous() || queued > 1 || (queued == 1 && current_ == nullptr);
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
  if (!MoreRoundsWanted()) {
    SetState(cohort::v1::TASK_STATE_IDLE, now);
    Persist();
    return;
  }
  if (DpEnabled(config())) {
    if (absl::Status s =
            CheckNextRound(config(), ParameterCount(model_->layout()), task_.mutable_privacy());
        !s.ok()) {
      // Never overspend: the round is not opened, and the task says why.
      COHORT_LOG_WARN("task paused task={} reason={}", task_id(), std::string(s.message()));
      SetState(cohort::v1::TASK_STATE_PAUSED, now);
      Emit(RoundEvent::KIND_TASK_STATE_CHANGED, now, std::string(s.message()));
      Persist();
      return;
    }
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
  // Evaluation-only rounds go first: they were asked for the model as it is now.
  setup.evaluation_only = task_.evaluation_rounds_remaining() > 0;
  setup.dp_clip_norm = task_.privacy().clip_norm();
  setup.secagg_parameters = parameters_;
  setup.key_verifier = key_verifier_;
  setup.upload_budget = upload_budget_;
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
  if (absl::Status s = current_->RecordEvaluation(); !s.ok()) {
    if (current_->evaluation_only()) {
      current_->Fail(absl::StrCat("evaluation failed: ", s.message()), now);
      return;
    }
    // The counts are only reported; the update still commits.
    COHORT_LOG_WARN("round evaluation dropped task={} round={} error={}", task_id(),
                    current_->round_number(), s.ToString());
  }
  if (current_->evaluation_only()) return CommitEvaluation(now);
  absl::StatusOr<AggregateResult> result = current_->Aggregate();
  absl::StatusOr<codec::OptimizerStep> step =
      result.ok() ? optimizer_->Apply(*model_, result->average_delta, optimizer_state_)
                  : absl::StatusOr<codec::OptimizerStep>(result.status());
  const bool dp = current_->codec().has_dp();
  if (!step.ok()) {
    // The server has decoded the noisy sum (or tried to): a DP round is spent all the same.
    if (dp) {
      ChargeCurrentRound(result.ok() ? &*result : nullptr, &task_);
      ReportPrivacy();
    }
    current_->Fail(absl::StrCat("aggregation failed: ", step.status().message()), now);
    return;
  }
  cohort::v1::Model* next = &step->model;
  // The optimizers work on the flat parameters; the version keeps its base's layer graph.
  if (model_->has_graph()) *next->mutable_graph() = model_->graph();
  next->set_optimizer_kind(optimizer_->kind());
  next->set_optimizer_state_version(step->state.steps);
  const cohort::v1::ServerOptimizerState state =
      codec::StateToProto(optimizer_->kind(), step->state);
  cohort::v1::Task task = task_;
  cohort::v1::RoundPrivacy charged;
  if (dp) charged = ChargeCurrentRound(&*result, &task);
  task.set_latest_model_version(next->version());
  task.set_rounds_committed(task.rounds_committed() + 1);
  if (!task.continuous())
    task.set_rounds_remaining(std::max<int64_t>(0, task.rounds_remaining() - 1));
  task.clear_current_round();
  cohort::v1::RoundSummary summary = current_->Summary();
  summary.set_phase(cohort::v1::ROUND_PHASE_COMMITTED);
  summary.set_new_model_version(next->version());
  ToProto(now, summary.mutable_ended_at());
  if (absl::Status s = store_->CommitRound(summary, *next, task, state); !s.ok()) {
    // The transaction may have committed with only its acknowledgement lost: ask the store.
    absl::StatusOr<cohort::v1::Model> latest = store_->GetLatestModel(task_id());
    if (!latest.ok()) {
      // Checked again before the next round opens.
      uncertain_commit_ = UncertainCommit{summary, step->state};
    } else if (latest->version() == next->version()) {
      COHORT_LOG_WARN("commit reported an error but landed task={} round={} model={} error={}",
                      task_id(), current_->round_number(), next->version(), s.ToString());
      s = absl::OkStatus();
    }
    if (!s.ok()) {
      // Whether or not the commit landed, the noisy sum was seen: keep the charge (EndRound
      // persists the task; if the commit did land, CatchUpWithStore takes the stored charge).
      if (dp) {
        *task_.mutable_privacy() = task.privacy();
        ReportPrivacy();
      }
      current_->Fail(absl::StrCat("commit failed: ", s.message()), now);
      return;
    }
  }
  task_ = std::move(task);
  if (dp) ReportPrivacy();
  model_ = std::make_shared<const cohort::v1::Model>(std::move(*next));
  optimizer_state_ = std::move(step->state);
  current_->MarkCommitted(model_->version(), now);
  publisher_.Publish(model_);
  COHORT_LOG_INFO("round committed task={} round={} contributors={} total_weight={} model={}",
                  task_id(), current_->round_number(), result->contributors, result->total_weight,
                  model_->version());
}

void TaskRunner::CommitEvaluation(absl::Time now) {
  // Nothing of the model changes, so the round and the task are written one after the other: a
  // crash between them costs one evaluation round's counter, never a model version.
  cohort::v1::RoundSummary summary = current_->Summary();
  summary.set_phase(cohort::v1::ROUND_PHASE_COMMITTED);
  summary.set_new_model_version(model_->version());
  ToProto(now, summary.mutable_ended_at());
  if (absl::Status s = store_->PutRound(summary); !s.ok()) {
    current_->Fail(absl::StrCat("storing the evaluation failed: ", s.message()), now);
    return;
  }
  task_.set_rounds_committed(task_.rounds_committed() + 1);
  task_.set_evaluation_rounds_remaining(
      std::max<int64_t>(0, task_.evaluation_rounds_remaining() - 1));
  Persist();
  current_->MarkCommitted(model_->version(), now);
  const cohort::v1::EvaluationMetrics& m = summary.evaluation();
  COHORT_LOG_INFO("evaluation round committed task={} round={} model={} examples={} accuracy={}",
                  task_id(), current_->round_number(), model_->version(), m.examples(),
                  m.accuracy());
}

bool TaskRunner::MoreRoundsWanted() const {
  return task_.continuous() || task_.rounds_remaining() > 0 ||
         task_.evaluation_rounds_remaining() > 0;
}

void TaskRunner::EndRound(absl::Time now) {
  const bool committed = current_->phase() == cohort::v1::ROUND_PHASE_COMMITTED;
  if (!committed) {
    task_.set_rounds_failed(task_.rounds_failed() + 1);
    if (current_->evaluation_only()) {
      task_.set_evaluation_rounds_remaining(
          std::max<int64_t>(0, task_.evaluation_rounds_remaining() - 1));
    } else if (!task_.continuous()) {
      task_.set_rounds_remaining(std::max<int64_t>(0, task_.rounds_remaining() - 1));
    }
    COHORT_LOG_WARN("round failed task={} round={} reason={}", task_id(), current_->round_number(),
                    current_->failure_reason());
    if (absl::Status s = store_->PutRound(current_->Summary()); !s.ok()) {
      COHORT_LOG_WARN("cannot persist round; retrying when the store is back task={} error={}",
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
  if (observer_ != nullptr) {
    observer_->OnRoundEnded(task_id(), committed ? "committed" : "failed");
  }
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
        observer_->OnPhaseClosed(task_id(), change.from, change.phase_duration, change.dropped);
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
