#include "client_sdk/src/session_machine.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cohort/v1/round.pb.h"

namespace cohort::client::internal {
namespace {

constexpr int32_t kSnapshotFormat = 1;

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return absl::InfiniteFuture();
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

bool IsTransient(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* ActionKindName(Action::Kind kind) {
  switch (kind) {
    case Action::Kind::kCheckIn: return "CheckIn";
    case Action::Kind::kWaitForPhase: return "WaitForPhase";
    case Action::Kind::kDownloadModel: return "DownloadModel";
    case Action::Kind::kVerifyModel: return "VerifyModel";
    case Action::Kind::kTrain: return "Train";
    case Action::Kind::kAdvertiseKeys: return "AdvertiseKeys";
    case Action::Kind::kShareKeys: return "ShareKeys";
    case Action::Kind::kReportShares:
      return "ReportShares";
    case Action::Kind::kSignSurvivors:
      return "SignSurvivors";
    case Action::Kind::kUploadChunk: return "UploadChunk";
    case Action::Kind::kSubmitUnmasking: return "SubmitUnmasking";
    case Action::Kind::kLeave: return "Leave";
    case Action::Kind::kSleep: return "Sleep";
    case Action::Kind::kDone: return "Done";
  }
  return "?";
}

SessionMachine::SessionMachine(SessionPolicy policy, std::function<double()> uniform01)
    : policy_(policy), uniform01_(std::move(uniform01)) {}

absl::StatusOr<SessionMachine> SessionMachine::Restore(const SessionSnapshot& snapshot,
                                                       SessionPolicy policy,
                                                       std::function<double()> uniform01) {
  if (snapshot.format_version() != kSnapshotFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown session snapshot format ", snapshot.format_version()));
  }
  if (snapshot.session_token().empty()) {
    return absl::InvalidArgumentError("session snapshot without a session token");
  }
  SessionMachine machine(policy, std::move(uniform01));
  machine.session_token_ = snapshot.session_token();
  machine.task_id_ = snapshot.task_id();
  machine.round_number_ = snapshot.round_number();
  machine.round_id_ = snapshot.round_id();
  if (!snapshot.plan().empty()) {
    v1::RoundPlan plan;
    if (!plan.ParseFromString(snapshot.plan())) {
      return absl::InvalidArgumentError("session snapshot holds a plan that does not parse");
    }
    machine.plan_ = std::move(plan);
  }
  machine.keys_advertised_ = snapshot.keys_advertised();
  machine.keys_shared_ = snapshot.keys_shared();
  machine.shares_reported_ = snapshot.shares_reported();
  machine.survivors_signed_ = snapshot.survivors_signed();
  machine.input_encoded_ = snapshot.input_encoded();
  machine.next_chunk_ = snapshot.next_chunk();
  machine.upload_complete_ = snapshot.upload_complete();
  machine.unmasking_submitted_ = snapshot.unmasking_submitted();
  machine.model_downloads_ = snapshot.model_downloads();
  machine.num_examples_ = snapshot.num_examples();
  // Whatever happened while the process was gone, ask the server where the round is.
  machine.Poll(v1::ROUND_PHASE_UNSPECIFIED);
  return machine;
}

SessionSnapshot SessionMachine::Snapshot() const {
  SessionSnapshot s;
  s.set_format_version(kSnapshotFormat);
  s.set_session_token(session_token_);
  s.set_task_id(task_id_);
  s.set_round_number(round_number_);
  s.set_round_id(round_id_);
  if (plan_.has_value()) s.set_plan(plan_->SerializeAsString());
  s.set_known_phase(known_phase_);
  s.set_keys_advertised(keys_advertised_);
  s.set_keys_shared(keys_shared_);
  s.set_shares_reported(shares_reported_);
  s.set_survivors_signed(survivors_signed_);
  s.set_input_encoded(input_encoded_);
  s.set_next_chunk(next_chunk_);
  s.set_upload_complete(upload_complete_);
  s.set_unmasking_submitted(unmasking_submitted_);
  s.set_model_downloads(model_downloads_);
  s.set_num_examples(num_examples_);
  return s;
}

int64_t SessionMachine::num_chunks() const {
  if (!plan_.has_value()) return 0;
  const int64_t length = plan_->codec().vector_length();
  const int64_t per_chunk = plan_->codec().chunk_elements();
  if (length <= 0) return 0;
  if (per_chunk <= 0) return 1;
  return (length + per_chunk - 1) / per_chunk;
}

absl::Duration SessionMachine::Backoff(int attempt, double u) const {
  double factor = std::pow(policy_.multiplier, std::max(0, attempt - 1));
  absl::Duration base = policy_.initial_backoff * factor;
  if (!(base < policy_.max_backoff)) base = policy_.max_backoff;  // also catches overflow
  return base * (0.5 + 0.5 * std::clamp(u, 0.0, 1.0));
}

Action SessionMachine::Next(absl::Time now) const {
  Action action;
  if (stage_ == Stage::kDone) {
    action.kind = Action::Kind::kDone;
    action.result = result_;
    return action;
  }
  const bool is_call = stage_ != Stage::kVerify && stage_ != Stage::kTrain;
  if (is_call && now < not_before_) {
    action.kind = Action::Kind::kSleep;
    action.until = not_before_;
    return action;
  }
  switch (stage_) {
    case Stage::kCheckIn:
      action.kind = Action::Kind::kCheckIn;
      break;
    case Stage::kPoll:
      action.kind = Action::Kind::kWaitForPhase;
      action.known_phase = known_phase_;
      break;
    case Stage::kAdvertise:
      action.kind = Action::Kind::kAdvertiseKeys;
      break;
    case Stage::kShare:
      action.kind = Action::Kind::kShareKeys;
      break;
    case Stage::kReport:
      action.kind = Action::Kind::kReportShares;
      break;
    case Stage::kSign:
      action.kind = Action::Kind::kSignSurvivors;
      break;
    case Stage::kDownload:
      action.kind = Action::Kind::kDownloadModel;
      action.offset = download_offset_;
      break;
    case Stage::kVerify:
      action.kind = Action::Kind::kVerifyModel;
      break;
    case Stage::kTrain:
      action.kind = Action::Kind::kTrain;
      break;
    case Stage::kUpload:
      action.kind = Action::Kind::kUploadChunk;
      action.chunk_index = next_chunk_;
      break;
    case Stage::kUnmask:
      action.kind = Action::Kind::kSubmitUnmasking;
      break;
    case Stage::kLeave:
      action.kind = Action::Kind::kLeave;
      action.leave_reason = leave_reason_;
      break;
    case Stage::kDone:
      break;
  }
  return action;
}

void SessionMachine::OnCheckIn(const v1::CheckInResponse& response, absl::Time now) {
  if (stage_ != Stage::kCheckIn) return;
  CallSucceeded();
  if (response.has_accepted()) {
    const v1::CheckInAccepted& accepted = response.accepted();
    if (accepted.session_token().empty()) {
      Finish(absl::InternalError("server accepted the check-in without a session token"));
      return;
    }
    session_token_ = accepted.session_token();
    task_id_ = accepted.task_id();
    round_number_ = accepted.round_number();
    round_id_ = accepted.round_id();
    Poll(v1::ROUND_PHASE_UNSPECIFIED);
    return;
  }
  if (response.has_retry_later()) {
    absl::Duration lo = FromProto(response.retry_later().min_delay());
    absl::Duration hi = FromProto(response.retry_later().max_delay());
    if (lo < absl::ZeroDuration()) lo = absl::ZeroDuration();
    if (hi < lo) hi = lo;
    ParticipationOutcome outcome = BaseOutcome(OutcomeKind::kRetryLater);
    outcome.reason = response.retry_later().reason();
    // Uniform inside the window, so devices told the same window spread over it.
    outcome.retry_at = now + lo + (hi - lo) * std::clamp(uniform01_(), 0.0, 1.0);
    Finish(std::move(outcome));
    return;
  }
  Finish(absl::InternalError("server answered the check-in with neither acceptance nor retry"));
}

void SessionMachine::OnRoundUpdate(const v1::RoundUpdate& update, absl::Time now) {
  (void)now;
  if (stage_ != Stage::kPoll) return;
  transient_failures_ = 0;
  not_before_ = absl::InfinitePast();
  last_update_ = update;
  phase_deadline_ = FromProto(update.phase_deadline());
  if (update.participant_state() == v1::PARTICIPANT_STATE_DROPPED) {
    ParticipationOutcome outcome = BaseOutcome(OutcomeKind::kDropped);
    outcome.reason = update.dropped_reason().empty() ? "dropped by the server"
                                                     : update.dropped_reason();
    Finish(std::move(outcome));
    return;
  }
  if (update.has_plan() && !plan_.has_value()) {
    if (!round_id_.empty() && !update.plan().round_id().empty() &&
        update.plan().round_id() != round_id_) {
      LeaveWith(absl::InternalError("server sent the plan of another round"),
                "plan of another round");
      return;
    }
    plan_ = update.plan();
  }
  Dispatch();
}

void SessionMachine::Dispatch() {
  const v1::RoundPhase phase = last_update_.phase();
  const bool needs_plan = phase == v1::ROUND_PHASE_ADVERTISE_KEYS ||
                          phase == v1::ROUND_PHASE_SHARE_KEYS ||
                          phase == v1::ROUND_PHASE_MASKED_INPUT ||
                          phase == v1::ROUND_PHASE_UNMASKING;
  if (needs_plan && !plan_.has_value()) {
    LeaveWith(absl::InternalError(absl::StrCat("server sent phase ", v1::RoundPhase_Name(phase),
                                               " without a plan")),
              "no plan");
    return;
  }
  // An ACTIVE device in phase P did everything the phases before P asked of it: the server
  // drops a device that missed one. This also settles calls whose response was lost.
  const bool secure_round = secure();
  switch (phase) {
    case v1::ROUND_PHASE_FORMING:
      Poll(phase);
      return;
    case v1::ROUND_PHASE_ADVERTISE_KEYS:
      if (!secure_round) {
        LeaveWith(absl::InternalError("key phase in a round without secure aggregation"),
                  "inconsistent plan");
      } else if (!keys_advertised_) {
        stage_ = Stage::kAdvertise;
      } else {
        Poll(phase);
      }
      return;
    case v1::ROUND_PHASE_SHARE_KEYS:
      keys_advertised_ = true;
      if (keys_shared_) {
        Poll(phase);
      } else if (!last_update_.has_neighbour_keys()) {
        LeaveWith(absl::InternalError("SHARE_KEYS update without neighbour keys"),
                  "no neighbour keys");
      } else {
        stage_ = Stage::kShare;
      }
      return;
    case v1::ROUND_PHASE_MASKED_INPUT:
      if (secure_round) {
        keys_advertised_ = keys_shared_ = true;
        if (!upload_complete_ && !last_update_.has_incoming_shares()) {
          LeaveWith(absl::InternalError("MASKED_INPUT update without incoming shares"),
                    "no incoming shares");
          return;
        }
        if (!upload_complete_ && !shares_reported_) {
          // Before anything else: neighbours' inputs wait for this report.
          stage_ = Stage::kReport;
          return;
        }
      }
      if (upload_complete_) {
        Poll(phase);
      } else if (input_encoded_) {
        stage_ = Stage::kUpload;
      } else if (model_verified_) {
        stage_ = Stage::kTrain;
      } else if (download_offset_ >= plan_->model_size_bytes()) {
        stage_ = Stage::kVerify;
      } else {
        stage_ = Stage::kDownload;
      }
      return;
    case v1::ROUND_PHASE_CONSISTENCY_CHECK:
      upload_complete_ = true;
      if (!secure_round) {
        LeaveWith(absl::InternalError("consistency check in a round without secure aggregation"),
                  "inconsistent plan");
      } else if (survivors_signed_) {
        Poll(phase);
      } else if (!last_update_.has_consistency_check()) {
        LeaveWith(absl::InternalError("CONSISTENCY_CHECK update without the survivor set"),
                  "no survivor set");
      } else {
        stage_ = Stage::kSign;
      }
      return;
    case v1::ROUND_PHASE_UNMASKING:
      upload_complete_ = true;
      if (unmasking_submitted_ || !secure_round) {
        Poll(phase);
      } else if (!last_update_.has_unmasking()) {
        LeaveWith(absl::InternalError("UNMASKING update without an unmasking request"),
                  "no unmasking request");
      } else {
        stage_ = Stage::kUnmask;
      }
      return;
    case v1::ROUND_PHASE_COMMITTED: {
      const v1::RoundOutcome& o = last_update_.outcome();
      if (upload_complete_) {
        ParticipationOutcome outcome = BaseOutcome(OutcomeKind::kContributed);
        outcome.new_model_version = o.new_model_version();
        outcome.contributors = o.contributors();
        Finish(std::move(outcome));
      } else {
        ParticipationOutcome outcome = BaseOutcome(OutcomeKind::kDropped);
        outcome.new_model_version = o.new_model_version();
        outcome.contributors = o.contributors();
        outcome.reason = "the round committed without this device's input";
        Finish(std::move(outcome));
      }
      return;
    }
    case v1::ROUND_PHASE_FAILED: {
      ParticipationOutcome outcome = BaseOutcome(OutcomeKind::kRoundFailed);
      outcome.reason = last_update_.outcome().failure_reason();
      outcome.contributors = last_update_.outcome().contributors();
      Finish(std::move(outcome));
      return;
    }
    default:
      LeaveWith(absl::InternalError(absl::StrCat("unexpected round phase ", phase)),
                "unexpected phase");
      return;
  }
}

bool SessionMachine::OnModelChunk(const v1::ModelChunk& chunk) {
  if (stage_ != Stage::kDownload) return false;
  CallSucceeded();
  const int64_t total = plan_->model_size_bytes();
  const int64_t size = static_cast<int64_t>(chunk.data().size());
  const bool consistent =
      chunk.offset() == download_offset_ && chunk.total_size() == total &&
      chunk.model_version() == plan_->model_version() && size > 0 &&
      size <= total - download_offset_ &&
      (chunk.sha256().empty() || chunk.sha256() == plan_->model_sha256());
  if (!consistent) {
    RestartDownload("model chunk does not match the plan");
    return false;
  }
  download_offset_ += size;
  if (download_offset_ >= total) stage_ = Stage::kVerify;
  return true;
}

void SessionMachine::RestartDownload(const std::string& why) {
  ++model_downloads_;
  download_offset_ = 0;
  model_verified_ = false;
  if (model_downloads_ >= policy_.max_model_downloads) {
    LeaveWith(absl::DataLossError(absl::StrCat(why, " after ", model_downloads_, " downloads")),
              "model failed verification");
    return;
  }
  stage_ = Stage::kDownload;
}

void SessionMachine::OnModelVerified(bool checksum_matches) {
  if (stage_ != Stage::kVerify) return;
  if (!checksum_matches) {
    RestartDownload("model SHA-256 mismatch");
    return;
  }
  model_verified_ = true;
  stage_ = Stage::kTrain;
}

void SessionMachine::OnTrained(const absl::Status& status, int64_t num_examples) {
  if (stage_ != Stage::kTrain) return;
  if (!status.ok()) {
    LeaveWith(status, absl::StrCat("local training failed: ", status.message()));
    return;
  }
  input_encoded_ = true;
  num_examples_ = num_examples;
  next_chunk_ = 0;
  stage_ = Stage::kUpload;
}

void SessionMachine::ForgetEncodedInput() {
  input_encoded_ = false;
  model_verified_ = false;
  download_offset_ = 0;
  next_chunk_ = 0;
}

void SessionMachine::OnKeysAdvertised() {
  if (stage_ != Stage::kAdvertise) return;
  CallSucceeded();
  precondition_failures_ = 0;
  keys_advertised_ = true;
  Poll(v1::ROUND_PHASE_ADVERTISE_KEYS);
}

void SessionMachine::OnKeysShared() {
  if (stage_ != Stage::kShare) return;
  CallSucceeded();
  precondition_failures_ = 0;
  keys_shared_ = true;
  Poll(v1::ROUND_PHASE_SHARE_KEYS);
}

void SessionMachine::OnSharesReported() {
  if (stage_ != Stage::kReport) return;
  CallSucceeded();
  precondition_failures_ = 0;
  shares_reported_ = true;
  Dispatch();
}

void SessionMachine::OnSurvivorsSigned() {
  if (stage_ != Stage::kSign) return;
  CallSucceeded();
  precondition_failures_ = 0;
  survivors_signed_ = true;
  Poll(v1::ROUND_PHASE_CONSISTENCY_CHECK);
}

void SessionMachine::OnChunkUploaded(const v1::UploadMaskedInputResponse& response) {
  if (stage_ != Stage::kUpload) return;
  CallSucceeded();
  precondition_failures_ = 0;
  ++next_chunk_;
  if (response.complete()) {
    upload_complete_ = true;
    Poll(v1::ROUND_PHASE_MASKED_INPUT);
    return;
  }
  if (next_chunk_ >= num_chunks()) {
    // Every chunk was acknowledged yet the server does not hold the whole input: send it all
    // again (uploads are idempotent per chunk), a bounded number of times.
    if (++precondition_failures_ > policy_.max_precondition_failures) {
      LeaveWith(absl::InternalError(absl::StrCat("server holds ", response.chunks_received(),
                                                 " of ", response.chunks_total(),
                                                 " chunks after a full upload")),
                "upload incomplete");
      return;
    }
    next_chunk_ = 0;
  }
}

void SessionMachine::OnUnmaskingSubmitted() {
  if (stage_ != Stage::kUnmask) return;
  CallSucceeded();
  unmasking_submitted_ = true;
  Poll(v1::ROUND_PHASE_UNMASKING);
}

void SessionMachine::OnLeft() {
  if (stage_ != Stage::kLeave) return;
  Finish(leave_status_);
}

void SessionMachine::OnRpcError(const absl::Status& status, absl::Time now) {
  if (stage_ == Stage::kDone || status.ok()) return;
  if (stage_ == Stage::kLeave) {
    Finish(leave_status_);  // Leave is best effort.
    return;
  }
  last_error_ = status;
  const absl::StatusCode code = status.code();
  if (code == absl::StatusCode::kCancelled) {
    Finish(status);
    return;
  }
  if (IsTransient(code)) {
    ++transient_failures_;
    if (!in_round()) {
      if (transient_failures_ >= policy_.max_check_in_attempts) {
        Finish(absl::Status(code, absl::StrCat("check-in failed ", transient_failures_,
                                               " times; last: ", status.message())));
        return;
      }
    } else if (transient_failures_ >= policy_.max_round_attempts ||
               now > phase_deadline_ + policy_.deadline_grace) {
      Finish(absl::Status(code, absl::StrCat("lost the server during the round after ",
                                             transient_failures_, " attempts; last: ",
                                             status.message())));
      return;
    }
    not_before_ = now + Backoff(transient_failures_, uniform01_());
    if (in_round()) Poll(v1::ROUND_PHASE_UNSPECIFIED);
    return;
  }
  if (!in_round()) {
    Finish(status);
    return;
  }
  if (code == absl::StatusCode::kUnauthenticated) {
    ParticipationOutcome outcome = BaseOutcome(OutcomeKind::kDropped);
    outcome.reason = absl::StrCat("session no longer valid: ", status.message());
    Finish(std::move(outcome));
    return;
  }
  if (code == absl::StatusCode::kFailedPrecondition &&
      ++precondition_failures_ <= policy_.max_precondition_failures) {
    // The round may have moved on (a phase deadline passed, or a lost response): ask where it
    // is. A short pause keeps a confused device from hammering the server.
    not_before_ = now + Backoff(1, uniform01_());
    Poll(v1::ROUND_PHASE_UNSPECIFIED);
    return;
  }
  LeaveWith(status, absl::StrCat("call refused: ", status.message()));
}

void SessionMachine::OnLocalError(const absl::Status& status) {
  if (stage_ == Stage::kDone || stage_ == Stage::kLeave) return;
  if (!in_round()) {
    Finish(status);
    return;
  }
  LeaveWith(status, std::string(status.message()));
}

void SessionMachine::Cancel() {
  if (stage_ == Stage::kDone) return;
  Finish(absl::CancelledError("participation cancelled"));
}

void SessionMachine::Finish(absl::StatusOr<ParticipationOutcome> result) {
  stage_ = Stage::kDone;
  not_before_ = absl::InfinitePast();
  result_ = std::move(result);
}

void SessionMachine::LeaveWith(absl::Status status, std::string reason) {
  leave_status_ = std::move(status);
  leave_reason_ = std::move(reason);
  not_before_ = absl::InfinitePast();
  stage_ = Stage::kLeave;
}

void SessionMachine::Poll(v1::RoundPhase known_phase) {
  known_phase_ = known_phase;
  stage_ = Stage::kPoll;
}

void SessionMachine::CallSucceeded() {
  transient_failures_ = 0;
  not_before_ = absl::InfinitePast();
}

ParticipationOutcome SessionMachine::BaseOutcome(OutcomeKind kind) const {
  ParticipationOutcome outcome;
  outcome.kind = kind;
  outcome.task_id = task_id_;
  outcome.round_number = round_number_;
  return outcome;
}

}  // namespace cohort::client::internal
