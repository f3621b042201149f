#ifndef COHORT_MODEL_GRAPH_H_
#define COHORT_MODEL_GRAPH_H_

// Validation and shape inference of a cohort.v1.ModelGraph, and the parameter layout it implies
// (graph.proto says which tensors each layer owns and in which order).
//
//   COHORT_ASSIGN_OR_RETURN(model::GraphInfo info, model::AnalyzeGraph(graph));
//   info.layout          // the ModelLayout the codec, SecAgg and the store use
//   info.layers[i].output  // shape after layer i
//
// Codes: INVALID_ARGUMENT naming the layer (index and name) and the attribute, e.g.
//   "graph.layers[2] 'conv2': conv2d.groups must divide 6 input channels and 16 filters, got 4".
// Thread-safe (pure functions).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cohort/v1/graph.pb.h"
#include "cohort/v1/model.pb.h"

namespace cohort::model {

// Per-example shape, without the batch dimension: [features] or [channels, height, width].
using Shape = std::vector<int64_t>;

int64_t NumElements(const Shape& shape);
std::string ShapeToString(const Shape& shape);

// Bounds that keep every size computation far inside int64 and a model on a phone.
inline constexpr int64_t kMaxLayers = 256;
inline constexpr int64_t kMaxActivationElements = int64_t{1} << 24;  // per example
inline constexpr int64_t kMaxGraphParameters = int64_t{1} << 28;

// Spatial geometry of a Conv2D or Pool2D layer, resolved with its defaults.
struct Window {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};

struct LayerInfo {
  Shape input;
  Shape output;
  // Offsets into the flat parameter vector (layout order); sizes 0 for layers without weights.
  int64_t kernel_offset = 0;
  int64_t kernel_size = 0;
  int64_t bias_offset = 0;
  int64_t bias_size = 0;
  // Conv2D and pooling layers only.
  Window window;
  int64_t groups = 1;
};

struct GraphInfo {
  Shape input;
  std::vector<LayerInfo> layers;
  int64_t num_parameters = 0;
  // Size of the last layer's output: the number of classes for the softmax cross-entropy loss.
  int64_t num_outputs = 0;
  // Index of the layer whose output the loss reads: the last one, or the one before a final
  // Softmax (the loss is computed from logits).
  int64_t logits_layer = 0;
  cohort::v1::ModelLayout layout;
};

// Checks every layer against its input shape and derives shapes, offsets and the layout. The
// loss UNSPECIFIED counts as softmax cross-entropy.
absl::StatusOr<GraphInfo> AnalyzeGraph(const cohort::v1::ModelGraph& graph);

// The layer checks of AnalyzeGraph alone, for a graph still being built (an importer asking for
// the shape so far): no requirement on the last layer's output, the loss, or trainable layers;
// an empty graph gives an empty list.
absl::StatusOr<GraphInfo> AnalyzeLayers(const cohort::v1::ModelGraph& graph);

// Fills Conv2D/Pool2D defaults the way AnalyzeGraph reads them (strides [1, 1] or the kernel,
// pads none, groups 1, use_bias true) so that two graphs that mean the same compare equal.
cohort::v1::ModelGraph CanonicalGraph(cohort::v1::ModelGraph graph);

}  // namespace cohort::model

#endif  // COHORT_MODEL_GRAPH_H_
