#include "server/core/coordinator.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/logging.h"
#include "codec/model.h"
#include "model/onnx/onnx_import.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/core/device_identity.h"
#include "server/core/dp_task.h"
#include "secagg/signed_messages.h"
#include "secagg/signing.h"
#include "server/core/task_config.h"

namespace cohort::server {
namespace {

using cohort::v1::CheckInResponse;

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t s = absl::ToInt64Seconds(d);
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d - absl::Seconds(s))));
}

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t s = absl::ToUnixSeconds(t);
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))));
}

absl::Status ValidateCheckIn(const cohort::v1::CheckInRequest& r, int sdk_major) {
  if (absl::Status s =
          ValidateDeviceIdentity(r.population(), r.device_id(), r.sdk_version(), sdk_major);
      !s.ok()) {
    return s;
  }
  const int32_t battery = r.eligibility().battery_percent();
  if (battery < 0 || battery > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("eligibility.battery_percent must be in [0, 100], got ", battery));
  }
  absl::StatusOr<secagg::VerifyingKey> key = secagg::VerifyingKey::FromBytes(r.device_public_key());
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("device_public_key must be an Ed25519 key: ", key.status().message()));
  }
  if (absl::Status s = key->Verify(secagg::CheckInMessage(r.population(), r.device_id()),
                                   r.device_key_signature());
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "device_key_signature does not verify under device_public_key: ", s.message()));
  }
  return absl::OkStatus();
}

// Empty when eligible, else why not.
std::string Ineligibility(const cohort::v1::EligibilityPolicy& policy,
                          const cohort::v1::DeviceEligibility& e) {
  if (policy.require_charging() && !e.charging()) return "the task requires a charging device";
  if (policy.require_unmetered_network() && !e.unmetered_network()) {
    return "the task requires an unmetered network";
  }
  if (policy.require_idle() && !e.idle()) return "the task requires an idle device";
  if (e.battery_percent() < policy.min_battery_percent()) {
    return absl::StrCat("the task requires a battery of at least ", policy.min_battery_percent(),
                        "%");
  }
  return "";
}

class OsRandomSource : public secagg::RandomSource {
 public:
  void Fill(absl::Span<uint8_t> out) override { secagg::OsRandom()->Fill(out); }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(CoordinatorOptions options) {
  if (options.store == nullptr) return absl::InvalidArgumentError("store is required");
  if (options.clock == nullptr) options.clock = Clock::Real();
  if (options.random == nullptr) options.random = secagg::OsRandom();
  if (options.session_key.empty()) options.session_key = RandomKey();
  absl::StatusOr<std::unique_ptr<SessionTokenSigner>> signer =
      SessionTokenSigner::Create(options.session_key);
  if (!signer.ok()) return signer.status();
  if (options.max_wait <= absl::ZeroDuration()) options.max_wait = absl::Seconds(30);
  return std::unique_ptr<Coordinator>(new Coordinator(std::move(options), std::move(*signer)));
}

Coordinator::Coordinator(CoordinatorOptions options, std::unique_ptr<SessionTokenSigner> signer)
    : options_(std::move(options)),
      signer_(std::move(signer)),
      upload_budget_(options_.upload_buffer_bytes) {
  pseudonym_salt_ = options_.pseudonym_salt.empty()
                        ? DevicePseudonym(options_.session_key, "pseudonym salt")
                        : options_.pseudonym_salt;
  uint64_t seed = options_.sampling_seed;
  if (seed == 0) {
    options_.random->Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(&seed), sizeof(seed)));
  }
  sampler_.seed(seed);
}

TaskRunner::Services Coordinator::RunnerServices() const {
  TaskRunner::Services services;
  services.store = options_.store;
  services.observer = options_.observer;
  services.random = options_.random;
  services.key_verifier = options_.key_verifier;
  services.offenders = options_.offenders;
  services.upload_budget = &upload_budget_;
  return services;
}

