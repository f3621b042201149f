#ifndef COHORT_SERVER_CORE_AGGREGATION_H_
#define COHORT_SERVER_CORE_AGGREGATION_H_

// The core's seam onto the update codec (codec/): resolving a round's codec parameters, decoding
// the exact sum into the weighted average delta, and producing the next model version.
// Until codec/ lands, aggregation.cc implements these with a stand-in of the same shape (the
// one client_sdk/src/update_encoding.cc and tests/server/test_device.cc use); switching to
// cohort::codec changes only aggregation.cc.
//
// Codes: INVALID_ARGUMENT for parameters the codec refuses (the message names the field),
// DATA_LOSS for a sum that cannot be decoded (e.g. a zero total weight).
// Thread-safe (stateless functions), except ModelUpdater which is not.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/model.pb.h"
#include "cohort/v1/plan.pb.h"

namespace cohort::server {

// Elements per UploadMaskedInput chunk (64 Ki elements: at most 512 KiB packed at 62 bits).
inline constexpr int64_t kChunkElements = 1 << 16;

absl::StatusOr<cohort::v1::CodecParams> ResolveRoundCodec(const cohort::v1::CodecConfig& config,
                                                          int64_t num_parameters,
                                                          int32_t num_participants);

struct AggregateResult {
  std::vector<float> average_delta;  // sum(w_i * u_i) / sum(w_i)
  double total_weight = 0;
  int32_t contributors = 0;
};

// QUANTIZED: `sum` is the exact sum in Z_(2^modulus_bits) of `contributors` encoded updates.
absl::StatusOr<AggregateResult> DecodeQuantizedSum(absl::Span<const uint64_t> sum,
                                                   const cohort::v1::CodecParams& params,
                                                   int32_t contributors);
// FLOAT32: `sum` is the element-wise sum of the weighted float updates (last element: weight).
absl::StatusOr<AggregateResult> DecodeFloatSum(absl::Span<const double> sum,
                                               const cohort::v1::CodecParams& params,
                                               int32_t contributors);

// The task's model from its config (version 0, checksum set).
absl::StatusOr<cohort::v1::Model> InitialModel(const cohort::v1::TaskConfig& config);

// Applies the task's server optimizer (it keeps momentum between rounds). Not thread-safe.
class ModelUpdater {
 public:
  virtual ~ModelUpdater() = default;
  // The next version: `model` with the average delta applied, version + 1, checksum set.
  virtual absl::StatusOr<cohort::v1::Model> Apply(const cohort::v1::Model& model,
                                                  const AggregateResult& result) = 0;
};
absl::StatusOr<std::unique_ptr<ModelUpdater>> CreateModelUpdater(
    const cohort::v1::ServerOptimizerConfig& config, int64_t num_parameters);

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_AGGREGATION_H_
