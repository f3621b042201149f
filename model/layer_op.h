#ifndef COHORT_MODEL_LAYER_OP_H_
#define COHORT_MODEL_LAYER_OP_H_

// The forward and backward pass of one layer over a batch. Activations are batch-major:
// example b's values are [b * size, (b + 1) * size) of the buffer, each example in the graph's
// row-major (C, H, W) order. Parameters and gradients use the graph's flat layout (graph.h).
//
// Internal to cohort::model; Network is the public entry point. Implementations keep only
// scratch space between calls, so an op is not thread-safe but holds no result of a pass.

#include <cstdint>
#include <memory>

#include "cohort/v1/graph.pb.h"
#include "model/graph.h"

namespace cohort::model::internal {

template <typename Scalar>
class LayerOp {
 public:
  virtual ~LayerOp() = default;

  // out = layer(in). `params` is the whole flat parameter vector.
  virtual void Forward(const Scalar* params, const Scalar* in, int64_t batch, Scalar* out) = 0;

  // Given d_out = dL/d(out), writes dL/d(in) into `d_in` (skipped when null: the first layer)
  // and dL/d(own parameters) into this layer's slice of `d_params` (overwritten, not added).
  // `in` and `out` are the values of the forward pass.
  virtual void Backward(const Scalar* params, const Scalar* in, const Scalar* out,
                        const Scalar* d_out, int64_t batch, Scalar* d_in, Scalar* d_params) = 0;
};

// The op of `layer` with the shapes AnalyzeGraph derived for it.
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeLayerOp(const cohort::v1::Layer& layer,
                                             const LayerInfo& info);

template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeDense(const LayerInfo& info);
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeConv2D(const LayerInfo& info);
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeMaxPool2D(const LayerInfo& info);
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeAvgPool2D(const LayerInfo& info);
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeGlobalAvgPool(const LayerInfo& info);
// ReLU with an upper bound (6 for ReLU6; infinity for ReLU).
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeClampedRelu(const LayerInfo& info, Scalar upper);
// Flatten and Reshape: the values stay where they are.
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeIdentity(const LayerInfo& info);
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeSoftmax(const LayerInfo& info);

}  // namespace cohort::model::internal

#endif  // COHORT_MODEL_LAYER_OP_H_