void Coordinator::Audit(const std::string& action, const std::string& task_id,
                        const std::string& detail) {
  AuditEntry entry;
  entry.time = options_.clock->Now();
  entry.actor = "admin";
  entry.action = action;
  entry.task_id = task_id;
  entry.detail = detail;
  if (absl::Status s = options_.store->AppendAudit(entry); !s.ok()) {
    COHORT_LOG_WARN("cannot append audit entry action={} error={}", action, s.ToString());
  }
}

absl::Status Coordinator::Recover() {
  absl::StatusOr<int> failed = options_.store->FailUnfinishedRounds("server restart");
  if (!failed.ok()) return failed.status();
  absl::StatusOr<std::vector<cohort::v1::Task>> tasks = options_.store->ListTasks();
  if (!tasks.ok()) return tasks.status();
  // Runners are built outside the lock: with secure aggregation each computes its task's
  // parameter table, a search that must not stall device calls.
  std::vector<std::unique_ptr<TaskRunner>> recovered;
  for (cohort::v1::Task& task : *tasks) {
    absl::StatusOr<cohort::v1::Model> model = options_.store->GetLatestModel(task.task_id());
    if (!model.ok()) return model.status();
    absl::StatusOr<std::vector<cohort::v1::RoundSummary>> last =
        options_.store->ListRounds(task.task_id(), 0, 1);
    if (!last.ok()) return last.status();
    const int64_t last_round = last->empty() ? 0 : last->front().round_number();
    // The optimizer resumes from the state committed with the latest model.
    std::optional<cohort::v1::ServerOptimizerState> state;
    if (model->version() > 0) {
      absl::StatusOr<cohort::v1::ServerOptimizerState> stored =
          options_.store->GetOptimizerState(task.task_id(), model->version());
      if (stored.ok()) {
        state = *std::move(stored);
      } else if (!absl::IsNotFound(stored.status())) {
        return stored.status();
      }
    }
    absl::StatusOr<std::unique_ptr<TaskRunner>> runner =
        TaskRunner::Create(std::move(task), std::move(*model), last_round, std::move(state),
                           RunnerServices());
    if (!runner.ok()) return runner.status();
    absl::StatusOr<std::string> calibration =
        options_.store->GetCalibrationData((*runner)->task_id());
    if (!calibration.ok()) return calibration.status();
    if (!calibration->empty()) (*runner)->publisher().SetCalibrationData(*std::move(calibration));
    recovered.push_back(std::move(*runner));
  }
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  for (std::unique_ptr<TaskRunner>& runner : recovered) {
    if (by_id_.contains(runner->task_id())) continue;
    by_id_[runner->task_id()] = runner.get();
    runners_.push_back(std::move(runner));
    runners_.back()->Sync(now);
  }
  COHORT_LOG_INFO("recovered tasks={} failed_rounds={}", runners_.size(), *failed);
  return absl::OkStatus();
}

absl::StatusOr<TaskRunner*> Coordinator::FindTask(const std::string& task_id) {
  auto it = by_id_.find(task_id);
  if (it == by_id_.end()) {
    return absl::NotFoundError(absl::StrCat("task '", task_id, "' does not exist"));
  }
  return it->second;
}

