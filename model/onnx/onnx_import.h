#ifndef COHORT_MODEL_ONNX_ONNX_IMPORT_H_
#define COHORT_MODEL_ONNX_ONNX_IMPORT_H_

// ONNX files in and out of Cohort's layer graph (docs/models.md has the operator table).
//
// ImportOnnx maps a linear chain of supported operators — Gemm, MatMul (+ Add), Conv, Relu,
// Clip(0, 6) as ReLU6, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Softmax, and
// Constant/Identity/Dropout as plumbing — to a ModelGraph, and the weight initializers to the
// flat parameters in the graph's layout (Gemm's B is transposed when transB = 1; Conv weights keep
// ONNX's [F, C/g, kh, kw] order). Layer names come from the weight initializers ("conv1.weight"
// names layer "conv1") or the node name.
//
// ExportOnnx writes opset 13, IR version 8: Gemm (transB = 1, weights [units, in] as PyTorch
// stores them), Conv, MaxPool, AveragePool, GlobalAveragePool, Relu, Clip, Flatten, Reshape,
// Softmax, with input "input" [N, ...input_shape] and output "output" [N, classes], and
// initializers "<layer>.weight" / "<layer>.bias", so that ImportOnnx(ExportOnnx(g, p)) gives back
// g's layout and p exactly.
//
// Codes: INVALID_ARGUMENT for a file that does not parse, an operator, attribute or graph shape
// Cohort does not support (naming the node and its op type), missing or mistyped initializers,
// or a graph model::AnalyzeGraph refuses. Thread-safe (pure functions).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "cohort/v1/graph.pb.h"

namespace cohort::model {

struct ImportedModel {
  cohort::v1::ModelGraph graph;  // canonical (model::CanonicalGraph)
  std::vector<float> parameters;  // in the graph's layout order
};

absl::StatusOr<ImportedModel> ImportOnnx(absl::string_view model_bytes);

// A serialized onnx.ModelProto. INVALID_ARGUMENT for a graph AnalyzeGraph refuses or
// parameters of the wrong length.
absl::StatusOr<std::string> ExportOnnx(const cohort::v1::ModelGraph& graph,
                                       absl::Span<const float> parameters);

}  // namespace cohort::model

#endif  // COHORT_MODEL_ONNX_ONNX_IMPORT_H_
