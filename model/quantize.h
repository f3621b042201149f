#ifndef COHORT_MODEL_QUANTIZE_H_
#define COHORT_MODEL_QUANTIZE_H_

// Inference artifacts of a committed model (cohort.v1.InferenceModel, docs/inference.md):
// the float32 model as is, and post-training int8 quantization in TFLite's full-integer scheme.
//
//   COHORT_ASSIGN_OR_RETURN(auto int8, model::QuantizeModel(graph, params, calibration, n));
//
// Quantization (the engine reproduces exactly these numbers):
//  - Activations: the float network runs over the calibration examples; every value range
//    [min, max] (widened to contain 0, so that zero is exact) becomes
//    scale = (max - min) / 255, zero_point = round(-128 - min / scale), clamped to [-128, 127].
//    The input is calibrated the same way. Flatten, reshape and max pooling keep their input's
//    parameters (they only move values); a ReLU or ReLU6 right after a Dense or Conv2D is
//    calibrated on its own output and fused into that layer by the engine, while one after any
//    other layer keeps its input's parameters; a final softmax is computed in float.
//  - Weights: symmetric per output channel, scale_c = max |w_c| / 127 (1 for an all-zero
//    channel), q = round(w / scale_c) in [-127, 127].
//  - Biases: int32, round(b / (input_scale * scale_c)).
//
// Codes: INVALID_ARGUMENT for a graph AnalyzeGraph refuses, parameters of the wrong length, or
// calibration data that is not examples of the graph's input size; FAILED_PRECONDITION without
// calibration examples. Thread-safe (pure functions).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/v1/graph.pb.h"
#include "cohort/v1/inference.pb.h"

namespace cohort::model {

// Examples of representative data at most used for calibration (TFLite suggests 100 to 500).
inline constexpr int64_t kMaxCalibrationExamples = 1000;

absl::StatusOr<cohort::v1::InferenceModel> QuantizeModel(
    const cohort::v1::ModelGraph& graph, absl::Span<const float> parameters,
    absl::Span<const float> calibration_inputs);

// The FLOAT32 artifact of a graph model.
absl::StatusOr<cohort::v1::InferenceModel> FloatArtifact(const cohort::v1::ModelGraph& graph,
                                                         absl::Span<const float> parameters);

// The quantization of a value range as the activations use it (exposed for tests and the
// engine's own checks).
cohort::v1::QuantizationParams ActivationParams(double min, double max);

// Runs an INT8 artifact with quantization simulated in float (weights and every activation
// rounded to their int8 grids): the numbers an exact int8 engine produces, up to the rounding of
// its requantization. For tests and the server-side reference. `outputs` is [batch, classes].
absl::Status SimulateInt8(const cohort::v1::InferenceModel& artifact,
                          absl::Span<const float> inputs, int64_t batch,
                          absl::Span<float> outputs);

}  // namespace cohort::model

#endif  // COHORT_MODEL_QUANTIZE_H_
