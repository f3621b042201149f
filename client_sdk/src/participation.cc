#include "client_sdk/src/participation.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client_sdk/src/update_encoding.h"
#include "secagg/packing.h"
#include "secagg/random_source.h"
#include "secagg/signed_messages.h"

namespace cohort::client::internal {
namespace {

bool KeepsRoundState(const absl::StatusOr<ParticipationOutcome>& result) {
  if (result.ok()) return false;
  switch (result.status().code()) {
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

ModelLayout ToLayout(const v1::RoundPlan& plan) {
  ModelLayout out;
  for (const v1::TensorSpec& t : plan.layout().tensors()) {
    out.tensors.push_back({t.name(), {t.shape().begin(), t.shape().end()}});
  }
  if (plan.has_graph()) out.graph = plan.graph().SerializeAsString();
  return out;
}

TrainingParams ToTrainingParams(const v1::RoundPlan& plan) {
  TrainingParams p;
  const v1::TrainingParams& t = plan.training();
  if (t.local_epochs() > 0) p.local_epochs = t.local_epochs();
  if (t.batch_size() > 0) p.batch_size = t.batch_size();
  if (t.learning_rate() > 0) p.learning_rate = t.learning_rate();
  for (const auto& [key, value] : t.extra()) p.extra[key] = value;
  p.extra["round"] = static_cast<double>(plan.round_number());
  return p;
}

google::protobuf::Duration ToProto(absl::Duration d) {
  google::protobuf::Duration out;
  out.set_seconds(absl::ToInt64Seconds(d));
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d % absl::Seconds(1))));
  return out;
}

}  // namespace

Participation::Participation(ParticipationEnv env) : env_(std::move(env)) {}

Participation::~Participation() {
  // Copies of the session's secrets.
  for (std::string* s : {&secure_blob_, &last_persisted_, &share_keys_request_}) {
    if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  }
}

absl::StatusOr<ParticipationOutcome> Participation::Run() {
  std::optional<ParticipationOutcome> early;
  if (absl::Status s = Prepare(&early); !s.ok()) return s;
  if (early.has_value()) return *early;
  while (true) {
    if (env_.cancelled()) machine_->Cancel();
    const Action action = machine_->Next(env_.clock->Now());
    if (action.kind == Action::Kind::kDone) return Finish(action.result);
    Step(action);
    PersistOrLeave();
  }
}

absl::Status Participation::Prepare(std::optional<ParticipationOutcome>* early) {
  absl::StatusOr<std::optional<SessionSnapshot>> snapshot = env_.store->LoadRound();
  if (!snapshot.ok()) return snapshot.status();
  if (snapshot->has_value()) {
    const SessionSnapshot& s = **snapshot;
    absl::StatusOr<SessionMachine> restored =
        SessionMachine::Restore(s, env_.policy, env_.uniform01);
    if (restored.ok()) {
      machine_.emplace(*std::move(restored));
      share_keys_request_ = s.share_keys_request();
      if (machine_->secure() && !s.secagg_session().empty()) {
        absl::StatusOr<std::unique_ptr<SecureRound>> secure =
            SecureRound::Deserialize(*machine_->plan(), s.secagg_session(), env_.key_verifier);
        if (secure.ok()) {
          secure_ = *std::move(secure);
          secure_blob_ = s.secagg_session();
        } else {
          // Without the keys the device cannot finish the round; let the machine leave it.
          machine_->OnLocalError(secure.status());
        }
      }
      if (machine_->input_encoded()) {
        absl::StatusOr<std::string> input =
            machine_->plan().has_value()
                ? env_.store->LoadInput(static_cast<int64_t>(secagg::PackedSize(
                      machine_->plan()->codec().vector_length(),
                      InputBits(machine_->plan()->codec()))))
                : absl::NotFoundError("no plan");
        if (input.ok()) {
          input_ = *std::move(input);
        } else if (secure_ != nullptr && secure_->received_shares()) {
          // The masks are fixed: a new input under them would let the server subtract the two.
          machine_->OnLocalError(absl::DataLossError(
              absl::StrCat("the encoded input was lost after the shares were received: ",
                           input.status().message())));
        } else {
          machine_->ForgetEncodedInput();
        }
      }
      last_persisted_ = s.SerializeAsString();
      return absl::OkStatus();
    }
    if (env_.on_error) env_.on_error(restored.status());
    if (absl::Status w = env_.store->WipeRound(); !w.ok()) return w;
  }
  // No round in flight: honour the last retry-later window before checking in again.
  absl::StatusOr<absl::Time> next_check_in = env_.store->LoadNextCheckIn();
  if (!next_check_in.ok()) return next_check_in.status();
  if (env_.clock->Now() < *next_check_in) {
    ParticipationOutcome outcome;
    outcome.kind = OutcomeKind::kRetryLater;
    outcome.retry_at = *next_check_in;
    outcome.reason = "the server asked this device to check in later";
    *early = outcome;
    return absl::OkStatus();
  }
  machine_.emplace(env_.policy, env_.uniform01);
  return absl::OkStatus();
}

