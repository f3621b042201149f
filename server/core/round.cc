#include "server/core/round.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "codec/evaluation_metrics.h"
#include "server/core/round_phases.h"
#include "server/core/task_config.h"

namespace cohort::server {
namespace {

constexpr int64_t kMaxDownloadChunk = 1 << 20;

}  // namespace

Round::Round(RoundSetup setup, absl::Time now) : ctx_(std::move(setup)) {
  ctx_.phase_started = now;
  ctx_.started_at = now;
  ctx_.deadline = now + DurationFromProto(ctx_.setup.config.deadlines().forming());
  ctx_.selection_target = SelectionTarget(ctx_.setup.config);
  ctx_.metrics.set_task_id(ctx_.setup.task_id);
  ctx_.metrics.set_round_number(ctx_.setup.round_number);
  ctx_.metrics.set_round_id(ctx_.setup.round_id);
  ctx_.metrics.set_base_model_version(ctx_.setup.base_model->version());
  TimeToProto(now, ctx_.metrics.mutable_started_at());
}

Round::~Round() = default;

absl::StatusOr<int32_t> Round::Admit(const std::string& pseudonym, const DeviceIdentity& identity,
                                     absl::Time now) {
  absl::StatusOr<secagg::VerifyingKey> key = secagg::VerifyingKey::FromBytes(identity.public_key);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("device_public_key is not an Ed25519 key: ", key.status().message()));
  }
  if (auto it = ctx_.index_of.find(pseudonym); it != ctx_.index_of.end()) {
    // Whoever knows a device's id must not thereby take over its session.
    if (ctx_.participant(it->second).identity.public_key != identity.public_key) {
      return absl::PermissionDeniedError(
          absl::StrCat("this device id is in round ", ctx_.setup.round_id,
                       " under another device key; only the device that checked in can resume"));
    }
    return it->second;
  }
  if (ctx_.phase != cohort::v1::ROUND_PHASE_FORMING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round ", ctx_.setup.round_id, " no longer forms (phase ", PhaseName(ctx_.phase), ")"));
  }
  if (open_slots() == 0) {
    return absl::FailedPreconditionError(absl::StrCat("round ", ctx_.setup.round_id, " is full"));
  }
  Participant p;
  p.pseudonym = pseudonym;
  p.identity = identity;
  p.signing_key = *key;
  p.selected_at = now;
  ctx_.participants.push_back(std::move(p));
  const int32_t index = num_admitted();
  ctx_.index_of[pseudonym] = index;
  AdvanceTo(now);  // closes forming once full
  return index;
}

std::optional<int32_t> Round::IndexOf(const std::string& pseudonym) const {
  auto it = ctx_.index_of.find(pseudonym);
  if (it == ctx_.index_of.end()) return std::nullopt;
  return it->second;
}

absl::Status Round::CheckParticipant(int32_t index, const std::string& pseudonym) const {
  if (index < 1 || index > num_admitted() || ctx_.participant(index).pseudonym != pseudonym) {
    return absl::UnauthenticatedError("session_token does not name a participant of this round");
  }
  return absl::OkStatus();
}

void Round::AdvanceTo(absl::Time now) {
  // Each close may move to a phase that is already complete (e.g. everyone dropped).
  for (int guard = 0; guard < 8 && !ended() && !ctx_.ready_to_commit; ++guard) {
    const cohort::v1::RoundPhase before = ctx_.phase;
    const RoundPhaseState& state = PhaseState(before);
    if (state.Complete(ctx_) || now >= ctx_.deadline) state.Close(ctx_, now);
    if (ctx_.phase == before) break;
  }
}

void Round::Fail(const std::string& reason, absl::Time now) { ctx_.Fail(reason, now); }

void Round::MarkCommitted(int64_t new_model_version, absl::Time now) {
  ctx_.new_model_version = new_model_version;
  ctx_.ready_to_commit = false;
  ctx_.SetPhase(cohort::v1::ROUND_PHASE_COMMITTED, now,
                absl::StrCat("model_version=", new_model_version));
  std::vector<uint64_t>().swap(ctx_.sum);
  std::vector<double>().swap(ctx_.float_sum);
}

