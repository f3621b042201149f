#ifndef COHORT_SIM_INFERENCE_REPORT_H_
#define COHORT_SIM_INFERENCE_REPORT_H_
// The end of a run as a phone sees it: the inference artifacts the server published for the last
// committed version, fetched through a device's SDK (Client::UpdateInferenceModel), saved to the
// output directory and scored on the test set with the SDK's engine (XNNPACK), int8 beside float.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "cohort/client/client.h"
#include "sim/dataset.h"

namespace cohort::sim {

// Training images the simulation attaches as the task's calibration data: the first `count`
// examples, as AttachCalibrationData takes them (little-endian float32, row-major). In a real
// deployment this is data the operator holds, never device data; the simulator plays both.
std::string CalibrationExamples(const Dataset& train, int64_t count);

struct InferenceReport {
  int64_t model_version = 0;
  double float_accuracy = 0.0;
  double int8_accuracy = 0.0;
  int64_t float_bytes = 0;
  int64_t int8_bytes = 0;
  std::string float_path;  // <output_dir>/model_float32.pb
  std::string int8_path;   // <output_dir>/model_int8.pb
};

// Fetches both artifacts of `task_id` through `device`, copies them into `output_dir` and scores
// them on `test`.
absl::StatusOr<InferenceReport> FetchAndScoreInferenceModels(client::Client& device,
                                                             const std::string& task_id,
                                                             const Dataset& test,
                                                             const std::string& output_dir);

// The summary lines and the JSON object (inference.json) of a report.
std::string FormatInferenceReport(const InferenceReport& report);
std::string InferenceReportJson(const InferenceReport& report);

}  // namespace cohort::sim

#endif  // COHORT_SIM_INFERENCE_REPORT_H_