void Participation::Step(const Action& action) {
  switch (action.kind) {
    case Action::Kind::kCheckIn: CheckIn(); break;
    case Action::Kind::kWaitForPhase: WaitForPhase(action.known_phase); break;
    case Action::Kind::kDownloadModel: Download(action.offset); break;
    case Action::Kind::kVerifyModel: VerifyModel(); break;
    case Action::Kind::kTrain: Train(); break;
    case Action::Kind::kAdvertiseKeys: AdvertiseKeys(); break;
    case Action::Kind::kShareKeys: ShareKeys(); break;
    case Action::Kind::kReportShares:
      ReportShares();
      break;
    case Action::Kind::kUploadChunk: UploadChunk(action.chunk_index); break;
    case Action::Kind::kSignSurvivors:
      SignSurvivors();
      break;
    case Action::Kind::kSubmitUnmasking: SubmitUnmasking(); break;
    case Action::Kind::kLeave: Leave(action.leave_reason); break;
    case Action::Kind::kSleep:
      Report(Stage::kBackingOff);
      if (!env_.sleep_until(action.until)) machine_->Cancel();
      break;
    case Action::Kind::kDone: break;
  }
}

void Participation::RpcError(const absl::Status& status) {
  if (env_.on_error && status.code() != absl::StatusCode::kCancelled) env_.on_error(status);
  machine_->OnRpcError(status, env_.clock->Now());
}

void Participation::CheckIn() {
  Report(Stage::kCheckingIn);
  if (env_.cancelled()) return;
  v1::CheckInRequest request;
  request.set_population(env_.population);
  request.set_device_id(env_.device_id ? env_.device_id() : "");
  request.set_sdk_version(env_.sdk_version);
  if (env_.identity != nullptr) {
    const std::string key = env_.identity->verifying_key().ToBytes();
    absl::StatusOr<std::string> signature =
        env_.identity->Sign(secagg::CheckInMessage(request.population(), request.device_id()));
    if (!signature.ok()) return machine_->OnLocalError(signature.status());
    request.set_device_public_key(key);
    request.set_device_key_signature(*signature);
    if (env_.credential) request.set_device_credential(env_.credential(key));
  }
  v1::DeviceEligibility* e = request.mutable_eligibility();
  e->set_charging(env_.eligibility.charging);
  e->set_unmetered_network(env_.eligibility.unmetered_network);
  e->set_idle(env_.eligibility.idle);
  e->set_battery_percent(env_.eligibility.battery_percent);
  absl::StatusOr<v1::CheckInResponse> response = env_.transport->CheckIn(request);
  if (!response.ok()) return RpcError(response.status());
  machine_->OnCheckIn(*response, env_.clock->Now());
}

