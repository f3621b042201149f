#ifndef COHORT_SERVER_CORE_INFERENCE_PUBLISHER_H_
#define COHORT_SERVER_CORE_INFERENCE_PUBLISHER_H_

// The inference artifacts of one task (docs/inference.md): after each commit the latest model
// version is published as a FLOAT32 artifact and, when the operator attached calibration data,
// an INT8 one (model::QuantizeModel). Artifacts are immutable, shared buffers: serving a chunk
// copies nothing but the chunk. The previous version's artifacts are kept so that downloads in
// progress can finish.
//
// Pace steering of downloads: a token bucket of download starts (the configured rate per second,
// bursts of one second's worth); a device turned away gets a retry window sized so that the
// devices already waiting spread over it at that rate.
//
// Codes of Latest: FAILED_PRECONDITION for a task without a layer graph, and for INT8 without
// calibration data or when quantization failed (naming why); INVALID_ARGUMENT for an unknown
// format. This class is not thread-safe (the Coordinator serializes calls).

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cohort/v1/inference.pb.h"
#include "cohort/v1/model.pb.h"

namespace cohort::server {

struct InferenceArtifact {
  int64_t model_version = 0;
  cohort::v1::InferenceFormat format = cohort::v1::INFERENCE_FORMAT_UNSPECIFIED;
  std::string bytes;  // serialized cohort.v1.InferenceModel
  std::string sha256;
};

class InferencePublisher {
 public:
  // `downloads_per_second` > 0: the pace-steering rate.
  InferencePublisher(std::string task_id, double downloads_per_second);

  // Publishes `model` (call after each commit, and once with the latest version at start-up).
  void Publish(std::shared_ptr<const cohort::v1::Model> model);
  // Replaces the calibration data (little-endian float32 examples) and re-quantizes.
  void SetCalibrationData(std::string examples);
  bool has_calibration_data() const { return !calibration_.empty(); }

  absl::StatusOr<std::shared_ptr<const InferenceArtifact>> Latest(
      cohort::v1::InferenceFormat format) const;
  // A kept artifact (the latest or the previous version's) by SHA-256, or null.
  std::shared_ptr<const InferenceArtifact> Find(const std::string& sha256) const;

  // Takes one download start from the bucket; without one, the retry window to hand out.
  struct RetryWindow {
    absl::Duration min_delay;
    absl::Duration max_delay;
  };
  std::optional<RetryWindow> AdmitDownload(absl::Time now);

 private:
  void Rebuild();

  std::string task_id_;
  double rate_;
  double tokens_;
  absl::Time refilled_ = absl::InfinitePast();
  // Devices told to retry, decaying at the rate: how many are already waiting.
  double waiting_ = 0;
  std::shared_ptr<const cohort::v1::Model> model_;
  std::string calibration_;
  std::shared_ptr<const InferenceArtifact> float_;
  absl::StatusOr<std::shared_ptr<const InferenceArtifact>> int8_;
  std::deque<std::shared_ptr<const InferenceArtifact>> previous_;  // newest last
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_INFERENCE_PUBLISHER_H_
