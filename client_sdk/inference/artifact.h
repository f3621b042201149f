#ifndef COHORT_CLIENT_SDK_INFERENCE_ARTIFACT_H_
#define COHORT_CLIENT_SDK_INFERENCE_ARTIFACT_H_

// Reading and checking a cohort.v1.InferenceModel before any engine looks at it, so that a
// damaged or inconsistent artifact is refused at load with what is wrong, never at Predict.
//
// Codes: DATA_LOSS for bytes that are not an InferenceModel; INVALID_ARGUMENT naming the field
// (and the layer) for a graph AnalyzeGraph refuses, an unspecified format, float parameters of
// the wrong length, int8 data of the wrong size, a scale that is not a positive finite number,
// a zero point outside [-128, 127]. Thread-safe (pure functions).

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cohort/v1/inference.pb.h"
#include "model/graph.h"

namespace cohort::inference {

absl::StatusOr<cohort::v1::InferenceModel> ParseArtifact(absl::string_view bytes);

// The graph's analysis, once the whole artifact is consistent with it.
absl::StatusOr<model::GraphInfo> CheckArtifact(const cohort::v1::InferenceModel& artifact);

// "layers[3] 'conv2' (conv2d)": how every message names a layer.
std::string LayerLabel(const cohort::v1::ModelGraph& graph, int index);

}  // namespace cohort::inference

#endif  // COHORT_CLIENT_SDK_INFERENCE_ARTIFACT_H_
