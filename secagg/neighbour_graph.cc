#include "secagg/neighbour_graph.h"

#include <openssl/evp.h>

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "secagg/prg.h"

namespace cohort::secagg {
namespace {

// Draws uniform integers from the public PRG stream, in order, so every party draws the same.
class UniformDraws {
 public:
  explicit UniformDraws(MaskPrg prg) : prg_(std::move(prg)) {}

  // Uniform in [0, bound), by rejection (no modulo bias).
  absl::StatusOr<uint64_t> Next(uint64_t bound) {
    constexpr uint64_t kRange = uint64_t{1} << 62;
    const uint64_t limit = kRange - kRange % bound;
    while (true) {
      if (pos_ == buffer_.size()) {
        buffer_.assign(1024, 0);
        COHORT_RETURN_IF_ERROR(prg_.Generate(offset_, absl::MakeSpan(buffer_)));
        offset_ += static_cast<int64_t>(buffer_.size());
        pos_ = 0;
      }
      const uint64_t e = buffer_[pos_++];
      if (e < limit) return e % bound;
    }
  }

 private:
  MaskPrg prg_;
  std::vector<uint64_t> buffer_;
  size_t pos_ = 0;
  int64_t offset_ = 0;
};

}  // namespace

absl::StatusOr<NeighbourGraph> NeighbourGraph::Create(int32_t num_participants, int32_t degree,
                                                      absl::string_view graph_seed) {
  const int32_t n = num_participants;
  if (n < 2 || n > kMaxGraphParticipants) {
    return absl::InvalidArgumentError(absl::StrCat("a graph needs 2 to ", kMaxGraphParticipants,
                                                   " participants, got ", n));
  }
  if (degree < 1) {
    return absl::InvalidArgumentError(absl::StrCat("neighbour degree must be >= 1, got ", degree));
  }
  if (graph_seed.size() != kGraphSeedSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph seed must be 32 bytes, got ", graph_seed.size()));
  }
  const int32_t k = std::min(degree, n - 1);
  if (k < n - 1 && k % 2 == 1 && n % 2 == 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no ", k, "-regular graph on ", n, " vertices exists (odd degree needs an even count)"));
  }
  // The PRG key is a hash of the seed, so the same public seed used elsewhere (e.g. as a mask
  // seed) can never yield the same stream.
  std::string input = "cohort/secagg/v1 graph";
  input.append(graph_seed.data(), graph_seed.size());
  SecretKey key;
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), key.mutable_data(), &len, EVP_sha256(), nullptr) !=
          1 ||
      len != SecretKey::size()) {
    return absl::InternalError("OpenSSL SHA-256 failed");
  }
  COHORT_ASSIGN_OR_RETURN(MaskPrg prg, MaskPrg::Create(key, 62));
  UniformDraws draws(std::move(prg));
  std::vector<int32_t> index_at(static_cast<size_t>(n));
  for (int32_t p = 0; p < n; ++p) index_at[p] = p + 1;
  for (int32_t i = n - 1; i > 0; --i) {
    COHORT_ASSIGN_OR_RETURN(uint64_t j, draws.Next(static_cast<uint64_t>(i) + 1));
    std::swap(index_at[i], index_at[j]);
  }
  std::vector<int32_t> position_of(static_cast<size_t>(n) + 1, -1);
  for (int32_t p = 0; p < n; ++p) position_of[index_at[p]] = p;
  return NeighbourGraph(n, k, std::move(position_of), std::move(index_at));
}

std::vector<int32_t> NeighbourGraph::Neighbours(int32_t index) const {
  std::vector<int32_t> out;
  if (!Contains(index)) return out;
  if (is_complete()) {
    out.reserve(static_cast<size_t>(n_) - 1);
    for (int32_t i = 1; i <= n_; ++i) {
      if (i != index) out.push_back(i);
    }
    return out;
  }
  const int32_t p = position_of_[index];
  out.reserve(static_cast<size_t>(k_));
  for (int32_t d = 1; d <= k_ / 2; ++d) {
    out.push_back(index_at_[(p + d) % n_]);
    out.push_back(index_at_[(p - d + n_) % n_]);
  }
  if (k_ % 2 == 1) out.push_back(index_at_[(p + n_ / 2) % n_]);
  std::sort(out.begin(), out.end());
  return out;
}

bool NeighbourGraph::AreNeighbours(int32_t a, int32_t b) const {
  if (!Contains(a) || !Contains(b) || a == b) return false;
  if (is_complete()) return true;
  int32_t d = position_of_[a] - position_of_[b];
  if (d < 0) d = -d;
  d = std::min(d, n_ - d);
  return d <= k_ / 2 || (k_ % 2 == 1 && d == n_ / 2);
}

}  // namespace cohort::secagg
