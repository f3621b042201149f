#ifndef COHORT_SIM_PARTITION_H_
#define COHORT_SIM_PARTITION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace cohort::sim {

// device -> the indices of the examples it holds. Every example is in exactly one shard and every
// shard has at least one example.
using Partition = std::vector<std::vector<int64_t>>;

// Shuffles the examples (SplitMix64 from `seed`) and deals them into `num_devices` shards whose
// sizes differ by at most one. INVALID_ARGUMENT if num_devices < 1 or > num_examples.
absl::StatusOr<Partition> PartitionIid(int64_t num_examples, int num_devices, uint64_t seed);

// Label-skewed non-IID shards (Hsu et al. 2019): for each class, draw proportions
// p ~ Dirichlet(alpha, ..., alpha) over the devices and give each device round(p_i * n_c) of that
// class's (shuffled) examples, by largest remainder so the counts sum to n_c exactly. Small alpha
// concentrates each class on few devices; large alpha approaches IID.
//
// Rule for empty devices (likely for small alpha): while a device has no example, it takes one
// example from the currently largest shard (lowest device id on ties), the last one of that shard.
// Deterministic given `seed`. INVALID_ARGUMENT if alpha <= 0 (or not finite), num_devices < 1,
// num_devices > labels.size(), or a label is negative.
absl::StatusOr<Partition> PartitionDirichlet(absl::Span<const int32_t> labels, int num_devices,
                                             double alpha, uint64_t seed);

// Mean over devices of the total-variation distance between the device's label distribution and
// the whole data set's: 0 for perfectly stratified shards, near 1 when each device holds one
// class out of many. A measure of label skew for tests and reports.
double MeanLabelSkew(absl::Span<const int32_t> labels, const Partition& partition);

}  // namespace cohort::sim

#endif  // COHORT_SIM_PARTITION_H_
