#include "codec/model.h"

#include <openssl/sha.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codec/splitmix64.h"

namespace cohort::codec {
namespace {

// The wire is little-endian float32; every supported host (x86-64, ARM phones) is too, so bytes
// and floats convert with memcpy.
static_assert(std::endian::native == std::endian::little, "the codec assumes a little-endian host");

std::string TensorName(const cohort::v1::ModelLayout& layout, int i) {
  return absl::StrCat("layout.tensors[", i, "] '", layout.tensors(i).name(), "'");
}

int64_t ElementCount(const cohort::v1::TensorSpec& tensor) {
  int64_t n = 1;
  for (int64_t d : tensor.shape()) n *= d;
  return n;
}

// Glorot fans of a validated tensor (see InitialModel in the header).
void Fans(const cohort::v1::TensorSpec& tensor, double* fan_in, double* fan_out) {
  const int rank = tensor.shape_size();
  if (rank == 1) {
    *fan_in = *fan_out = static_cast<double>(tensor.shape(0));
    return;
  }
  double receptive = 1;
  for (int i = 0; i + 2 < rank; ++i) receptive *= static_cast<double>(tensor.shape(i));
  *fan_in = static_cast<double>(tensor.shape(rank - 2)) * receptive;
  *fan_out = static_cast<double>(tensor.shape(rank - 1)) * receptive;
}

}  // namespace

absl::StatusOr<int64_t> ParameterCount(const cohort::v1::ModelLayout& layout) {
  if (layout.tensors_size() == 0) {
    return absl::InvalidArgumentError("layout has no tensors");
  }
  int64_t total = 0;
  for (int i = 0; i < layout.tensors_size(); ++i) {
    const cohort::v1::TensorSpec& tensor = layout.tensors(i);
    if (tensor.dtype() != cohort::v1::DTYPE_UNSPECIFIED &&
        tensor.dtype() != cohort::v1::DTYPE_FLOAT32) {
      return absl::InvalidArgumentError(absl::StrCat(TensorName(layout, i), " has dtype ",
                                                     tensor.dtype(), ", want DTYPE_FLOAT32"));
    }
    int64_t n = 1;
    for (int j = 0; j < tensor.shape_size(); ++j) {
      const int64_t dim = tensor.shape(j);
      if (dim < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(TensorName(layout, i), " shape[", j, "] is ", dim, ", must be >= 1"));
      }
      if (n > kMaxParameters / dim) {
        return absl::InvalidArgumentError(absl::StrCat(TensorName(layout, i), " has more than ",
                                                       kMaxParameters,
                                                       " elements (shape overflow)"));
      }
      n *= dim;
    }
    total += n;
    if (total > kMaxParameters) {
      return absl::InvalidArgumentError(absl::StrCat("layout has more than ", kMaxParameters,
                                                     " parameters at ", TensorName(layout, i)));
    }
  }
  return total;
}

std::string Sha256(absl::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::string FloatsToBytes(absl::Span<const float> values) {
  std::string out(values.size() * sizeof(float), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

absl::StatusOr<std::vector<float>> FloatsFromBytes(absl::string_view bytes) {
  if (bytes.size() % sizeof(float) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(bytes.size(), " bytes are not a whole number of float32 values"));
  }
  std::vector<float> out(bytes.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

absl::StatusOr<std::vector<float>> ParametersOf(const cohort::v1::Model& model) {
  COHORT_ASSIGN_OR_RETURN(const int64_t count, ParameterCount(model.layout()));
  if (static_cast<int64_t>(model.parameters().size()) != count * 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("model version ", model.version(), " has ", model.parameters().size(),
                     " parameter bytes, its layout needs ", count * 4, " (", count, " float32)"));
  }
  return FloatsFromBytes(model.parameters());
}

absl::StatusOr<cohort::v1::Model> MakeModel(const cohort::v1::ModelLayout& layout,
                                            absl::Span<const float> parameters, int64_t version) {
  COHORT_ASSIGN_OR_RETURN(const int64_t count, ParameterCount(layout));
  if (static_cast<int64_t>(parameters.size()) != count) {
    return absl::InvalidArgumentError(
        absl::StrCat(parameters.size(), " parameters do not fit a layout of ", count));
  }
  cohort::v1::Model model;
  model.set_version(version);
  *model.mutable_layout() = layout;
  model.set_parameters(FloatsToBytes(parameters));
  model.set_sha256(Sha256(model.parameters()));
  return model;
}

absl::Status VerifyChecksum(const cohort::v1::Model& model) {
  if (Sha256(model.parameters()) != model.sha256()) {
    return absl::DataLossError(
        absl::StrCat("model version ", model.version(), ": parameters do not match their SHA-256"));
  }
  return absl::OkStatus();
}

absl::StatusOr<cohort::v1::Model> InitialModel(const cohort::v1::ModelInit& init,
                                               const cohort::v1::ModelLayout& layout) {
  COHORT_ASSIGN_OR_RETURN(const int64_t count, ParameterCount(layout));
  switch (init.init_case()) {
    case cohort::v1::ModelInit::kParameters: {
      if (static_cast<int64_t>(init.parameters().size()) != count * 4) {
        return absl::InvalidArgumentError(
            absl::StrCat("initial_model.parameters has ", init.parameters().size(),
                         " bytes, the layout needs ", count * 4, " (", count, " float32)"));
      }
      cohort::v1::Model model;
      *model.mutable_layout() = layout;
      model.set_parameters(init.parameters());
      model.set_sha256(Sha256(model.parameters()));
      return model;
    }
    case cohort::v1::ModelInit::kGlorotUniformSeed: {
      std::vector<float> values;
      values.reserve(static_cast<size_t>(count));
      SplitMix64 rng(MixSeed(init.glorot_uniform_seed(), kGlorotStream));
      for (const cohort::v1::TensorSpec& tensor : layout.tensors()) {
        const int64_t n = ElementCount(tensor);
        if (absl::EndsWith(tensor.name(), "bias") || tensor.shape_size() == 0) {
          values.insert(values.end(), static_cast<size_t>(n), 0.0f);
          continue;
        }
        double fan_in = 0;
        double fan_out = 0;
        Fans(tensor, &fan_in, &fan_out);
        const double limit = std::sqrt(6.0 / (fan_in + fan_out));
        for (int64_t i = 0; i < n; ++i) {
          values.push_back(static_cast<float>((2.0 * rng.NextDouble() - 1.0) * limit));
        }
      }
      return MakeModel(layout, values, 0);
    }
    case cohort::v1::ModelInit::INIT_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "initial_model sets neither parameters nor glorot_uniform_seed");
}

}  // namespace cohort::codec