cohort::v1::RoundUpdate Round::UpdateFor(int32_t index) const {
  cohort::v1::RoundUpdate update;
  update.set_phase(ctx_.phase);
  if (!ended()) TimeToProto(ctx_.deadline, update.mutable_phase_deadline());
  const Participant& p = ctx_.participant(index);
  update.set_participant_state(p.dropped ? cohort::v1::PARTICIPANT_STATE_DROPPED
                                         : cohort::v1::PARTICIPANT_STATE_ACTIVE);
  if (p.dropped) update.set_dropped_reason(p.dropped_reason);
  if (ctx_.plan_template.has_codec()) {
    *update.mutable_plan() = ctx_.plan_template;
    update.mutable_plan()->set_participant_index(index);
  }
  PhaseState(ctx_.phase).FillUpdate(ctx_, index, &update);
  return update;
}

cohort::v1::ModelChunk ModelChunkView::ToChunk() const {
  cohort::v1::ModelChunk chunk = header;
  chunk.set_data(std::string(data));
  return chunk;
}

absl::StatusOr<ModelChunkView> Round::DownloadModel(int32_t index,
                                                    const cohort::v1::DownloadModelRequest& req) {
  const Participant& p = ctx_.participant(index);
  if (p.dropped) {
    return absl::FailedPreconditionError(
        absl::StrCat("DownloadModel: participant ", index, " was dropped: ", p.dropped_reason));
  }
  if (ended()) {
    return absl::FailedPreconditionError(
        absl::StrCat("DownloadModel: round ", ctx_.setup.round_id, " has ended"));
  }
  const std::string& bytes = ctx_.setup.base_model->parameters();
  const int64_t total = static_cast<int64_t>(bytes.size());
  if (req.offset() < 0 || req.offset() > total) {
    return absl::InvalidArgumentError(
        absl::StrCat("offset must be in [0, ", total, "], got ", req.offset()));
  }
  if (req.max_bytes() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_bytes must be >= 0, got ", req.max_bytes()));
  }
  const int64_t limit =
      req.max_bytes() == 0 ? kMaxDownloadChunk : std::min(req.max_bytes(), kMaxDownloadChunk);
  const int64_t len = std::min(limit, total - req.offset());
  ModelChunkView chunk;
  chunk.header.set_offset(req.offset());
  chunk.header.set_total_size(total);
  chunk.header.set_sha256(ctx_.setup.base_model->sha256());
  chunk.header.set_model_version(ctx_.setup.base_model->version());
  chunk.model = ctx_.setup.base_model;
  chunk.data = absl::string_view(bytes).substr(static_cast<size_t>(req.offset()),
                                               static_cast<size_t>(len));
  ctx_.metrics.set_bytes_downloaded(ctx_.metrics.bytes_downloaded() + len);
  return chunk;
}

absl::Status Round::AdvertiseKeys(int32_t index, const cohort::v1::AdvertiseKeysRequest& req,
                                  absl::Time now) {
  absl::Status s = AdvertiseKeysCall(ctx_, index, req);
  AdvanceTo(now);
  return s;
}

absl::Status Round::ShareKeys(int32_t index, const cohort::v1::ShareKeysRequest& req,
                              absl::Time now) {
  absl::Status s = ShareKeysCall(ctx_, index, req);
  AdvanceTo(now);
  return s;
}

absl::StatusOr<cohort::v1::UploadMaskedInputResponse> Round::UploadMaskedInput(
    int32_t index, const cohort::v1::UploadMaskedInputRequest& req, absl::Time now) {
  absl::StatusOr<cohort::v1::UploadMaskedInputResponse> response =
      UploadMaskedInputCall(ctx_, index, req);
  AdvanceTo(now);
  return response;
}

absl::Status Round::ReportShares(int32_t index, const cohort::v1::ReportSharesRequest& req,
                                 absl::Time now) {
  absl::Status s = ReportSharesCall(ctx_, index, req);
  AdvanceTo(now);
  return s;
}

absl::Status Round::SignSurvivors(int32_t index, const cohort::v1::SignSurvivorsRequest& req,
                                  absl::Time now) {
  absl::Status s = SignSurvivorsCall(ctx_, index, req);
  AdvanceTo(now);
  return s;
}

absl::Status Round::SubmitUnmasking(int32_t index, const cohort::v1::SubmitUnmaskingRequest& req,
                                    absl::Time now) {
  absl::Status s = SubmitUnmaskingCall(ctx_, index, req);
  AdvanceTo(now);
  return s;
}

