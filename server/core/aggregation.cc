// TEMPORARY until codec/ lands: a stand-in with the codec's documented shape (clip, weight,
// stochastic quantization into Z_R with the weight as the last element; FedAvg / FedAvgM), the
// same one client_sdk/src/update_encoding.cc uses, so the protocol runs end to end. Replaced by
// calls into cohort::codec once it exists; the signatures of aggregation.h stay.
#include "server/core/aggregation.h"

#include <openssl/sha.h>

#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "server/core/task_config.h"

namespace cohort::server {
namespace {

std::string Sha256(absl::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::vector<float> Floats(const std::string& bytes) {
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

std::string Bytes(const std::vector<float>& values) {
  std::string out(values.size() * 4, '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

}  // namespace

absl::StatusOr<cohort::v1::CodecParams> ResolveRoundCodec(const cohort::v1::CodecConfig& config,
                                                          int64_t num_parameters,
                                                          int32_t num_participants) {
  cohort::v1::CodecParams p;
  p.set_encoding(config.encoding());
  p.set_l2_clip_norm(config.l2_clip_norm());
  p.set_quantization_range(config.quantization_range() == 0 ? config.l2_clip_norm()
                                                            : config.quantization_range());
  p.set_bits(config.bits());
  p.set_max_example_weight(config.max_example_weight());
  // Sum of n values each < 2^bits * max_weight must not wrap.
  const int bits = config.bits() +
                   static_cast<int>(std::ceil(std::log2(config.max_example_weight() + 1.0))) +
                   static_cast<int>(std::ceil(std::log2(num_participants + 1.0)));
  p.set_modulus_bits(std::clamp(bits, 8, 62));
  p.set_vector_length(num_parameters + 1);
  p.set_chunk_elements(kChunkElements);
  return p;
}

absl::StatusOr<AggregateResult> DecodeQuantizedSum(absl::Span<const uint64_t> sum,
                                                   const cohort::v1::CodecParams& params,
                                                   int32_t contributors) {
  if (sum.size() != static_cast<size_t>(params.vector_length()) || sum.empty()) {
    return absl::InvalidArgumentError("sum has the wrong length");
  }
  const double total_weight = static_cast<double>(sum.back());
  if (total_weight <= 0) return absl::DataLossError("the sum's total weight is zero");
  const double range = params.quantization_range();
  const double levels = std::ldexp(1.0, params.bits()) - 1;
  AggregateResult result;
  result.total_weight = total_weight;
  result.contributors = contributors;
  result.average_delta.resize(sum.size() - 1);
  for (size_t i = 0; i + 1 < sum.size(); ++i) {
    const double level = static_cast<double>(sum[i]) / total_weight;
    result.average_delta[i] = static_cast<float>(level / levels * 2 * range - range);
  }
  return result;
}

absl::StatusOr<AggregateResult> DecodeFloatSum(absl::Span<const double> sum,
                                               const cohort::v1::CodecParams& params,
                                               int32_t contributors) {
  if (sum.size() != static_cast<size_t>(params.vector_length()) || sum.empty()) {
    return absl::InvalidArgumentError("sum has the wrong length");
  }
  if (!(sum.back() > 0)) return absl::DataLossError("the sum's total weight is zero");
  AggregateResult result;
  result.total_weight = sum.back();
  result.contributors = contributors;
  result.average_delta.resize(sum.size() - 1);
  for (size_t i = 0; i + 1 < sum.size(); ++i) {
    result.average_delta[i] = static_cast<float>(sum[i] / sum.back());
  }
  return result;
}

absl::StatusOr<cohort::v1::Model> InitialModel(const cohort::v1::TaskConfig& config) {
  cohort::v1::Model model;
  *model.mutable_layout() = config.layout();
  if (config.initial_model().has_parameters()) {
    model.set_parameters(config.initial_model().parameters());
  } else {
    std::mt19937_64 rng(config.initial_model().glorot_uniform_seed());
    std::vector<float> values;
    for (const auto& tensor : config.layout().tensors()) {
      int64_t n = 1;
      for (int64_t d : tensor.shape()) n *= d;
      const bool bias = tensor.name().size() >= 4 &&
                        tensor.name().compare(tensor.name().size() - 4, 4, "bias") == 0;
      const double fan_in = tensor.shape_size() >= 2 ? tensor.shape(0) : 1;
      const double fan_out = tensor.shape_size() >= 2 ? tensor.shape(1) : n;
      const double limit = std::sqrt(6.0 / (fan_in + fan_out));
      std::uniform_real_distribution<double> u(-limit, limit);
      for (int64_t i = 0; i < n; ++i) values.push_back(bias ? 0.0f : static_cast<float>(u(rng)));
    }
    model.set_parameters(Bytes(values));
  }
  model.set_sha256(Sha256(model.parameters()));
  return model;
}

namespace {

class Updater : public ModelUpdater {
 public:
  Updater(cohort::v1::ServerOptimizerConfig config, int64_t n)
      : config_(std::move(config)), velocity_(static_cast<size_t>(n), 0.0f) {}

  absl::StatusOr<cohort::v1::Model> Apply(const cohort::v1::Model& model,
                                          const AggregateResult& result) override {
    std::vector<float> params = Floats(model.parameters());
    if (params.size() != result.average_delta.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "average delta has ", result.average_delta.size(), " values, the model ", params.size()));
    }
    const bool momentum = config_.kind() == cohort::v1::ServerOptimizerConfig::KIND_FEDAVGM;
    for (size_t i = 0; i < params.size(); ++i) {
      float step = result.average_delta[i];
      if (momentum) {
        velocity_[i] = static_cast<float>(config_.momentum()) * velocity_[i] + step;
        step = velocity_[i];
      }
      params[i] += static_cast<float>(config_.learning_rate()) * step;
    }
    cohort::v1::Model next;
    next.set_version(model.version() + 1);
    *next.mutable_layout() = model.layout();
    next.set_parameters(Bytes(params));
    next.set_sha256(Sha256(next.parameters()));
    return next;
  }

 private:
  cohort::v1::ServerOptimizerConfig config_;
  std::vector<float> velocity_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ModelUpdater>> CreateModelUpdater(
    const cohort::v1::ServerOptimizerConfig& config, int64_t num_parameters) {
  return std::make_unique<Updater>(config, num_parameters);
}

}  // namespace cohort::server
