#include "sim/partition.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

#include "sim/random.h"

namespace cohort::sim {
namespace {

// 10 balanced classes, shuffled so that example index says nothing about the label.
std::vector<int32_t> BalancedLabels(int n) {
  std::vector<int32_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = i % 10;
  SplitMix64 rng(5);
  rng.Shuffle(labels.begin(), labels.end());
  return labels;
}

void CheckCoversEachExampleOnce(const Partition& partition, int64_t n, int devices) {
  REQUIRE(static_cast<int>(partition.size()) == devices);
  std::vector<int> seen(n, 0);
  for (const auto& shard : partition) {
    CHECK(!shard.empty());
    for (int64_t i : shard) {
      REQUIRE(i >= 0);
      REQUIRE(i < n);
      ++seen[i];
    }
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
}

TEST_CASE("PartitionIid_CoversEveryExampleOnce_BalancedSizes") {
  const Partition p = PartitionIid(1003, 10, 1).value();
  CheckCoversEachExampleOnce(p, 1003, 10);
  for (const auto& shard : p) CHECK((shard.size() == 100 || shard.size() == 101));
}

TEST_CASE("PartitionDirichlet_CoversEveryExampleOnce_EvenForTinyAlpha") {
  const std::vector<int32_t> labels = BalancedLabels(2000);
  for (double alpha : {0.01, 0.1, 0.5, 1.0, 100.0}) {
    CAPTURE(alpha);
    CheckCoversEachExampleOnce(PartitionDirichlet(labels, 100, alpha, 7).value(), 2000, 100);
  }
  // As many devices as examples: every device gets exactly one.
  CheckCoversEachExampleOnce(PartitionDirichlet(BalancedLabels(50), 50, 0.05, 3).value(), 50, 50);
}

TEST_CASE("PartitionDirichlet_SmallAlphaSkewed_LargeAlphaNearUniform") {
  const std::vector<int32_t> labels = BalancedLabels(20000);
  const double skew_small = MeanLabelSkew(labels, PartitionDirichlet(labels, 50, 0.1, 1).value());
  const double skew_half = MeanLabelSkew(labels, PartitionDirichlet(labels, 50, 0.5, 1).value());
  const double skew_large = MeanLabelSkew(labels, PartitionDirichlet(labels, 50, 1000.0, 1).value());
  const double skew_iid = MeanLabelSkew(labels, PartitionIid(20000, 50, 1).value());
  // With alpha = 0.1 a device holds mostly one or two classes (TV from uniform ~0.7); with
  // alpha = 1000 the proportions are within a few percent of uniform.
  CHECK(skew_small > 0.6);
  CHECK(skew_half > 0.35);
  CHECK(skew_half < skew_small);
  CHECK(skew_large < 0.1);
  CHECK(skew_iid < 0.1);
}

TEST_CASE("PartitionDirichlet_SameSeedSamePartition_OtherSeedDiffers") {
  const std::vector<int32_t> labels = BalancedLabels(1000);
  CHECK(PartitionDirichlet(labels, 20, 0.5, 9).value() ==
        PartitionDirichlet(labels, 20, 0.5, 9).value());
  CHECK(PartitionDirichlet(labels, 20, 0.5, 9).value() !=
        PartitionDirichlet(labels, 20, 0.5, 10).value());
  CHECK(PartitionIid(1000, 20, 9).value() == PartitionIid(1000, 20, 9).value());
}

TEST_CASE("Partition_BadArguments_AreInvalidArgument") {
  const std::vector<int32_t> labels = BalancedLabels(10);
  CHECK(PartitionDirichlet(labels, 5, 0.0, 1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(PartitionDirichlet(labels, 11, 0.5, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(PartitionDirichlet(labels, 0, 0.5, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(PartitionIid(10, 11, 1).status().code() == absl::StatusCode::kInvalidArgument);
  const std::vector<int32_t> negative = {0, -1};
  CHECK(PartitionDirichlet(negative, 1, 0.5, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("SampleLogGamma_MeanMatchesShape") {
  SplitMix64 rng(3);
  for (double shape : {0.3, 1.0, 4.5}) {
    double sum = 0.0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) sum += std::exp(SampleLogGamma(shape, rng));
    CHECK(sum / n == Approx(shape).epsilon(0.05));
  }
}

TEST_CASE("SampleSymmetricDirichlet_SumsToOne") {
  SplitMix64 rng(3);
  for (double alpha : {0.001, 0.5, 50.0}) {
    const auto p = SampleSymmetricDirichlet(17, alpha, rng);
    CHECK(std::accumulate(p.begin(), p.end(), 0.0) == Approx(1.0));
    CHECK(std::all_of(p.begin(), p.end(), [](double x) { return x >= 0.0; }));
  }
}

}  // namespace
}  // namespace cohort::sim