absl::StatusOr<cohort::v1::Task> Coordinator::CreateTask(
    const cohort::v1::CreateTaskRequest& request) {
  cohort::v1::TaskConfig requested = request.config();
  if (!request.onnx_model().empty()) {
    if (requested.has_graph() || requested.has_initial_model()) {
      return absl::InvalidArgumentError(
          "onnx_model sets the graph and the initial parameters; config.graph and "
          "config.initial_model must be unset");
    }
    absl::StatusOr<model::ImportedModel> imported = model::ImportOnnx(request.onnx_model());
    if (!imported.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("onnx_model: ", imported.status().message()));
    }
    *requested.mutable_graph() = std::move(imported->graph);
    requested.mutable_initial_model()->set_parameters(
        codec::FloatsToBytes(imported->parameters));
  }
  absl::StatusOr<cohort::v1::TaskConfig> config = ValidateTaskConfig(std::move(requested));
  if (!config.ok()) return config.status();
  if (absl::Status s = CheckThreatModelServed(config->secagg(), options_.key_verifier != nullptr);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<cohort::v1::Model> model = InitialModel(*config);
  if (!model.ok()) return model.status();
  cohort::v1::Task task;
  std::string nonce(4, '\0');
  options_.random->Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size()));
  std::string base = config->population();
  std::replace(base.begin(), base.end(), '/', '-');
  task.set_task_id(absl::StrCat(base, "-", absl::BytesToHexString(nonce)));
  *task.mutable_config() = *config;
  task.set_state(cohort::v1::TASK_STATE_IDLE);
  task.set_latest_model_version(model->version());
  if (DpEnabled(*config)) *task.mutable_privacy() = InitialPrivacyBudget(*config);
  ToProto(options_.clock->Now(), task.mutable_created_at());
  // The runner first: whatever it refuses is refused before anything is stored.
  absl::StatusOr<std::unique_ptr<TaskRunner>> runner =
      TaskRunner::Create(task, *model, 0, std::nullopt, RunnerServices());
  if (!runner.ok()) return runner.status();
  if (absl::Status s = options_.store->CreateTask(task, *model); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    by_id_[task.task_id()] = runner->get();
    runners_.push_back(std::move(*runner));
  }
  Audit("CreateTask", task.task_id(), config->population());
  COHORT_LOG_INFO("task created task={} population={}", task.task_id(), config->population());
  return task;
}

absl::StatusOr<cohort::v1::Task> Coordinator::GetTask(const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<TaskRunner*> runner = FindTask(task_id);
  if (!runner.ok()) return runner.status();
  return (*runner)->task();
}

absl::StatusOr<cohort::v1::ListTasksResponse> Coordinator::ListTasks() {
  absl::MutexLock lock(&mu_);
  cohort::v1::ListTasksResponse response;
  for (const auto& runner : runners_) *response.add_tasks() = runner->task();
  return response;
}

absl::StatusOr<std::vector<cohort::v1::RoundEvent>> Coordinator::CurrentState(
    const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  std::vector<cohort::v1::RoundEvent> events;
  if (!task_id.empty()) {
    absl::StatusOr<TaskRunner*> runner = FindTask(task_id);
    if (!runner.ok()) return runner.status();
    events.push_back((*runner)->CurrentState(now));
    return events;
  }
  for (const auto& runner : runners_) events.push_back(runner->CurrentState(now));
  return events;
}

absl::StatusOr<cohort::v1::Task> Coordinator::StartRounds(
    const cohort::v1::StartRoundsRequest& request) {
  cohort::v1::Task task;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<TaskRunner*> runner = FindTask(request.task_id());
    if (!runner.ok()) return runner.status();
    if (absl::Status s =
            (*runner)->StartRounds(request.count(), request.continuous(), request.evaluation_only(),
                                  options_.clock->Now());
        !s.ok()) {
      return s;
    }
    task = (*runner)->task();
  }
  Audit("StartRounds", request.task_id(),
        request.continuous() ? "continuous" : absl::StrCat("count=", request.count()));
  return task;
}

absl::StatusOr<cohort::v1::Task> Coordinator::PauseTask(const std::string& task_id) {
  cohort::v1::Task task;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<TaskRunner*> runner = FindTask(task_id);
    if (!runner.ok()) return runner.status();
    if (absl::Status s = (*runner)->Pause(options_.clock->Now()); !s.ok()) return s;
    task = (*runner)->task();
  }
  Audit("PauseTask", task_id, "");
  return task;
}

absl::StatusOr<cohort::v1::Task> Coordinator::ResumeTask(const std::string& task_id) {
  cohort::v1::Task task;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<TaskRunner*> runner = FindTask(task_id);
    if (!runner.ok()) return runner.status();
    if (absl::Status s = (*runner)->Resume(options_.clock->Now()); !s.ok()) return s;
    task = (*runner)->task();
  }
  Audit("ResumeTask", task_id, "");
  return task;
}

