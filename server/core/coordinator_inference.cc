// The Coordinator's inference publishing calls: attaching calibration data (admin) and fetching
// the latest inference artifact (devices, session-less, pace steered).

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "model/graph.h"
#include "model/quantize.h"
#include "server/core/coordinator.h"
#include "server/core/device_identity.h"

namespace cohort::server {
namespace {

constexpr int64_t kMaxChunkBytes = int64_t{1} << 20;

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  out->set_seconds(absl::ToInt64Seconds(d));
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(d - absl::Seconds(absl::ToInt64Seconds(d)))));
}

absl::Status CheckCalibrationExamples(const std::string& bytes, int64_t input_size) {
  const int64_t example_bytes = input_size * 4;
  const auto size = static_cast<int64_t>(bytes.size());
  if (size == 0 || size % example_bytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "examples must be whole float32 inputs of ", input_size, " values (", example_bytes,
        " bytes each), got ", size, " bytes"));
  }
  if (size / example_bytes > model::kMaxCalibrationExamples) {
    return absl::InvalidArgumentError(absl::StrCat("examples: at most ",
                                                   model::kMaxCalibrationExamples,
                                                   " are used, got ", size / example_bytes));
  }
  for (int64_t i = 0; i < size; i += 4) {
    float v = 0;
    std::memcpy(&v, bytes.data() + i, 4);
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("examples: value ", i / 4, " is not finite"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<cohort::v1::AttachCalibrationDataResponse> Coordinator::AttachCalibrationData(
    const cohort::v1::AttachCalibrationDataRequest& request) {
  int64_t input_size = 0;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<TaskRunner*> runner = FindTask(request.task_id());
    if (!runner.ok()) return runner.status();
    const std::shared_ptr<const cohort::v1::Model> model = (*runner)->model();
    if (!model->has_graph()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "task ", request.task_id(), " has no layer graph: int8 artifacts need one"));
    }
    absl::StatusOr<model::GraphInfo> info = model::AnalyzeGraph(model->graph());
    if (!info.ok()) return info.status();
    input_size = model::NumElements(info->input);
  }
  if (absl::Status s = CheckCalibrationExamples(request.examples(), input_size); !s.ok()) return s;
  // The store may block for a while: outside the lock, as CheckIn's cool-down lookup.
  if (absl::Status s = options_.store->PutCalibrationData(request.task_id(), request.examples());
      !s.ok()) {
    return s;
  }
  const auto examples = static_cast<int32_t>(request.examples().size() / (input_size * 4));
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<TaskRunner*> runner = FindTask(request.task_id());
    if (!runner.ok()) return runner.status();
    (*runner)->publisher().SetCalibrationData(request.examples());
  }
  Audit("AttachCalibrationData", request.task_id(), absl::StrCat(examples, " examples"));
  cohort::v1::AttachCalibrationDataResponse response;
  response.set_examples(examples);
  return response;
}

absl::StatusOr<cohort::v1::FetchInferenceModelResponse> Coordinator::FetchInferenceModel(
    const cohort::v1::FetchInferenceModelRequest& request) {
  if (absl::Status s = ValidateDeviceIdentity(request.population(), request.device_id(),
                                              request.sdk_version(), options_.sdk_major_version);
      !s.ok()) {
    return s;
  }
  if (request.offset() < 0 || request.max_bytes() < 0) {
    return absl::InvalidArgumentError("offset and max_bytes must be >= 0");
  }
  absl::MutexLock lock(&mu_);
  TaskRunner* runner = nullptr;
  int in_population = 0;
  for (const auto& r : runners_) {
    if (r->config().population() != request.population()) continue;
    ++in_population;
    if (request.task_id().empty() || r->task_id() == request.task_id()) runner = r.get();
  }
  if (runner == nullptr) {
    return absl::NotFoundError(
        request.task_id().empty()
            ? absl::StrCat("population '", request.population(), "' has no task")
            : absl::StrCat("population '", request.population(), "' has no task '",
                           request.task_id(), "'"));
  }
  if (request.task_id().empty() && in_population > 1) {
    return absl::FailedPreconditionError(absl::StrCat("population '", request.population(),
                                                      "' has ", in_population,
                                                      " tasks; name one in task_id"));
  }
  InferencePublisher& publisher = runner->publisher();
  absl::StatusOr<std::shared_ptr<const InferenceArtifact>> latest =
      publisher.Latest(request.format());
  if (!latest.ok()) return latest.status();
  cohort::v1::FetchInferenceModelResponse response;
  if (!request.held_sha256().empty() && request.held_sha256() == (*latest)->sha256) {
    response.mutable_unchanged()->set_model_version((*latest)->model_version);
    return response;
  }
  // A download in progress goes on with the artifact it started (kept for a few versions);
  // anything else starts the latest one, if pace steering lets it.
  std::shared_ptr<const InferenceArtifact> artifact;
  int64_t offset = 0;
  if (!request.artifact_sha256().empty()) {
    artifact = publisher.Find(request.artifact_sha256());
    if (artifact != nullptr && artifact->format == request.format()) offset = request.offset();
    else artifact = nullptr;
  }
  if (artifact == nullptr) {
    if (std::optional<InferencePublisher::RetryWindow> later =
            publisher.AdmitDownload(options_.clock->Now());
        later.has_value()) {
      auto* retry = response.mutable_retry_later();
      ToProto(later->min_delay, retry->mutable_min_delay());
      ToProto(later->max_delay, retry->mutable_max_delay());
      retry->set_reason("too many devices are downloading the model; come back later");
      if (options_.observer != nullptr) options_.observer->OnInferenceFetch("retry_later");
      return response;
    }
    artifact = *latest;
  }
  const auto total = static_cast<int64_t>(artifact->bytes.size());
  if (offset > total) {
    return absl::FailedPreconditionError(
        absl::StrCat("offset ", offset, " is past the artifact's ", total, " bytes"));
  }
  const int64_t limit = request.max_bytes() > 0 ? std::min(request.max_bytes(), kMaxChunkBytes)
                                                : kMaxChunkBytes;
  auto* chunk = response.mutable_chunk();
  chunk->set_task_id(runner->task_id());
  chunk->set_model_version(artifact->model_version);
  chunk->set_format(artifact->format);
  chunk->set_artifact_sha256(artifact->sha256);
  chunk->set_total_size(total);
  chunk->set_offset(offset);
  chunk->set_data(artifact->bytes.substr(static_cast<size_t>(offset),
                                         static_cast<size_t>(std::min(limit, total - offset))));
  if (options_.observer != nullptr) {
    options_.observer->OnInferenceFetch(offset == 0 ? "started" : "resumed");
  }
  return response;
}

}  // namespace cohort::server
