#ifndef COHORT_MODEL_ZOO_H_
#define COHORT_MODEL_ZOO_H_

// Ready-made graphs: the simulator's models and the shapes tests use. Each returns a graph that
// AnalyzeGraph accepts.

#include <cstdint>

#include "cohort/v1/graph.pb.h"

namespace cohort::model {

// One Dense layer "dense": softmax regression over [inputs] features.
cohort::v1::ModelGraph SoftmaxRegressionGraph(int64_t inputs, int64_t classes);

// "hidden" Dense + ReLU + "output" Dense: the tensors of the SDK's MlpLayout.
cohort::v1::ModelGraph MlpGraph(int64_t inputs, int64_t hidden, int64_t classes);

// A LeNet-style CNN for [1, side, side] images (Fashion-MNIST: side 28):
// conv1 5x5x8 - ReLU - max pool 2 - conv2 5x5x16 - ReLU - max pool 2 - flatten - dense classes.
// 5,994 parameters at side 28 and 10 classes.
cohort::v1::ModelGraph SmallCnnGraph(int64_t side, int64_t classes);

// The simulator's CNN for [1, side, side] images: conv1 3x3x16 - ReLU - max pool 2 -
// conv2 3x3x32 - ReLU - max pool 2 - flatten - dense 64 - ReLU - dense classes.
// 56,714 parameters at side 28 and 10 classes (about 2x SmallCnnGraph's multiply-adds).
cohort::v1::ModelGraph CnnGraph(int64_t side, int64_t classes);

}  // namespace cohort::model

#endif  // COHORT_MODEL_ZOO_H_