absl::StatusOr<cohort::v1::Task> Coordinator::AbortRound(
    const cohort::v1::AbortRoundRequest& request) {
  cohort::v1::Task task;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<TaskRunner*> runner = FindTask(request.task_id());
    if (!runner.ok()) return runner.status();
    if (absl::Status s = (*runner)->AbortRound(request.reason(), options_.clock->Now()); !s.ok()) {
      return s;
    }
    task = (*runner)->task();
  }
  Audit("AbortRound", request.task_id(), request.reason());
  return task;
}

absl::StatusOr<cohort::v1::ListRoundsResponse> Coordinator::ListRounds(
    const cohort::v1::ListRoundsRequest& request) {
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be in [0, 1000], got ", request.page_size()));
  }
  if (request.before_round() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("before_round must be >= 0, got ", request.before_round()));
  }
  std::optional<cohort::v1::RoundSummary> live;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<TaskRunner*> runner = FindTask(request.task_id());
    if (!runner.ok()) return runner.status();
    if ((*runner)->current() != nullptr) live = (*runner)->current()->Summary();
  }
  const int32_t limit = request.page_size() == 0 ? 100 : request.page_size();
  absl::StatusOr<std::vector<cohort::v1::RoundSummary>> rounds =
      options_.store->ListRounds(request.task_id(), request.before_round(), limit);
  if (!rounds.ok()) return rounds.status();
  cohort::v1::ListRoundsResponse response;
  for (auto& round : *rounds) {
    // The round in flight has fresher metrics in memory than in the store.
    if (live.has_value() && round.round_number() == live->round_number()) round = *live;
    *response.add_rounds() = std::move(round);
  }
  return response;
}

absl::StatusOr<cohort::v1::Model> Coordinator::GetModel(const std::string& task_id,
                                                        std::optional<int64_t> version) {
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<TaskRunner*> runner = FindTask(task_id);
    if (!runner.ok()) return runner.status();
    if (!version.has_value() || *version == (*runner)->model()->version()) {
      return *(*runner)->model();
    }
  }
  if (*version < 0) {
    return absl::InvalidArgumentError(absl::StrCat("version must be >= 0, got ", *version));
  }
  return options_.store->GetModel(task_id, *version);
}

// ---------------------------------------------------------------------------------------------
// Device API.

std::string Coordinator::MintToken(const Round& round, int32_t index, const std::string& pseudonym,
                                   const cohort::v1::TaskConfig& config, absl::Time now) const {
  const auto& d = config.deadlines();
  // Long enough for the whole round (forming may be extended) plus a resume after it ended.
  const absl::Duration lifetime = 4 * FromProto(d.forming()) + FromProto(d.advertise_keys()) +
                                  FromProto(d.share_keys()) + FromProto(d.masked_input()) +
                                  FromProto(d.unmasking()) + absl::Hours(1);
  SessionClaims claims;
  claims.round_id = round.round_id();
  claims.participant_index = index;
  claims.device_pseudonym = pseudonym;
  claims.expires_at = now + lifetime;
  return signer_->Mint(claims);
}

CheckInResponse Coordinator::RetryLaterResponse(TaskRunner* runner, absl::Time now,
                                                const std::string& reason,
                                                absl::Duration at_least) {
  RetryInputs in;
  in.reason = reason;
  if (runner != nullptr) {
    in.until_next_forming = std::max(at_least, runner->UntilNextForming(now));
    in.forming_window = FromProto(runner->config().deadlines().forming());
    in.selection_target = SelectionTarget(runner->config());
    in.recent_population = runner->arrivals().RecentPopulation(now);
  } else {
    in.until_next_forming = std::max(at_least, absl::Minutes(5));
  }
  const RetryWindow window = ComputeRetryWindow(in);
  CheckInResponse response;
  auto* retry = response.mutable_retry_later();
  ToProto(window.min_delay, retry->mutable_min_delay());
  ToProto(window.max_delay, retry->mutable_max_delay());
  retry->set_reason(window.reason);
  return response;
}

