// Writes the artifacts and expected outputs that the C ABI test (client_sdk/src/
// c_api_inference_test.c) and the JNI test (bindings/android/src/test) check against, so that
// those tests link only libcohort_client.so, as an app does. Test-only.
//
//   inference_fixture_writer DIR
//
// DIR/cnn_float.pb, cnn_int8.pb     the zoo CNN with seeded weights, FLOAT32 and INT8 artifacts
// DIR/inputs.f32                    4 images, little-endian float32
// DIR/cnn_float.expected.f32        the Eigen reference's outputs for them
// DIR/cnn_int8.expected.f32         the C++ API's (InferenceModel) int8 outputs for them
// DIR/unrunnable.pb                 a valid FLOAT32 artifact XNNPACK refuses (1x1 max pooling
//                                   named 'subsample')

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "client_sdk/inference/test_models.h"
#include "cohort/client/inference.h"
#include "model/network.h"
#include "model/zoo.h"

namespace {

bool Write(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  return out.good();
}

bool WriteFloats(const std::string& path, const std::vector<float>& v) {
  return Write(path, v.data(), v.size() * sizeof(float));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cohort;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const inference::testing::TestModel m =
      inference::testing::FromGraph("cnn", model::SmallCnnGraph(28, 10), 4, 21);
  cohort::v1::InferenceModel f32 = inference::testing::FloatModel(m);
  f32.set_task_id("fixture-task");
  f32.set_model_version(3);
  cohort::v1::InferenceModel int8 = inference::testing::Int8Model(m);
  int8.set_task_id("fixture-task");
  int8.set_model_version(3);
  const std::string f32_bytes = f32.SerializeAsString(), int8_bytes = int8.SerializeAsString();

  auto net = model::Network<float>::Create(m.graph);
  if (!net.ok()) return 1;
  std::vector<float> expected(40);
  (*net)->Predict(m.parameters.data(), m.sample_inputs.data(), 4, expected.data());
  auto engine = client::InferenceModel::Load(int8_bytes);
  std::vector<float> int8_out(40);
  if (!engine.ok() || !(*engine)->Predict(m.sample_inputs, 4, absl::MakeSpan(int8_out)).ok()) {
    std::fprintf(stderr, "int8 engine failed: %s\n", engine.status().ToString().c_str());
    return 1;
  }

  cohort::v1::ModelGraph g;
  for (int64_t d : {2, 6, 6}) g.add_input_shape(d);
  inference::testing::AddPool(g, "subsample", true, 1, 2, 0);
  inference::testing::AddLayer(g, "flat")->mutable_flatten();
  inference::testing::AddDense(g, "out", 2);
  const std::string unrunnable =
      inference::testing::FloatModel(inference::testing::FromGraph("subsample", g, 1, 3))
          .SerializeAsString();

  const bool ok = Write(dir + "/cnn_float.pb", f32_bytes.data(), f32_bytes.size()) &&
                  Write(dir + "/cnn_int8.pb", int8_bytes.data(), int8_bytes.size()) &&
                  WriteFloats(dir + "/inputs.f32", m.sample_inputs) &&
                  WriteFloats(dir + "/cnn_float.expected.f32", expected) &&
                  WriteFloats(dir + "/cnn_int8.expected.f32", int8_out) &&
                  Write(dir + "/unrunnable.pb", unrunnable.data(), unrunnable.size());
  if (!ok) std::fprintf(stderr, "cannot write to %s\n", dir.c_str());
  return ok ? 0 : 1;
}
