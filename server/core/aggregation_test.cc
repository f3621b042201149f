#include "server/core/aggregation.h"

#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include "codec/model.h"

namespace cohort::server {
namespace {

cohort::v1::CodecConfig Config(int bits, int32_t max_weight) {
  cohort::v1::CodecConfig config;
  config.set_encoding(cohort::v1::UPDATE_ENCODING_QUANTIZED);
  config.set_l2_clip_norm(1.0);
  config.set_bits(bits);
  config.set_max_example_weight(max_weight);
  return config;
}

TEST_CASE("ResolveRoundCodec_SizesTheModulusForTheAdmittedDevicesWithServerChunks") {
  auto codec = ResolveRoundCodec(Config(8, 1000), 100, 1000);
  REQUIRE(codec.ok());
  CHECK(codec->modulus_bits() == 28);  // 1000 * 1000 * 255 < 2^28
  CHECK(codec->vector_length() == 101);
  CHECK(codec->chunk_elements() == kChunkElements);
}

TEST_CASE("ResolveRoundCodec_RefusesAWrappingConfigurationInsteadOfClamping") {
  auto codec = ResolveRoundCodec(Config(16, 1 << 20), 100, std::numeric_limits<int32_t>::max());
  INFO(codec.status().ToString());
  REQUIRE(codec.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(codec.status().message()).find("2^67") != std::string::npos);
}

TEST_CASE("InitialModel_UsesTheTaskLayoutAndSeed") {
  cohort::v1::TaskConfig config;
  auto* t = config.mutable_layout()->add_tensors();
  t->set_name("dense/kernel");
  t->add_shape(4);
  t->add_shape(3);
  config.mutable_initial_model()->set_glorot_uniform_seed(5);
  auto model = InitialModel(config);
  REQUIRE(model.ok());
  CHECK(model->version() == 0);
  CHECK(model->parameters().size() == 48);
  CHECK(codec::VerifyChecksum(*model).ok());
  auto direct = codec::InitialModel(config.initial_model(), config.layout());
  REQUIRE(direct.ok());
  CHECK(direct->parameters() == model->parameters());
}

}  // namespace
}  // namespace cohort::server
