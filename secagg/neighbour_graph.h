#ifndef COHORT_SECAGG_NEIGHBOUR_GRAPH_H_
#define COHORT_SECAGG_NEIGHBOUR_GRAPH_H_

// The SecAgg+ neighbour graph: the Harary graph H(k, n) on ring positions 0..n-1 (position p is
// adjacent to p +- 1, ..., p +- floor(k/2) mod n, plus p + n/2 when k is odd), with participant
// indices 1..n placed on the ring by a uniformly random permutation derived from a public
// 32-byte round seed, so every party computes the same graph. k >= n - 1 gives the complete
// graph (classic SecAgg).
//
//   COHORT_ASSIGN_OR_RETURN(NeighbourGraph g, NeighbourGraph::Create(n, k, graph_seed));
//   for (int32_t v : g.Neighbours(u)) { int sign = NeighbourGraph::Sign(u, v); ... }
//
// Permutation: Fisher-Yates over positions, drawing from MaskPrg(SHA-256("cohort/secagg/v1
// graph" || seed), m = 62) with rejection sampling for exact uniformity (docs/secagg.md).
// Pairwise mask sign convention: +1 if u < v, -1 if u > v (by participant index).
//
// Codes: Create returns INVALID_ARGUMENT for n < 2 or n > kMaxGraphParticipants, k < 1, an odd
// k < n - 1 with odd n (no k-regular graph exists), or a seed that is not 32 bytes.
// Immutable after Create: thread-safe for concurrent reads.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cohort::secagg {

inline constexpr size_t kGraphSeedSize = 32;

// The largest round a graph is built for (the parameter finder's limit too): building one
// costs O(n) memory and PRG draws, and n can come from a server's plan or a damaged session.
inline constexpr int32_t kMaxGraphParticipants = 10'000'000;

class NeighbourGraph {
 public:
  static absl::StatusOr<NeighbourGraph> Create(int32_t num_participants, int32_t degree,
                                               absl::string_view graph_seed);

  int32_t num_participants() const { return n_; }
  // k; n - 1 for the complete graph.
  int32_t degree() const { return k_; }
  bool is_complete() const { return k_ == n_ - 1; }

  // Neighbours of participant `index` (1..n), ascending; empty for an index out of range.
  std::vector<int32_t> Neighbours(int32_t index) const;
  // False for equal indices or indices out of range.
  bool AreNeighbours(int32_t a, int32_t b) const;
  bool Contains(int32_t index) const { return index >= 1 && index <= n_; }
  // The participant index placed at ring position 0..n-1 (the relabelling; for the
  // known-answer vectors of docs/secagg.md), 0 for a position out of range.
  int32_t IndexAt(int32_t position) const {
    return position >= 0 && position < n_ ? index_at_[static_cast<size_t>(position)] : 0;
  }

  static int Sign(int32_t self, int32_t other) { return self < other ? 1 : -1; }

 private:
  NeighbourGraph(int32_t n, int32_t k, std::vector<int32_t> position_of,
                 std::vector<int32_t> index_at)
      : n_(n), k_(k), position_of_(std::move(position_of)), index_at_(std::move(index_at)) {}

  int32_t n_;
  int32_t k_;
  std::vector<int32_t> position_of_;  // [index] -> ring position; slot 0 unused
  std::vector<int32_t> index_at_;     // [position] -> index
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_NEIGHBOUR_GRAPH_H_
