#ifndef COHORT_MODEL_INITIALIZER_H_
#define COHORT_MODEL_INITIALIZER_H_

// Version 0 of a graph model: Glorot-uniform kernels and zero biases from a seed, or the
// operator's own parameters (an ONNX file's initializers, say).
//
// Glorot-uniform draws U(-l, l), l = sqrt(6 / (fan_in + fan_out)), with the fans of the layer:
// Dense [in, units] has in and units; Conv2D [F, C/g, kh, kw] has (C/g)*kh*kw and F*kh*kw
// (PyTorch's and ONNX's order). The draws come from SplitMix64 seeded with
// MixSeed(seed, codec::kGlorotStream), one per kernel element in layout order, as (2u - 1) * l:
// for a graph of Dense layers the same values codec::InitialModel gives its layout.
//
// Codes: INVALID_ARGUMENT for a graph AnalyzeGraph refuses, parameter bytes of the wrong length
// or an unset ModelInit. Thread-safe (pure functions).

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/graph.pb.h"
#include "cohort/v1/model.pb.h"
#include "model/graph.h"

namespace cohort::model {

std::vector<float> GlorotUniformParameters(const cohort::v1::ModelGraph& graph,
                                           const GraphInfo& info, uint64_t seed);

// The model at version 0 with graph, layout, parameters and checksum set.
absl::StatusOr<cohort::v1::Model> InitialGraphModel(const cohort::v1::ModelInit& init,
                                                    const cohort::v1::ModelGraph& graph);

}  // namespace cohort::model

#endif  // COHORT_MODEL_INITIALIZER_H_
