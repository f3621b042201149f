#include "client_sdk/trainer/eigen_model.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cohort::client::internal {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

absl::Status Mismatch(size_t index, const TensorSpec& spec, const std::string& expected) {
  return absl::InvalidArgumentError(absl::StrCat(
      "EigenTrainer: tensor ", index, " is \"", spec.name, "\" ", ShapeString(spec.shape),
      ", expected ", expected,
      " (supported: softmax regression dense/{kernel,bias} or MLP hidden/{kernel,bias} + "
      "output/{kernel,bias})"));
}

bool IsMatrix(const TensorSpec& t) { return t.shape.size() == 2 && t.shape[0] >= 1 && t.shape[1] >= 1; }
bool IsVector(const TensorSpec& t, int64_t n) { return t.shape.size() == 1 && t.shape[0] == n; }

}  // namespace

absl::StatusOr<ModelShape> ParseLayout(const ModelLayout& layout) {
  const auto& t = layout.tensors;
  ModelShape shape;
  if (t.size() == 2) {
    if (t[0].name != "dense/kernel" || !IsMatrix(t[0])) {
      return Mismatch(0, t[0], "\"dense/kernel\" [inputs,classes]");
    }
    shape.kind = ModelKind::kSoftmaxRegression;
    shape.inputs = t[0].shape[0];
    shape.classes = t[0].shape[1];
    if (t[1].name != "dense/bias" || !IsVector(t[1], shape.classes)) {
      return Mismatch(1, t[1], absl::StrCat("\"dense/bias\" [", shape.classes, "]"));
    }
    shape.num_parameters = shape.inputs * shape.classes + shape.classes;
  } else if (t.size() == 4) {
    if (t[0].name != "hidden/kernel" || !IsMatrix(t[0])) {
      return Mismatch(0, t[0], "\"hidden/kernel\" [inputs,hidden]");
    }
    shape.kind = ModelKind::kMlp;
    shape.inputs = t[0].shape[0];
    shape.hidden = t[0].shape[1];
    if (t[1].name != "hidden/bias" || !IsVector(t[1], shape.hidden)) {
      return Mismatch(1, t[1], absl::StrCat("\"hidden/bias\" [", shape.hidden, "]"));
    }
    if (t[2].name != "output/kernel" || !IsMatrix(t[2]) || t[2].shape[0] != shape.hidden) {
      return Mismatch(2, t[2], absl::StrCat("\"output/kernel\" [", shape.hidden, ",classes]"));
    }
    shape.classes = t[2].shape[1];
    if (t[3].name != "output/bias" || !IsVector(t[3], shape.classes)) {
      return Mismatch(3, t[3], absl::StrCat("\"output/bias\" [", shape.classes, "]"));
    }
    shape.num_parameters = shape.inputs * shape.hidden + shape.hidden +
                           shape.hidden * shape.classes + shape.classes;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "EigenTrainer: layout has ", t.size(),
        " tensors; expected 2 (softmax regression) or 4 (MLP)"));
  }
  if (shape.classes < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("EigenTrainer: layout has ", shape.classes, " classes; need at least 2"));
  }
  return shape;
}

}  // namespace cohort::client::internal