void Participation::WaitForPhase(v1::RoundPhase known_phase) {
  Report(Stage::kWaiting);
  v1::WaitForPhaseRequest request;
  request.set_session_token(machine_->session_token());
  request.set_known_phase(known_phase);
  *request.mutable_max_wait() = ToProto(env_.long_poll);
  absl::StatusOr<v1::RoundUpdate> update = env_.transport->WaitForPhase(request);
  if (!update.ok()) return RpcError(update.status());
  machine_->OnRoundUpdate(*update, env_.clock->Now());
}

void Participation::Download(int64_t offset) {
  const int64_t size = machine_->model_size();
  Report(Stage::kDownloadingModel, size > 0 ? static_cast<double>(offset) / size : 0.0);
  if (env_.cancelled()) return;
  if (offset == 0) {
    std::vector<float>().swap(model_);
    model_.resize(static_cast<size_t>(size) / sizeof(float));
  }
  v1::DownloadModelRequest request;
  request.set_session_token(machine_->session_token());
  request.set_offset(offset);
  request.set_max_bytes(env_.download_chunk_bytes);
  absl::StatusOr<v1::ModelChunk> chunk = env_.transport->DownloadModel(request);
  if (!chunk.ok()) return RpcError(chunk.status());
  if (static_cast<int64_t>(model_.size() * sizeof(float)) != size) {
    return machine_->OnLocalError(absl::InvalidArgumentError(
        absl::StrCat("model of ", size, " bytes is not a float32 vector")));
  }
  if (machine_->OnModelChunk(*chunk)) {
    // The machine checked that the chunk continues the download and fits.
    std::memcpy(reinterpret_cast<char*>(model_.data()) + offset, chunk->data().data(),
                chunk->data().size());
  } else if (env_.on_error) {
    env_.on_error(absl::DataLossError(
        absl::StrCat("refused model chunk at offset ", chunk->offset(), "; downloading again")));
  }
}

void Participation::VerifyModel() {
  const bool ok =
      machine_->plan().has_value() &&
      Sha256(absl::string_view(reinterpret_cast<const char*>(model_.data()),
                               model_.size() * sizeof(float))) == machine_->plan()->model_sha256();
  if (!ok && env_.on_error) {
    env_.on_error(absl::DataLossError("model failed its SHA-256 check; downloading again"));
  }
  machine_->OnModelVerified(ok);
}

void Participation::Train() {
  Report(Stage::kTraining);
  if (env_.cancelled()) return;
  const v1::RoundPlan& plan = *machine_->plan();
  const ModelLayout layout = ToLayout(plan);
  // Federated evaluation first, on the model as received, before training changes it.
  std::vector<uint64_t> metrics;
  int64_t evaluated = 0;
  if (plan.codec().metric_elements() > 0) {
    absl::StatusOr<std::array<uint64_t, codec::kMetricElements>> encoded = EvaluateModel(plan);
    if (!encoded.ok()) return machine_->OnTrained(encoded.status());
    metrics.assign(encoded->begin(), encoded->end());
    evaluated = static_cast<int64_t>((*encoded)[0]);
  }
  std::vector<float> delta;
  int64_t weight = evaluated;
  if (!plan.codec().evaluation_only()) {
    absl::StatusOr<TrainingResult> trained =
        env_.trainer->Train(layout, model_, ToTrainingParams(plan));
    if (!trained.ok()) return machine_->OnTrained(trained.status());
    delta = std::move(trained->parameters);
    if (delta.size() != model_.size()) {
      return machine_->OnTrained(absl::InvalidArgumentError(absl::StrCat(
          "trainer returned ", delta.size(), " parameters, want ", model_.size())));
    }
    // The delta replaces the trained parameters in place; the model is not needed any more.
    for (size_t i = 0; i < delta.size(); ++i) delta[i] -= model_[i];
    weight = trained->num_examples;
  }
  std::vector<float>().swap(model_);
  absl::StatusOr<std::string> input = EncodeInput(plan.codec(), std::move(delta), weight,
                                                  env_.random64(), *secagg::OsRandom(), metrics);
  if (!input.ok()) return machine_->OnTrained(input.status());
  input_ = *std::move(input);
  // The upload resumes from this file: without it a restart would encode a different input.
  if (absl::Status s = env_.store->SaveInput(input_); !s.ok()) {
    return machine_->OnTrained(
        absl::Status(s.code(), absl::StrCat("cannot save the encoded input: ", s.message())));
  }
  machine_->OnTrained(absl::OkStatus(), weight);
}