absl::Status Round::Leave(int32_t index, const std::string& reason, absl::Time now) {
  Participant& p = ctx_.participant(index);
  if (ended() || p.dropped) return absl::OkStatus();
  ctx_.Drop(index, reason.empty() ? "left the round" : absl::StrCat("left the round: ", reason));
  AdvanceTo(now);
  return absl::OkStatus();
}

absl::StatusOr<AggregateResult> Round::Aggregate() const {
  if (!ctx_.ready_to_commit) {
    return absl::FailedPreconditionError("the round has no complete sum to aggregate");
  }
  const cohort::v1::CodecParams& codec = ctx_.plan_template.codec();
  const auto update = static_cast<size_t>(codec::UpdateLength(codec));
  const bool float32 = codec.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32;
  return DecodeRoundSum(codec, float32 ? absl::Span<const uint64_t>() : absl::MakeConstSpan(ctx_.sum).first(update),
                        float32 ? absl::MakeConstSpan(ctx_.float_sum).first(update)
                                : absl::Span<const double>(),
                        ctx_.contributors, *ctx_.setup.random);
}

absl::Status Round::RecordEvaluation() {
  if (!ctx_.ready_to_commit) {
    return absl::FailedPreconditionError("the round has no complete sum to evaluate");
  }
  const cohort::v1::CodecParams& codec = ctx_.plan_template.codec();
  if (codec.metric_elements() == 0) return absl::OkStatus();
  const auto update = static_cast<size_t>(codec::UpdateLength(codec));
  absl::StatusOr<codec::EvaluationSums> sums = codec::DecodeEvaluationSum(
      codec, absl::MakeConstSpan(ctx_.sum).subspan(std::min(update, ctx_.sum.size())),
      absl::MakeConstSpan(ctx_.float_sum).subspan(std::min(update, ctx_.float_sum.size())),
      ctx_.contributors);
  if (!sums.ok()) return sums.status();
  cohort::v1::EvaluationMetrics* m = ctx_.metrics.mutable_evaluation();
  m->set_examples(sums->examples);
  m->set_correct(sums->correct);
  m->set_accuracy(sums->examples > 0 ? static_cast<double>(sums->correct) /
                                           static_cast<double>(sums->examples)
                                     : 0.0);
  m->set_mean_loss(sums->examples > 0 ? sums->loss_sum / static_cast<double>(sums->examples)
                                      : 0.0);
  m->set_contributors(ctx_.contributors);
  m->set_evaluation_only(codec.evaluation_only());
  return absl::OkStatus();
}

cohort::v1::RoundSummary Round::Summary() const {
  cohort::v1::RoundSummary summary = ctx_.metrics;
  summary.set_phase(ctx_.phase);
  summary.set_failure_reason(ctx_.failure_reason);
  if (ctx_.phase == cohort::v1::ROUND_PHASE_COMMITTED) {
    summary.set_new_model_version(ctx_.new_model_version);
  }
  summary.set_selected(num_admitted());
  summary.set_contributors(ctx_.contributors);
  int32_t dropouts = 0;
  int32_t excluded = 0;
  for (const auto& p : ctx_.participants) {
    dropouts += p.dropped ? 1 : 0;
    excluded += p.excluded ? 1 : 0;
  }
  summary.set_dropouts(dropouts);
  summary.set_excluded(excluded);
  if (ended()) TimeToProto(ctx_.ended_at, summary.mutable_ended_at());
  return summary;
}

std::vector<Round::ParticipantRecord> Round::Participants() const {
  std::vector<ParticipantRecord> out;
  out.reserve(ctx_.participants.size());
  for (int32_t i = 1; i <= num_admitted(); ++i) {
    const Participant& p = ctx_.participant(i);
    out.push_back({i, p.pseudonym, p.last_completed, p.contributed, p.selected_at});
  }
  return out;
}

std::vector<RoundChange> Round::TakeChanges() {
  std::vector<RoundChange> out;
  out.swap(ctx_.changes);
  return out;
}

std::vector<std::string> Round::TakeExcluded() {
  std::vector<std::string> out;
  out.swap(ctx_.newly_excluded);
  return out;
}

bool Round::TakeDirty() {
  const bool dirty = ctx_.dirty;
  ctx_.dirty = false;
  return dirty;
}

}  // namespace cohort::server
