#include "server/core/aggregation.h"

#include "codec/codec_params.h"
#include "codec/dp_codec.h"
#include "codec/model.h"
#include "model/initializer.h"
#include "server/core/dp_task.h"

namespace cohort::server {

absl::StatusOr<cohort::v1::CodecParams> ResolveRoundCodec(const cohort::v1::CodecConfig& config,
                                                          int64_t num_parameters,
                                                          int32_t num_participants) {
  return codec::ResolveCodecParams(config, num_parameters, num_participants, kChunkElements);
}

absl::StatusOr<cohort::v1::CodecParams> ResolveRoundCodec(const cohort::v1::TaskConfig& config,
                                                          int64_t num_parameters,
                                                          int32_t num_participants,
                                                          double dp_clip_norm,
                                                          secagg::RandomSource& random) {
  if (!DpEnabled(config)) {
    return ResolveRoundCodec(config.codec(), num_parameters, num_participants);
  }
  const double clip = dp_clip_norm > 0 ? dp_clip_norm : config.codec().l2_clip_norm();
  absl::StatusOr<cohort::v1::DpParams> dp =
      ResolveRoundDp(config, num_parameters, clip, num_participants, random);
  if (!dp.ok()) return dp.status();
  return codec::ResolveDpCodecParams(config.codec(), *dp, num_parameters, kChunkElements);
}

absl::StatusOr<AggregateResult> DecodeRoundSum(const cohort::v1::CodecParams& codec,
                                               absl::Span<const uint64_t> sum,
                                               absl::Span<const double> float_sum,
                                               int32_t contributors, secagg::RandomSource& random) {
  if (codec.encoding() == cohort::v1::UPDATE_ENCODING_DISTRIBUTED_DP) {
    return codec::DecodeDpSum(sum, codec, contributors);
  }
  if (codec.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
    absl::StatusOr<AggregateResult> result = DecodeFloatSum(float_sum, codec, contributors);
    if (result.ok() && codec.dp().mechanism() == cohort::v1::DP_MECHANISM_CENTRAL_GAUSSIAN) {
      if (absl::Status s = codec::AddCentralDpNoise(codec, *result, random); !s.ok()) return s;
    }
    return result;
  }
  return DecodeQuantizedSum(sum, codec, contributors);
}

absl::StatusOr<cohort::v1::Model> InitialModel(const cohort::v1::TaskConfig& config) {
  if (config.has_graph()) return model::InitialGraphModel(config.initial_model(), config.graph());
  return codec::InitialModel(config.initial_model(), config.layout());
}

}  // namespace cohort::server