absl::StatusOr<std::array<uint64_t, codec::kMetricElements>> Participation::EvaluateModel(
    const v1::RoundPlan& plan) {
  codec::EvaluationCounts counts;
  absl::StatusOr<EvaluationResult> evaluation = env_.trainer->Evaluate(ToLayout(plan), model_);
  if (evaluation.ok()) {
    counts.examples = evaluation->num_examples;
    counts.correct = evaluation->num_correct >= 0
                         ? evaluation->num_correct
                         : std::llround(evaluation->accuracy *
                                        static_cast<double>(evaluation->num_examples));
    counts.mean_loss = evaluation->loss;
  } else if (evaluation.status().code() != absl::StatusCode::kFailedPrecondition) {
    return evaluation.status();
  }  // FAILED_PRECONDITION: no held-out examples; the device adds zeros and still trains
  return codec::EncodeEvaluation(plan.codec(), counts, env_.random64());
}

absl::Status Participation::EnsureSecureRound() {
  if (secure_ != nullptr) return absl::OkStatus();
  if (env_.identity == nullptr) return absl::FailedPreconditionError("no device identity key");
  absl::StatusOr<std::unique_ptr<SecureRound>> secure =
      SecureRound::Create(*machine_->plan(), *env_.identity, env_.floor, env_.key_verifier);
  if (!secure.ok()) return secure.status();
  secure_ = *std::move(secure);
  return absl::OkStatus();
}

void Participation::AdvertiseKeys() {
  Report(Stage::kAdvertisingKeys);
  if (env_.cancelled()) return;
  if (absl::Status s = EnsureSecureRound(); !s.ok()) return machine_->OnLocalError(s);
  v1::AdvertiseKeysRequest request;
  if (absl::Status s = secure_->FillAdvertiseKeys(&request); !s.ok()) {
    return machine_->OnLocalError(s);
  }
  // The keys must be on disk before the server has them, so a restart keeps the same keys.
  if (!PersistOrLeave()) return;
  request.set_session_token(machine_->session_token());
  absl::StatusOr<v1::AdvertiseKeysResponse> response = env_.transport->AdvertiseKeys(request);
  if (!response.ok()) return RpcError(response.status());
  machine_->OnKeysAdvertised();
}

void Participation::ShareKeys() {
  Report(Stage::kSharingKeys);
  if (env_.cancelled()) return;
  if (secure_ == nullptr) {
    return machine_->OnLocalError(absl::DataLossError("the round's keys were lost"));
  }
  v1::ShareKeysRequest request;
  if (share_keys_request_.empty()) {
    if (absl::Status s = secure_->FillShareKeys(machine_->last_update().neighbour_keys(),
                                                env_.clock->Now(), &request);
        !s.ok()) {
      return machine_->OnLocalError(s);
    }
    share_keys_request_ = request.SerializeAsString();
    if (!PersistOrLeave()) return;
  } else if (!request.ParseFromString(share_keys_request_)) {
    return machine_->OnLocalError(absl::DataLossError("persisted share bundle is corrupt"));
  }
  request.set_session_token(machine_->session_token());
  absl::StatusOr<v1::ShareKeysResponse> response = env_.transport->ShareKeys(request);
  if (!response.ok()) return RpcError(response.status());
  machine_->OnKeysShared();
}

