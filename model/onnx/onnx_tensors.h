#ifndef COHORT_MODEL_ONNX_ONNX_TENSORS_H_
#define COHORT_MODEL_ONNX_ONNX_TENSORS_H_

// Reading and writing onnx.TensorProto values and node attributes. Internal to the ONNX
// importer and exporter.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "onnx/onnx_pb.h"

namespace cohort::model::onnx_internal {

struct FloatTensor {
  std::vector<int64_t> dims;
  std::vector<float> values;
};

// FLOAT tensors from raw_data (little-endian) or float_data; INVALID_ARGUMENT for other types,
// external data or a size that does not match the dims.
absl::StatusOr<FloatTensor> ReadFloats(const onnx::TensorProto& tensor);
// INT64 tensors from raw_data or int64_data.
absl::StatusOr<std::vector<int64_t>> ReadInt64s(const onnx::TensorProto& tensor);

// The value of a Constant node (attribute value, value_float(s) or value_int(s)) as a tensor.
absl::StatusOr<onnx::TensorProto> ConstantValue(const onnx::NodeProto& node);

const onnx::AttributeProto* FindAttribute(const onnx::NodeProto& node, absl::string_view name);
int64_t IntAttribute(const onnx::NodeProto& node, absl::string_view name, int64_t fallback);
float FloatAttribute(const onnx::NodeProto& node, absl::string_view name, float fallback);
std::string StringAttribute(const onnx::NodeProto& node, absl::string_view name,
                            absl::string_view fallback);
std::vector<int64_t> IntsAttribute(const onnx::NodeProto& node, absl::string_view name);

// Builders for the exporter.
onnx::TensorProto MakeFloatTensor(const std::string& name, const std::vector<int64_t>& dims,
                                  const float* values);
onnx::TensorProto MakeInt64Tensor(const std::string& name, const std::vector<int64_t>& values);
void AddIntAttribute(onnx::NodeProto& node, const std::string& name, int64_t value);
void AddIntsAttribute(onnx::NodeProto& node, const std::string& name,
                      const std::vector<int64_t>& values);

}  // namespace cohort::model::onnx_internal

#endif  // COHORT_MODEL_ONNX_ONNX_TENSORS_H_
