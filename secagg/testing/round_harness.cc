#include "secagg/testing/round_harness.h"

#include <map>
#include <utility>

#include "base/status_macros.h"

namespace cohort::secagg {

absl::StatusOr<RoundHarness> RoundHarness::Run(const RoundHarnessOptions& o, RandomSource& random) {
  RoundHarness h;
  h.options_ = o;
  COHORT_ASSIGN_OR_RETURN(NeighbourGraph graph, NeighbourGraph::Create(o.num_participants,
                                                                       o.neighbour_degree,
                                                                       o.graph_seed));
  h.graph_.emplace(std::move(graph));
  const int32_t n = o.num_participants;
  h.clients_.resize(static_cast<size_t>(n) + 1);
  std::map<int32_t, NeighbourPublicKeys> advertised;
  for (int32_t i = 1; i <= n; ++i) {
    SecAggClientOptions co{o.round_id, i, n, o.neighbour_degree, o.threshold, o.graph_seed,
                           o.modulus_bits};
    COHORT_ASSIGN_OR_RETURN(h.clients_[static_cast<size_t>(i)], SecAggClient::Create(co, random));
    if (o.drop_before_advertise.count(i) != 0) continue;
    const SecAggClient& c = *h.clients_[static_cast<size_t>(i)];
    advertised[i] = {i, c.cipher_public_key(), c.mask_public_key()};
    h.u1_.push_back(i);
    h.keys_.push_back({i, c.cipher_public_key(), c.mask_public_key()});
  }
  // ciphertexts[recipient] = (sender, ciphertext)
  std::map<int32_t, std::vector<EncryptedShare>> inbox;
  std::set<int32_t> u2;
  for (int32_t u : h.u1_) {
    std::vector<NeighbourPublicKeys> neighbours;
    for (int32_t v : h.graph_->Neighbours(u)) {
      if (advertised.count(v) != 0) neighbours.push_back(advertised[v]);
    }
    absl::StatusOr<std::vector<EncryptedShare>> out = h.client(u).ShareKeys(neighbours, random);
    if (!out.ok()) {
      if (out.status().code() == absl::StatusCode::kFailedPrecondition) continue;
      return out.status();
    }
    if (o.drop_before_share.count(u) != 0) continue;
    u2.insert(u);
    for (EncryptedShare& e : *out) inbox[e.index].push_back({u, std::move(e.ciphertext)});
  }
  h.u2_.assign(u2.begin(), u2.end());
  for (int32_t u : h.u2_) {
    std::vector<EncryptedShare> incoming;
    for (const EncryptedShare& e : inbox[u]) {
      if (u2.count(e.index) != 0) incoming.push_back(e);
    }
    absl::Status s = h.client(u).ReceiveShares(incoming);
    if (!s.ok()) {
      if (s.code() == absl::StatusCode::kFailedPrecondition) continue;
      return s;
    }
    if (o.drop_before_mask.count(u) == 0) h.u3_.push_back(u);
  }
  return h;
}

ServerUnmaskingOptions RoundHarness::ServerOptions() const {
  ServerUnmaskingOptions s;
  s.round_id = options_.round_id;
  s.threshold = options_.threshold;
  s.modulus_bits = options_.modulus_bits;
  s.vector_length = options_.vector_length;
  s.advertised = keys_;
  s.shared_keys = u2_;
  s.masked_input = u3_;
  return s;
}

}  // namespace cohort::secagg
