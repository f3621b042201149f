#include "sim/inference_report.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "cohort/client/inference.h"
#include "sim/metrics.h"

namespace cohort::sim {
namespace {

constexpr int64_t kBatch = 100;

absl::StatusOr<std::string> ReadArtifact(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Fraction of `test` whose most probable class under `model` is the label.
absl::StatusOr<double> Accuracy(const client::InferenceModel& model, const Dataset& test) {
  if (model.info().input_size != test.num_features) {
    return absl::FailedPreconditionError(
        absl::StrCat("the artifact takes ", model.info().input_size, " inputs, the test set has ",
                     test.num_features));
  }
  const int64_t classes = model.info().output_size;
  std::vector<float> outputs(static_cast<size_t>(kBatch * classes));
  int64_t correct = 0;
  for (int64_t begin = 0; begin < test.size(); begin += kBatch) {
    const int64_t batch = std::min(kBatch, test.size() - begin);
    COHORT_RETURN_IF_ERROR(model.Predict(
        absl::MakeConstSpan(test.features).subspan(begin * test.num_features,
                                                   batch * test.num_features),
        batch, absl::MakeSpan(outputs).subspan(0, batch * classes)));
    for (int64_t i = 0; i < batch; ++i) {
      const float* row = outputs.data() + i * classes;
      const int64_t predicted = std::max_element(row, row + classes) - row;
      correct += predicted == test.labels[begin + i];
    }
  }
  return static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(1, test.size()));
}

struct Scored {
  int64_t version = 0;
  int64_t bytes = 0;
  double accuracy = 0.0;
  std::string path;
};

absl::StatusOr<Scored> FetchAndScore(client::Client& device, const std::string& task_id,
                                     client::InferenceFormat format, const Dataset& test,
                                     const std::string& path) {
  COHORT_ASSIGN_OR_RETURN(client::InferenceModelUpdate update,
                          device.UpdateInferenceModel(format, task_id));
  COHORT_ASSIGN_OR_RETURN(std::string bytes, ReadArtifact(update.path));
  COHORT_RETURN_IF_ERROR(WriteFile(path, bytes));
  COHORT_ASSIGN_OR_RETURN(std::unique_ptr<client::InferenceModel> model,
                          client::InferenceModel::Load(bytes));
  COHORT_ASSIGN_OR_RETURN(double accuracy, Accuracy(*model, test));
  return Scored{update.model_version, static_cast<int64_t>(bytes.size()), accuracy, path};
}

}  // namespace

std::string CalibrationExamples(const Dataset& train, int64_t count) {
  static_assert(std::endian::native == std::endian::little);
  const int64_t n = std::min(count, train.size());
  std::string bytes(static_cast<size_t>(n * train.num_features) * sizeof(float), '\0');
  std::memcpy(bytes.data(), train.features.data(), bytes.size());
  return bytes;
}

absl::StatusOr<InferenceReport> FetchAndScoreInferenceModels(client::Client& device,
                                                             const std::string& task_id,
                                                             const Dataset& test,
                                                             const std::string& output_dir) {
  COHORT_ASSIGN_OR_RETURN(Scored f32, FetchAndScore(device, task_id,
                                                    client::InferenceFormat::kFloat32, test,
                                                    output_dir + "/model_float32.pb"));
  COHORT_ASSIGN_OR_RETURN(Scored int8, FetchAndScore(device, task_id,
                                                     client::InferenceFormat::kInt8, test,
                                                     output_dir + "/model_int8.pb"));
  if (f32.version != int8.version) {
    return absl::AbortedError(absl::StrCat("the float artifact is of version ", f32.version,
                                           ", the int8 one of ", int8.version));
  }
  return InferenceReport{f32.version, f32.accuracy, int8.accuracy, f32.bytes,
                         int8.bytes,  f32.path,     int8.path};
}

std::string FormatInferenceReport(const InferenceReport& r) {
  return absl::StrFormat(
      "  on-device models      version %d on XNNPACK: int8 %.2f%%, float32 %.2f%% test accuracy;"
      "\n                        int8 %s (%.3fx the float32 %s)\n"
      "                        %s\n",
      r.model_version, 100.0 * r.int8_accuracy, 100.0 * r.float_accuracy,
      FormatBytes(static_cast<double>(r.int8_bytes)),
      static_cast<double>(r.int8_bytes) / static_cast<double>(std::max<int64_t>(1, r.float_bytes)),
      FormatBytes(static_cast<double>(r.float_bytes)), r.int8_path);
}

std::string InferenceReportJson(const InferenceReport& r) {
  return absl::StrFormat(
      "{\"model_version\": %d, \"engine\": \"xnnpack\", \"float32\": {\"test_accuracy\": %.6f, "
      "\"bytes\": %d, \"path\": %s}, \"int8\": {\"test_accuracy\": %.6f, \"bytes\": %d, "
      "\"path\": %s}}\n",
      r.model_version, r.float_accuracy, r.float_bytes, JsonString(r.float_path),
      r.int8_accuracy, r.int8_bytes, JsonString(r.int8_path));
}

}  // namespace cohort::sim