absl::StatusOr<CheckInResponse> Coordinator::CheckIn(const cohort::v1::CheckInRequest& request) {
  if (absl::Status s = ValidateCheckIn(request, options_.sdk_major_version); !s.ok()) {
    if (options_.observer != nullptr) {
      absl::MutexLock lock(&mu_);
      options_.observer->OnCheckIn("invalid");
    }
    return s;
  }
  const std::string pseudonym = DevicePseudonym(pseudonym_salt_, request.device_id());
  // Which tasks might take the device, and their cool-downs: read outside the lock, because a
  // database store may take a while.
  std::vector<std::pair<std::string, absl::Duration>> candidates;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& runner : runners_) {
      if (runner->config().population() == request.population()) {
        candidates.emplace_back(runner->task_id(), FromProto(runner->config().device_cooldown()));
      }
    }
  }
  if (candidates.empty()) {
    return absl::NotFoundError(absl::StrCat("population '", request.population(), "' has no task"));
  }
  absl::flat_hash_map<std::string, absl::Time> cooling_until;
  for (const auto& [task_id, cooldown] : candidates) {
    if (cooldown <= absl::ZeroDuration()) continue;
    absl::StatusOr<std::optional<absl::Time>> last =
        options_.store->LastSelected(task_id, pseudonym);
    if (!last.ok()) return last.status();
    if (last->has_value()) cooling_until[task_id] = **last + cooldown;
  }

  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  auto accept = [&](TaskRunner* runner, Round* round, int32_t index) {
    CheckInResponse response;
    auto* accepted = response.mutable_accepted();
    accepted->set_session_token(MintToken(*round, index, pseudonym, runner->config(), now));
    accepted->set_task_id(runner->task_id());
    accepted->set_round_number(round->round_number());
    accepted->set_round_id(round->round_id());
    return response;
  };
  const DeviceIdentity identity{request.device_public_key(), request.device_credential()};
  // A device already in a live round resumes it (it lost its token, or its answer was lost),
  // but only with the key it was admitted with: knowing a device's id is not enough.
  for (const auto& [task_id, unused] : candidates) {
    TaskRunner* runner = by_id_[task_id];
    Round* round = runner->current();
    if (round == nullptr || round->ended()) continue;
    if (round->IndexOf(pseudonym).has_value()) {
      absl::StatusOr<int32_t> index = round->Admit(pseudonym, identity, now);
      if (!index.ok()) {
        if (options_.observer != nullptr) options_.observer->OnCheckIn("key_mismatch");
        return index.status();
      }
      if (options_.observer != nullptr) options_.observer->OnCheckIn("resumed");
      return accept(runner, round, *index);
    }
  }
  TaskRunner* fallback = nullptr;
  std::string reason = "no round is forming";
  absl::Duration at_least = absl::ZeroDuration();
  std::string outcome = "no_round";
  for (const auto& [task_id, unused] : candidates) {
    TaskRunner* runner = by_id_[task_id];
    if (fallback == nullptr) fallback = runner;
    const std::string ineligible =
        Ineligibility(runner->config().eligibility(), request.eligibility());
    if (!ineligible.empty()) {
      reason = ineligible;
      outcome = "ineligible";
      at_least = std::max(at_least, absl::Minutes(10));
      continue;
    }
    if (std::optional<absl::Time> until = runner->CoolingOffUntil(pseudonym, now)) {
      reason = absl::StrCat(
          "the device was excluded from recent rounds (its share bundles did not open); it may "
          "take part again after ",
          absl::FormatTime(*until));
      outcome = "offender";
      at_least = std::max(at_least, *until - now);
      fallback = runner;
      continue;
    }
    if (runner->config().secagg().enabled() &&
        runner->config().secagg().threat_model() == cohort::v1::THREAT_MODEL_SEMI_MALICIOUS) {
      // Only devices whose keys are vouched for may stand in a neighbourhood.
      const absl::Status authentic =
          options_.key_verifier == nullptr
              ? absl::FailedPreconditionError("no key-authenticity verifier")
              : options_.key_verifier->Verify(
                    *secagg::VerifyingKey::FromBytes(request.device_public_key()),
                    request.device_credential(), now);
      if (!authentic.ok()) {
        reason = absl::StrCat("the task requires a device credential for its key: ",
                              authentic.message());
        outcome = "ineligible";
        at_least = std::max(at_least, absl::Minutes(10));
        continue;
      }
    }
    if (auto it = cooling_until.find(task_id); it != cooling_until.end() && it->second > now) {
      reason = absl::StrCat("the device took part recently; cool-down ends at ",
                            absl::FormatTime(it->second));
      outcome = "cooling_down";
      at_least = std::max(at_least, it->second - now);
      fallback = runner;
      continue;
    }
    // Supply of devices that could take part (eligible, not cooling down), for pace steering.
    runner->ObserveArrival(pseudonym, now);
    Round* round = runner->current();
    if (round == nullptr || round->phase() != cohort::v1::ROUND_PHASE_FORMING ||
        round->open_slots() == 0) {
      fallback = runner;
      continue;
    }
    AdmissionInputs in;
    in.open_slots = round->open_slots();
    in.selection_target = round->selection_target();
    in.arrivals_per_second = runner->arrivals().PerSecond(now);
    in.recent_population = runner->arrivals().RecentPopulation(now);
    in.remaining_forming = round->phase_deadline() - now;
    const double p = AdmissionProbability(in);
    if (p < 1 && std::uniform_real_distribution<double>(0, 1)(sampler_) >= p) {
      reason = "not sampled for this round";
      outcome = "not_sampled";
      fallback = runner;
      continue;
    }
    absl::StatusOr<int32_t> index = round->Admit(pseudonym, identity, now);
    if (!index.ok()) continue;
    CheckInResponse response = accept(runner, round, *index);
    if (options_.observer != nullptr) options_.observer->OnCheckIn("accepted");
    runner->Sync(now);
    return response;
  }
  if (options_.observer != nullptr) options_.observer->OnCheckIn(outcome);
  return RetryLaterResponse(fallback, now, reason, at_least);
}

