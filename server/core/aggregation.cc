#include "server/core/aggregation.h"

#include "codec/codec_params.h"
#include "codec/model.h"
#include "model/initializer.h"

namespace cohort::server {

absl::StatusOr<cohort::v1::CodecParams> ResolveRoundCodec(const cohort::v1::CodecConfig& config,
                                                          int64_t num_parameters,
                                                          int32_t num_participants) {
  return codec::ResolveCodecParams(config, num_parameters, num_participants, kChunkElements);
}

absl::StatusOr<cohort::v1::Model> InitialModel(const cohort::v1::TaskConfig& config) {
  if (config.has_graph()) return model::InitialGraphModel(config.initial_model(), config.graph());
  return codec::InitialModel(config.initial_model(), config.layout());
}

}  // namespace cohort::server
