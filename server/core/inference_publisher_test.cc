#include "server/core/inference_publisher.h"

#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include "codec/model.h"
#include "model/initializer.h"
#include "model/zoo.h"

namespace cohort::server {
namespace {

std::shared_ptr<const cohort::v1::Model> Version(int64_t version, uint64_t seed) {
  cohort::v1::ModelInit init;
  init.set_glorot_uniform_seed(seed);
  auto model = model::InitialGraphModel(init, model::MlpGraph(4, 3, 2));
  REQUIRE(model.ok());
  model->set_version(version);
  return std::make_shared<const cohort::v1::Model>(*std::move(model));
}

TEST_CASE("Publish_KeepsThePreviousVersionsArtifactsForDownloadsInProgress") {
  InferencePublisher publisher("t", 10);
  publisher.Publish(Version(0, 1));
  auto v0 = publisher.Latest(cohort::v1::INFERENCE_FORMAT_FLOAT32);
  REQUIRE(v0.ok());
  CHECK((*v0)->model_version == 0);
  publisher.Publish(Version(1, 2));
  auto v1 = publisher.Latest(cohort::v1::INFERENCE_FORMAT_FLOAT32);
  REQUIRE(v1.ok());
  CHECK((*v1)->model_version == 1);
  CHECK((*v1)->sha256 != (*v0)->sha256);
  CHECK(publisher.Find((*v0)->sha256) == *v0);
  CHECK(publisher.Find((*v1)->sha256) == *v1);
  CHECK(publisher.Find(std::string(32, 'x')) == nullptr);
  CHECK((*v1)->sha256 == codec::Sha256((*v1)->bytes));
}

TEST_CASE("SetCalibrationData_QuantizesTheLatestVersion") {
  InferencePublisher publisher("t", 10);
  publisher.Publish(Version(3, 1));
  CHECK(publisher.Latest(cohort::v1::INFERENCE_FORMAT_INT8).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  publisher.SetCalibrationData(codec::FloatsToBytes(std::vector<float>(40, 0.5f)));
  auto int8 = publisher.Latest(cohort::v1::INFERENCE_FORMAT_INT8);
  REQUIRE(int8.ok());
  CHECK((*int8)->model_version == 3);
  cohort::v1::InferenceModel artifact;
  REQUIRE(artifact.ParseFromString((*int8)->bytes));
  CHECK(artifact.format() == cohort::v1::INFERENCE_FORMAT_INT8);
  CHECK(artifact.calibration_examples() == 10);
  // Calibration data of the wrong size: quantization fails and says why.
  publisher.SetCalibrationData(codec::FloatsToBytes(std::vector<float>(7, 0.5f)));
  auto failed = publisher.Latest(cohort::v1::INFERENCE_FORMAT_INT8);
  CHECK(failed.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(failed.status().message().find("int8 quantization of version 3 failed") == 0);
}

TEST_CASE("AdmitDownload_AllowsTheRateAndWidensTheWindowWithTheBacklog") {
  InferencePublisher publisher("t", 2);  // two starts per second
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  CHECK_FALSE(publisher.AdmitDownload(t0).has_value());
  CHECK_FALSE(publisher.AdmitDownload(t0).has_value());
  auto third = publisher.AdmitDownload(t0);
  REQUIRE(third.has_value());
  auto fourth = publisher.AdmitDownload(t0);
  REQUIRE(fourth.has_value());
  CHECK(fourth->min_delay >= third->min_delay);
  CHECK(fourth->max_delay == 2 * fourth->min_delay);
  CHECK_FALSE(publisher.AdmitDownload(t0 + absl::Seconds(1)).has_value());
}

}  // namespace
}  // namespace cohort::server