absl::StatusOr<Coordinator::Session> Coordinator::Authenticate(absl::string_view token,
                                                               absl::Time now) {
  absl::StatusOr<SessionClaims> claims = signer_->Verify(token, now);
  if (!claims.ok()) return claims.status();
  for (const auto& runner : runners_) {
    if (Round* round = runner->FindRound(claims->round_id); round != nullptr) {
      if (absl::Status s =
              round->CheckParticipant(claims->participant_index, claims->device_pseudonym);
          !s.ok()) {
        return s;
      }
      return Session{runner.get(), round, claims->participant_index};
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "round ", claims->round_id, " is over or unknown to this server; check in again"));
}

absl::StatusOr<Coordinator::Poll> Coordinator::PollPhase(
    const cohort::v1::WaitForPhaseRequest& request) {
  absl::Duration max_wait = FromProto(request.max_wait());
  if (max_wait < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_wait must be >= 0, got ", absl::FormatDuration(max_wait)));
  }
  max_wait = std::min(max_wait, options_.max_wait);
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Session> session = Authenticate(request.session_token(), now);
  if (!session.ok()) return session.status();
  session->runner->Sync(now);
  Poll poll;
  poll.round_id = session->round->round_id();
  poll.max_wait = max_wait;
  cohort::v1::RoundUpdate update = session->round->UpdateFor(session->index);
  if (request.known_phase() == cohort::v1::ROUND_PHASE_UNSPECIFIED ||
      update.phase() != request.known_phase() ||
      update.participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED ||
      max_wait == absl::ZeroDuration()) {
    poll.update = std::move(update);
  }
  return poll;
}

absl::StatusOr<cohort::v1::RoundUpdate> Coordinator::CurrentUpdate(
    const std::string& session_token) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Session> session = Authenticate(session_token, now);
  if (!session.ok()) return session.status();
  return session->round->UpdateFor(session->index);
}

absl::StatusOr<ModelChunkView> Coordinator::DownloadModel(
    const cohort::v1::DownloadModelRequest& request) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Session> session = Authenticate(request.session_token(), now);
  if (!session.ok()) return session.status();
  absl::StatusOr<ModelChunkView> chunk = session->round->DownloadModel(session->index, request);
  if (chunk.ok() && options_.observer != nullptr) {
    options_.observer->OnBytes(session->runner->task_id(), "download",
                               static_cast<int64_t>(chunk->data.size()));
  }
  return chunk;
}

