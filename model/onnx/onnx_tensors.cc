#include "model/onnx/onnx_tensors.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace cohort::model::onnx_internal {
namespace {

absl::StatusOr<int64_t> ElementCount(const onnx::TensorProto& tensor) {
  int64_t n = 1;
  for (int64_t d : tensor.dims()) {
    if (d < 0 || (d > 0 && n > (int64_t{1} << 40) / d)) {
      return absl::InvalidArgumentError(
          absl::StrCat("ONNX tensor '", tensor.name(), "' has a bad dimension ", d));
    }
    n *= d;
  }
  return n;
}

absl::Status CheckStoredInline(const onnx::TensorProto& tensor) {
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ONNX tensor '", tensor.name(), "' keeps its data in an external file; save the model "
        "with the weights inside it"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<std::vector<T>> ReadRaw(const onnx::TensorProto& tensor, int64_t count) {
  if (static_cast<int64_t>(tensor.raw_data().size()) != count * static_cast<int64_t>(sizeof(T))) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX tensor '", tensor.name(), "' has ",
                                                   tensor.raw_data().size(), " bytes for ", count,
                                                   " values"));
  }
  std::vector<T> values(static_cast<size_t>(count));
  // ONNX stores raw data little-endian, which is what every target of Cohort is.
  std::memcpy(values.data(), tensor.raw_data().data(), tensor.raw_data().size());
  return values;
}

}  // namespace

absl::StatusOr<FloatTensor> ReadFloats(const onnx::TensorProto& tensor) {
  if (absl::Status s = CheckStoredInline(tensor); !s.ok()) return s;
  if (tensor.data_type() != onnx::TensorProto::FLOAT) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX tensor '", tensor.name(),
                                                   "' must be FLOAT, got data type ",
                                                   tensor.data_type()));
  }
  absl::StatusOr<int64_t> count = ElementCount(tensor);
  if (!count.ok()) return count.status();
  FloatTensor out;
  out.dims.assign(tensor.dims().begin(), tensor.dims().end());
  if (tensor.has_raw_data()) {
    absl::StatusOr<std::vector<float>> raw = ReadRaw<float>(tensor, *count);
    if (!raw.ok()) return raw.status();
    out.values = *std::move(raw);
  } else {
    if (tensor.float_data_size() != *count) {
      return absl::InvalidArgumentError(absl::StrCat("ONNX tensor '", tensor.name(), "' has ",
                                                     tensor.float_data_size(), " values, its dims ",
                                                     "need ", *count));
    }
    out.values.assign(tensor.float_data().begin(), tensor.float_data().end());
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> ReadInt64s(const onnx::TensorProto& tensor) {
  if (absl::Status s = CheckStoredInline(tensor); !s.ok()) return s;
  if (tensor.data_type() != onnx::TensorProto::INT64) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX tensor '", tensor.name(),
                                                   "' must be INT64, got data type ",
                                                   tensor.data_type()));
  }
  absl::StatusOr<int64_t> count = ElementCount(tensor);
  if (!count.ok()) return count.status();
  if (tensor.has_raw_data()) return ReadRaw<int64_t>(tensor, *count);
  if (tensor.int64_data_size() != *count) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX tensor '", tensor.name(), "' has ",
                                                   tensor.int64_data_size(), " values, its dims ",
                                                   "need ", *count));
  }
  return std::vector<int64_t>(tensor.int64_data().begin(), tensor.int64_data().end());
}

absl::StatusOr<onnx::TensorProto> ConstantValue(const onnx::NodeProto& node) {
  onnx::TensorProto tensor;
  if (const onnx::AttributeProto* a = FindAttribute(node, "value"); a != nullptr) {
    tensor = a->t();
  } else if (const onnx::AttributeProto* f = FindAttribute(node, "value_float"); f != nullptr) {
    tensor.set_data_type(onnx::TensorProto::FLOAT);
    tensor.add_float_data(f->f());
  } else if (const onnx::AttributeProto* fs = FindAttribute(node, "value_floats"); fs != nullptr) {
    tensor.set_data_type(onnx::TensorProto::FLOAT);
    tensor.add_dims(fs->floats_size());
    for (float v : fs->floats()) tensor.add_float_data(v);
  } else if (const onnx::AttributeProto* i = FindAttribute(node, "value_int"); i != nullptr) {
    tensor.set_data_type(onnx::TensorProto::INT64);
    tensor.add_int64_data(i->i());
  } else if (const onnx::AttributeProto* is = FindAttribute(node, "value_ints"); is != nullptr) {
    tensor.set_data_type(onnx::TensorProto::INT64);
    tensor.add_dims(is->ints_size());
    for (int64_t v : is->ints()) tensor.add_int64_data(v);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "ONNX node '", node.name(), "' (Constant) has no value Cohort reads (value, value_float(s), "
        "value_int(s))"));
  }
  tensor.set_name(node.output(0));
  return tensor;
}

const onnx::AttributeProto* FindAttribute(const onnx::NodeProto& node, absl::string_view name) {
  for (const onnx::AttributeProto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

int64_t IntAttribute(const onnx::NodeProto& node, absl::string_view name, int64_t fallback) {
  const onnx::AttributeProto* a = FindAttribute(node, name);
  return a == nullptr ? fallback : a->i();
}

float FloatAttribute(const onnx::NodeProto& node, absl::string_view name, float fallback) {
  const onnx::AttributeProto* a = FindAttribute(node, name);
  return a == nullptr ? fallback : a->f();
}

std::string StringAttribute(const onnx::NodeProto& node, absl::string_view name,
                            absl::string_view fallback) {
  const onnx::AttributeProto* a = FindAttribute(node, name);
  return a == nullptr ? std::string(fallback) : a->s();
}

std::vector<int64_t> IntsAttribute(const onnx::NodeProto& node, absl::string_view name) {
  const onnx::AttributeProto* a = FindAttribute(node, name);
  if (a == nullptr) return {};
  return {a->ints().begin(), a->ints().end()};
}

onnx::TensorProto MakeFloatTensor(const std::string& name, const std::vector<int64_t>& dims,
                                  const float* values) {
  onnx::TensorProto tensor;
  tensor.set_name(name);
  tensor.set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    tensor.add_dims(d);
    n *= d;
  }
  tensor.set_raw_data(std::string(reinterpret_cast<const char*>(values),
                                  static_cast<size_t>(n) * sizeof(float)));
  return tensor;
}

onnx::TensorProto MakeInt64Tensor(const std::string& name, const std::vector<int64_t>& values) {
  onnx::TensorProto tensor;
  tensor.set_name(name);
  tensor.set_data_type(onnx::TensorProto::INT64);
  tensor.add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) tensor.add_int64_data(v);
  return tensor;
}

void AddIntAttribute(onnx::NodeProto& node, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void AddIntsAttribute(onnx::NodeProto& node, const std::string& name,
                      const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

}  // namespace cohort::model::onnx_internal
