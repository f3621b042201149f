#ifndef COHORT_CLIENT_SDK_INFERENCE_TEST_MODELS_H_
#define COHORT_CLIENT_SDK_INFERENCE_TEST_MODELS_H_

// Models for the engine's tests: the zoo graphs with Glorot weights, the committed PyTorch ONNX
// fixtures, small graphs built layer by layer, and seeded inputs. Test-only.

#include <cstdint>
#include <string>
#include <vector>

#include "cohort/v1/graph.pb.h"
#include "cohort/v1/inference.pb.h"

namespace cohort::inference::testing {

struct TestModel {
  std::string name;
  cohort::v1::ModelGraph graph;
  std::vector<float> parameters;
  std::vector<float> sample_inputs;  // a few examples
  int64_t sample_batch = 0;
  std::vector<float> pytorch_outputs;  // ONNX fixtures only
};

// Uniform values in [low, high) from a seed.
std::vector<float> Uniform(int64_t n, float low, float high, uint64_t seed);

// Glorot weights with small random biases (so that bias handling is exercised).
std::vector<float> RandomParameters(const cohort::v1::ModelGraph& graph, uint64_t seed);

// A zoo or hand-built graph with random parameters and `batch` sample inputs in [0, 1).
TestModel FromGraph(const std::string& name, cohort::v1::ModelGraph graph, int64_t batch,
                    uint64_t seed);

// An ONNX fixture of tests/fixtures/onnx ("mlp", "lenet", "mobile_block") with PyTorch's
// sample inputs and outputs.
TestModel FromOnnxFixture(const std::string& name);

// MlpGraph(784, 64, 10), SmallCnnGraph(28, 10) and the three ONNX fixtures.
std::vector<TestModel> AllModels();

// Calibration examples shaped like the model's input: the sample inputs' value range, seeded.
std::vector<float> CalibrationData(const TestModel& model, int64_t examples, uint64_t seed);

cohort::v1::InferenceModel FloatModel(const TestModel& model);
cohort::v1::InferenceModel Int8Model(const TestModel& model);

// Builders for hand-made graphs.
cohort::v1::Layer* AddLayer(cohort::v1::ModelGraph& graph, const std::string& name);
void AddConv(cohort::v1::ModelGraph& graph, const std::string& name, int64_t filters,
             int64_t kernel, int64_t stride, int64_t pad, int64_t groups);
void AddPool(cohort::v1::ModelGraph& graph, const std::string& name, bool max, int64_t kernel,
             int64_t stride, int64_t pad);
void AddDense(cohort::v1::ModelGraph& graph, const std::string& name, int64_t units);

}  // namespace cohort::inference::testing

#endif  // COHORT_CLIENT_SDK_INFERENCE_TEST_MODELS_H_
