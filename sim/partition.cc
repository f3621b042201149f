#include "sim/partition.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sim/random.h"

namespace cohort::sim {

absl::StatusOr<Partition> PartitionIid(int64_t num_examples, int num_devices, uint64_t seed) {
  if (num_devices < 1 || num_devices > num_examples) {
    return absl::InvalidArgumentError(absl::StrCat("cannot split ", num_examples,
                                                   " examples among ", num_devices, " devices"));
  }
  std::vector<int64_t> order(num_examples);
  std::iota(order.begin(), order.end(), 0);
  SplitMix64 rng(MixSeed(seed, 0x11d));
  rng.Shuffle(order.begin(), order.end());
  Partition shards(num_devices);
  for (int64_t i = 0; i < num_examples; ++i) shards[i % num_devices].push_back(order[i]);
  return shards;
}

absl::StatusOr<Partition> PartitionDirichlet(absl::Span<const int32_t> labels, int num_devices,
                                             double alpha, uint64_t seed) {
  const auto n = static_cast<int64_t>(labels.size());
  if (!(alpha > 0.0) || !std::isfinite(alpha)) {
    return absl::InvalidArgumentError(absl::StrCat("Dirichlet alpha must be > 0, got ", alpha));
  }
  if (num_devices < 1 || num_devices > n) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot split ", n, " examples among ", num_devices, " devices"));
  }
  int32_t max_label = -1;
  for (int32_t label : labels) {
    if (label < 0) return absl::InvalidArgumentError(absl::StrCat("negative label ", label));
    max_label = std::max(max_label, label);
  }
  std::vector<std::vector<int64_t>> by_class(max_label + 1);
  for (int64_t i = 0; i < n; ++i) by_class[labels[i]].push_back(i);

  SplitMix64 rng(MixSeed(seed, 0xd1e));
  Partition shards(num_devices);
  std::vector<int64_t> counts(num_devices);
  std::vector<std::pair<double, int>> remainders(num_devices);
  for (std::vector<int64_t>& examples : by_class) {
    rng.Shuffle(examples.begin(), examples.end());
    const std::vector<double> p = SampleSymmetricDirichlet(num_devices, alpha, rng);
    const auto class_size = static_cast<int64_t>(examples.size());
    int64_t assigned = 0;
    for (int d = 0; d < num_devices; ++d) {
      const double exact = p[d] * static_cast<double>(class_size);
      counts[d] = static_cast<int64_t>(std::floor(exact));
      assigned += counts[d];
      // Ties go to the lower device id (the pair's second member), so the split is deterministic.
      remainders[d] = {exact - static_cast<double>(counts[d]), -d};
    }
    // Rounding in the normalisation could, in principle, make the floors overshoot by one.
    while (assigned > class_size) {
      --*std::max_element(counts.begin(), counts.end());
      --assigned;
    }
    std::sort(remainders.begin(), remainders.end(), std::greater<>());
    for (int64_t k = 0; k < class_size - assigned; ++k) ++counts[-remainders[k].second];
    int64_t next = 0;
    for (int d = 0; d < num_devices; ++d) {
      shards[d].insert(shards[d].end(), examples.begin() + next,
                       examples.begin() + next + counts[d]);
      next += counts[d];
    }
  }
  for (int d = 0; d < num_devices; ++d) {
    if (!shards[d].empty()) continue;
    int largest = 0;
    for (int e = 1; e < num_devices; ++e) {
      if (shards[e].size() > shards[largest].size()) largest = e;
    }
    shards[d].push_back(shards[largest].back());
    shards[largest].pop_back();
  }
  return shards;
}

double MeanLabelSkew(absl::Span<const int32_t> labels, const Partition& partition) {
  const int32_t classes = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
  std::vector<double> global(classes, 0.0);
  for (int32_t label : labels) global[label] += 1.0 / static_cast<double>(labels.size());
  double total = 0.0;
  for (const std::vector<int64_t>& shard : partition) {
    std::vector<double> local(classes, 0.0);
    for (int64_t i : shard) local[labels[i]] += 1.0 / static_cast<double>(shard.size());
    double tv = 0.0;
    for (int32_t c = 0; c < classes; ++c) tv += std::abs(local[c] - global[c]);
    total += 0.5 * tv;
  }
  return partition.empty() ? 0.0 : total / static_cast<double>(partition.size());
}

}  // namespace cohort::sim