void Participation::ReportShares() {
  Report(Stage::kSharingKeys);
  if (env_.cancelled()) return;
  if (secure_ == nullptr) {
    return machine_->OnLocalError(absl::DataLossError("the round's keys were lost"));
  }
  v1::ReportSharesRequest request;
  if (absl::Status s = secure_->ReceiveShares(machine_->last_update().incoming_shares(), &request);
      !s.ok()) {
    return machine_->OnLocalError(s);
  }
  // The masks are fixed from here on: on disk before the server learns which bundles opened.
  if (!PersistOrLeave()) return;
  request.set_session_token(machine_->session_token());
  absl::StatusOr<v1::ReportSharesResponse> response = env_.transport->ReportShares(request);
  if (!response.ok()) return RpcError(response.status());
  machine_->OnSharesReported();
}

void Participation::SignSurvivors() {
  Report(Stage::kUnmasking);
  if (env_.cancelled()) return;
  if (secure_ == nullptr) {
    return machine_->OnLocalError(absl::DataLossError("the round's keys were lost"));
  }
  v1::SignSurvivorsRequest request;
  if (absl::Status s =
          secure_->FillSignSurvivors(machine_->last_update().consistency_check(), &request);
      !s.ok()) {
    return machine_->OnLocalError(s);
  }
  // Which set this device signed is on disk before the signature leaves it.
  if (!PersistOrLeave()) return;
  request.set_session_token(machine_->session_token());
  absl::StatusOr<v1::SignSurvivorsResponse> response = env_.transport->SignSurvivors(request);
  if (!response.ok()) return RpcError(response.status());
  machine_->OnSurvivorsSigned();
}

void Participation::UploadChunk(int64_t index) {
  const int64_t chunks = machine_->num_chunks();
  Report(Stage::kUploading, chunks > 0 ? static_cast<double>(index) / chunks : 0.0);
  if (env_.cancelled()) return;
  const v1::CodecParams& codec = machine_->plan()->codec();
  const int64_t length = codec.vector_length();
  const int64_t per_chunk = codec.chunk_elements() > 0 ? codec.chunk_elements() : length;
  const int64_t begin = index * per_chunk;
  const int64_t end = std::min(length, begin + per_chunk);
  // One chunk-sized copy; the full masked vector never exists.
  absl::StatusOr<std::vector<uint64_t>> values = InputChunk(codec, input_, begin, end - begin);
  if (!values.ok()) return machine_->OnLocalError(values.status());
  v1::UploadMaskedInputRequest request;
  request.set_session_token(machine_->session_token());
  request.set_chunk_index(index);
  absl::StatusOr<std::string> data;
  if (machine_->secure()) {
    if (secure_ == nullptr) {
      return machine_->OnLocalError(absl::DataLossError("the round's keys were lost"));
    }
    if (absl::Status s = secure_->ReceiveShares(machine_->last_update().incoming_shares(), nullptr);
        !s.ok()) {
      return machine_->OnLocalError(s);
    }
    if (absl::Status s = secure_->MaskChunk(begin, absl::MakeSpan(*values)); !s.ok()) {
      return machine_->OnLocalError(s);
    }
  }
  data = PackChunk(codec, *values);
  if (!data.ok()) return machine_->OnLocalError(data.status());
  request.set_data(*std::move(data));
  absl::StatusOr<v1::UploadMaskedInputResponse> response =
      env_.transport->UploadMaskedInput(request);
  if (!response.ok()) return RpcError(response.status());
  machine_->OnChunkUploaded(*response);
}