absl::Status Coordinator::AdvertiseKeys(const cohort::v1::AdvertiseKeysRequest& request) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Session> session = Authenticate(request.session_token(), now);
  if (!session.ok()) return session.status();
  session->runner->Sync(now);  // a late call must see the phase the deadline moved to
  absl::Status s = session->round->AdvertiseKeys(session->index, request, now);
  if (s.ok() && options_.observer != nullptr) {
    options_.observer->OnBytes(session->runner->task_id(), "upload", static_cast<int64_t>(request.ByteSizeLong()));
  }
  session->runner->Sync(now);
  return s;
}

absl::Status Coordinator::ShareKeys(const cohort::v1::ShareKeysRequest& request) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Session> session = Authenticate(request.session_token(), now);
  if (!session.ok()) return session.status();
  session->runner->Sync(now);
  absl::Status s = session->round->ShareKeys(session->index, request, now);
  if (s.ok() && options_.observer != nullptr) {
    options_.observer->OnBytes(session->runner->task_id(), "upload", static_cast<int64_t>(request.ByteSizeLong()));
  }
  session->runner->Sync(now);
  return s;
}

absl::Status Coordinator::ReportShares(const cohort::v1::ReportSharesRequest& request) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Session> session = Authenticate(request.session_token(), now);
  if (!session.ok()) return session.status();
  session->runner->Sync(now);
  absl::Status s = session->round->ReportShares(session->index, request, now);
  if (s.ok() && options_.observer != nullptr) {
    options_.observer->OnBytes(session->runner->task_id(), "upload", static_cast<int64_t>(request.ByteSizeLong()));
  }
  session->runner->Sync(now);
  return s;
}

absl::Status Coordinator::SignSurvivors(const cohort::v1::SignSurvivorsRequest& request) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Session> session = Authenticate(request.session_token(), now);
  if (!session.ok()) return session.status();
  session->runner->Sync(now);
  absl::Status s = session->round->SignSurvivors(session->index, request, now);
  if (s.ok() && options_.observer != nullptr) {
    options_.observer->OnBytes(session->runner->task_id(), "upload", static_cast<int64_t>(request.ByteSizeLong()));
  }
  session->runner->Sync(now);
  return s;
}

absl::StatusOr<cohort::v1::UploadMaskedInputResponse> Coordinator::UploadMaskedInput(
    const cohort::v1::UploadMaskedInputRequest& request) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Session> session = Authenticate(request.session_token(), now);
  if (!session.ok()) return session.status();
  session->runner->Sync(now);
  absl::StatusOr<cohort::v1::UploadMaskedInputResponse> response =
      session->round->UploadMaskedInput(session->index, request, now);
  if (response.ok() && options_.observer != nullptr) {
    options_.observer->OnBytes(session->runner->task_id(), "upload", static_cast<int64_t>(request.data().size()));
  }
  session->runner->Sync(now);
  return response;
}

absl::Status Coordinator::SubmitUnmasking(const cohort::v1::SubmitUnmaskingRequest& request) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Session> session = Authenticate(request.session_token(), now);
  if (!session.ok()) return session.status();
  session->runner->Sync(now);
  absl::Status s = session->round->SubmitUnmasking(session->index, request, now);
  if (s.ok() && options_.observer != nullptr) {
    options_.observer->OnBytes(session->runner->task_id(), "upload", static_cast<int64_t>(request.ByteSizeLong()));
  }
  session->runner->Sync(now);
  return s;
}

absl::Status Coordinator::Leave(const cohort::v1::LeaveRequest& request) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Session> session = Authenticate(request.session_token(), now);
  if (!session.ok()) return session.status();
  absl::Status s = session->round->Leave(session->index, request.reason(), now);
  session->runner->Sync(now);
  return s;
}

void Coordinator::AdvanceTo(absl::Time now) {
  absl::MutexLock lock(&mu_);
  for (const auto& runner : runners_) runner->Sync(now);
}

}  // namespace cohort::server
