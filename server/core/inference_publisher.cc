#include "server/core/inference_publisher.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "codec/model.h"
#include "model/quantize.h"

namespace cohort::server {
namespace {

constexpr size_t kKeptPrevious = 4;

std::shared_ptr<const InferenceArtifact> Wrap(cohort::v1::InferenceModel artifact,
                                              const std::string& task_id, int64_t version) {
  artifact.set_task_id(task_id);
  artifact.set_model_version(version);
  auto out = std::make_shared<InferenceArtifact>();
  out->model_version = version;
  out->format = artifact.format();
  out->bytes = artifact.SerializeAsString();
  out->sha256 = codec::Sha256(out->bytes);
  return out;
}

}  // namespace

InferencePublisher::InferencePublisher(std::string task_id, double downloads_per_second)
    : task_id_(std::move(task_id)),
      rate_(downloads_per_second),
      tokens_(downloads_per_second),
      int8_(absl::FailedPreconditionError("no model published yet")) {}

void InferencePublisher::Publish(std::shared_ptr<const cohort::v1::Model> model) {
  if (model_ != nullptr && model->version() == model_->version() &&
      model->sha256() == model_->sha256()) {
    return;
  }
  if (float_ != nullptr) previous_.push_back(float_);
  if (int8_.ok()) previous_.push_back(*int8_);
  while (previous_.size() > kKeptPrevious) previous_.pop_front();
  model_ = std::move(model);
  Rebuild();
}

void InferencePublisher::SetCalibrationData(std::string examples) {
  calibration_ = std::move(examples);
  if (model_ != nullptr) Rebuild();
}

void InferencePublisher::Rebuild() {
  float_ = nullptr;
  int8_ = absl::FailedPreconditionError(absl::StrCat("task ", task_id_, " has no layer graph"));
  if (!model_->has_graph()) return;
  absl::StatusOr<std::vector<float>> params = codec::ParametersOf(*model_);
  if (!params.ok()) {
    int8_ = params.status();
    return;
  }
  absl::StatusOr<cohort::v1::InferenceModel> f32 = model::FloatArtifact(model_->graph(), *params);
  if (f32.ok()) float_ = Wrap(*std::move(f32), task_id_, model_->version());
  if (calibration_.empty()) {
    int8_ = absl::FailedPreconditionError(absl::StrCat(
        "task ", task_id_, " has no calibration data for int8 quantization (AttachCalibrationData)"));
    return;
  }
  absl::StatusOr<std::vector<float>> examples = codec::FloatsFromBytes(calibration_);
  absl::StatusOr<cohort::v1::InferenceModel> int8 =
      examples.ok() ? model::QuantizeModel(model_->graph(), *params, *examples)
                    : absl::StatusOr<cohort::v1::InferenceModel>(examples.status());
  if (!int8.ok()) {
    COHORT_LOG_WARN("int8 quantization failed task={} version={} error={}", task_id_,
                    model_->version(), int8.status().ToString());
    int8_ = absl::FailedPreconditionError(
        absl::StrCat("int8 quantization of version ", model_->version(), " failed: ",
                     int8.status().message()));
    return;
  }
  int8_ = Wrap(*std::move(int8), task_id_, model_->version());
  COHORT_LOG_INFO("inference artifacts published task={} version={} float_bytes={} int8_bytes={}",
                  task_id_, model_->version(), float_ != nullptr ? float_->bytes.size() : 0,
                  (*int8_)->bytes.size());
}

absl::StatusOr<std::shared_ptr<const InferenceArtifact>> InferencePublisher::Latest(
    cohort::v1::InferenceFormat format) const {
  switch (format) {
    case cohort::v1::INFERENCE_FORMAT_FLOAT32:
      if (float_ == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("task ", task_id_, " has no layer graph to publish for inference"));
      }
      return float_;
    case cohort::v1::INFERENCE_FORMAT_INT8:
      return int8_;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("format must be INFERENCE_FORMAT_FLOAT32 or INFERENCE_FORMAT_INT8, got ",
                       static_cast<int>(format)));
  }
}

std::shared_ptr<const InferenceArtifact> InferencePublisher::Find(const std::string& sha256) const {
  if (float_ != nullptr && float_->sha256 == sha256) return float_;
  if (int8_.ok() && (*int8_)->sha256 == sha256) return *int8_;
  for (const auto& a : previous_) {
    if (a->sha256 == sha256) return a;
  }
  return nullptr;
}

std::optional<InferencePublisher::RetryWindow> InferencePublisher::AdmitDownload(absl::Time now) {
  if (refilled_ != absl::InfinitePast()) {
    const double elapsed = absl::ToDoubleSeconds(now - refilled_);
    tokens_ = std::min(rate_, tokens_ + rate_ * std::max(0.0, elapsed));
    waiting_ = std::max(0.0, waiting_ - rate_ * std::max(0.0, elapsed));
  }
  refilled_ = now;
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::nullopt;
  }
  // The devices already sent away come back at the rate; this one queues behind them.
  waiting_ += 1.0;
  const double seconds = std::max(1.0, waiting_ / rate_);
  RetryWindow w;
  w.min_delay = absl::Seconds(std::min(seconds, 3600.0));
  w.max_delay = absl::Seconds(std::min(2.0 * seconds, 7200.0));
  return w;
}

}  // namespace cohort::server