void Participation::SubmitUnmasking() {
  Report(Stage::kUnmasking);
  if (env_.cancelled()) return;
  if (secure_ == nullptr) {
    return machine_->OnLocalError(absl::DataLossError("the round's keys were lost"));
  }
  v1::SubmitUnmaskingRequest request;
  if (absl::Status s = secure_->FillUnmasking(machine_->last_update().unmasking(), &request);
      !s.ok()) {
    return machine_->OnLocalError(s);
  }
  // Which request this device answered is on disk before any share leaves it: restored, it
  // answers this request again or refuses another.
  if (!PersistOrLeave()) return;
  request.set_session_token(machine_->session_token());
  absl::StatusOr<v1::SubmitUnmaskingResponse> response =
      env_.transport->SubmitUnmasking(request);
  if (!response.ok()) return RpcError(response.status());
  machine_->OnUnmaskingSubmitted();
}

void Participation::Leave(const std::string& reason) {
  v1::LeaveRequest request;
  request.set_session_token(machine_->session_token());
  request.set_reason(reason);
  absl::StatusOr<v1::LeaveResponse> response = env_.transport->Leave(request);
  if (!response.ok()) return machine_->OnRpcError(response.status(), env_.clock->Now());
  machine_->OnLeft();
}

absl::StatusOr<ParticipationOutcome> Participation::Finish(
    absl::StatusOr<ParticipationOutcome> result) {
  Report(Stage::kDone, 1.0);
  // Free the round's big buffers before returning to the app.
  std::string().swap(input_);
  std::vector<float>().swap(model_);
  if (!KeepsRoundState(result)) {
    if (absl::Status s = env_.store->WipeRound(); !s.ok() && env_.on_error) env_.on_error(s);
  }
  if (result.ok() && result->kind == OutcomeKind::kRetryLater) {
    // At the precision it is persisted with, so a later participation reports the same time.
    result->retry_at = absl::FromUnixMicros(absl::ToUnixMicros(result->retry_at));
    if (absl::Status s = env_.store->SaveNextCheckIn(result->retry_at);
        !s.ok() && env_.on_error) {
      env_.on_error(s);
    }
  }
  if (!result.ok() && env_.on_error && result.status().code() != absl::StatusCode::kCancelled) {
    env_.on_error(result.status());
  }
  return result;
}

absl::Status Participation::Persist() {
  if (!machine_.has_value() || !machine_->in_round() || machine_->done()) {
    return absl::OkStatus();
  }
  SessionSnapshot snapshot = machine_->Snapshot();
  if (secure_ != nullptr) {
    absl::StatusOr<std::string> blob = secure_->Serialize();
    if (!blob.ok()) return blob.status();
    if (!secure_blob_.empty()) OPENSSL_cleanse(secure_blob_.data(), secure_blob_.size());
    secure_blob_ = *std::move(blob);
  }
  snapshot.set_secagg_session(secure_blob_);
  snapshot.set_share_keys_request(share_keys_request_);
  std::string bytes = snapshot.SerializeAsString();
  if (bytes == last_persisted_) {
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  if (absl::Status s = env_.store->SaveRound(snapshot); !s.ok()) {
    OPENSSL_cleanse(bytes.data(), bytes.size());
    if (env_.on_error) env_.on_error(s);
    return s;
  }
  if (!last_persisted_.empty()) OPENSSL_cleanse(last_persisted_.data(), last_persisted_.size());
  last_persisted_ = std::move(bytes);
  return absl::OkStatus();
}

bool Participation::PersistOrLeave() {
  absl::Status s = Persist();
  if (s.ok()) return true;
  machine_->OnLocalError(
      absl::Status(s.code(), absl::StrCat("cannot save the round's state: ", s.message())));
  return false;
}

void Participation::Report(Stage stage, double fraction) {
  if (last_stage_ == stage && fraction == last_fraction_) return;
  last_stage_ = stage;
  last_fraction_ = fraction;
  if (!env_.on_progress) return;
  Progress progress;
  progress.stage = stage;
  progress.task_id = machine_.has_value() ? machine_->task_id() : "";
  progress.round_number = machine_.has_value() ? machine_->round_number() : 0;
  progress.fraction = fraction;
  env_.on_progress(progress);
}

}  // namespace cohort::client::internal
