#include "secagg/testing/round_harness.h"

#include <map>
#include <utility>

#include "base/status_macros.h"
#include "secagg/roster.h"
#include "secagg/signed_messages.h"
#include "secagg/testing/test_ca.h"

namespace cohort::secagg {

absl::StatusOr<RoundHarness> RoundHarness::Run(const RoundHarnessOptions& o, RandomSource& random) {
  RoundHarness h;
  h.options_ = o;
  const int32_t n = o.num_participants;
  h.clients_.resize(static_cast<size_t>(n) + 1);
  std::vector<SigningKey> identities;
  std::map<int32_t, NeighbourAdvertisement> advertised;
  std::optional<TestCa> ca;
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  if (o.threat_model == ThreatModel::kSemiMalicious) {
    COHORT_ASSIGN_OR_RETURN(TestCa made, TestCa::Create(random, now));
    ca.emplace(std::move(made));
    COHORT_ASSIGN_OR_RETURN(std::unique_ptr<CertificateAuthorityVerifier> v,
                            CertificateAuthorityVerifier::Create(ca->pem()));
    h.verifier_ = std::move(v);
  }
  std::vector<RosterEntry> roster;
  for (int32_t i = 1; i <= n; ++i) {
    identities.push_back(SigningKey::Generate(random));
    SecAggClientOptions co;
    co.round_id = o.round_id;
    co.plan_digest = o.plan_digest;
    co.self_index = i;
    co.num_participants = n;
    co.neighbour_degree = o.neighbour_degree;
    co.threshold = o.threshold;
    co.modulus_bits = o.modulus_bits;
    co.threat_model = o.threat_model;
    COHORT_ASSIGN_OR_RETURN(h.clients_[static_cast<size_t>(i)],
                            SecAggClient::Create(co, identities.back(), random));
    if (o.drop_before_advertise.count(i) != 0) continue;
    const SecAggClient& c = *h.clients_[static_cast<size_t>(i)];
    COHORT_ASSIGN_OR_RETURN(Advertisement a, c.Advertise());
    std::string credential;
    if (ca.has_value()) {
      COHORT_ASSIGN_OR_RETURN(credential, ca->Issue(c.signing_key(), now));
    }
    advertised[i] = {i,           a.cipher_public_key, a.mask_public_key, c.signing_key(),
                     a.signature, credential};
    roster.push_back({i, a.cipher_public_key, a.mask_public_key});
    h.u1_.push_back(i);
    h.keys_.push_back({i, a.cipher_public_key, a.mask_public_key});
  }
  const Roster tree = Roster::Build(roster);
  COHORT_ASSIGN_OR_RETURN(
      NeighbourGraph graph,
      NeighbourGraph::Create(n, o.neighbour_degree, DeriveGraphSeed(o.plan_digest, tree.root())));
  h.graph_.emplace(std::move(graph));
  // inbox[recipient] = bundles addressed to it
  std::map<int32_t, std::vector<EncryptedShare>> inbox;
  std::set<int32_t> u2;
  for (int32_t u : h.u1_) {
    std::vector<NeighbourAdvertisement> neighbours;
    for (int32_t v : h.graph_->Neighbours(u)) {
      if (advertised.count(v) != 0) neighbours.push_back(advertised[v]);
    }
    COHORT_ASSIGN_OR_RETURN(RosterProof proof, tree.ProofFor(u));
    absl::StatusOr<std::vector<EncryptedShare>> out =
        h.client(u).ShareKeys(proof, neighbours, h.verifier_.get(), now, random);
    if (!out.ok()) {
      if (out.status().code() == absl::StatusCode::kFailedPrecondition) continue;
      return out.status();
    }
    if (o.drop_before_share.count(u) != 0) continue;
    u2.insert(u);
    for (EncryptedShare& e : *out) {
      if (o.garbage_senders.count(u) != 0) {
        // Signed garbage: provably the sender's own.
        random.Fill(
            absl::MakeSpan(reinterpret_cast<uint8_t*>(e.ciphertext.data()), e.ciphertext.size()));
        COHORT_ASSIGN_OR_RETURN(e.signature,
                                identities[static_cast<size_t>(u - 1)].Sign(
                                    BundleMessage(o.plan_digest, u, e.index, e.ciphertext)));
      }
      inbox[e.index].push_back({u, std::move(e.ciphertext), std::move(e.signature)});
    }
  }
  h.u2_.assign(u2.begin(), u2.end());
  for (int32_t u : h.u2_) {
    std::vector<EncryptedShare> incoming;
    for (const EncryptedShare& e : inbox[u]) {
      if (u2.count(e.index) != 0) incoming.push_back(e);
    }
    absl::StatusOr<std::vector<UnopenableShare>> unopenable = h.client(u).ReceiveShares(incoming);
    if (!unopenable.ok()) {
      if (unopenable.status().code() == absl::StatusCode::kFailedPrecondition) continue;
      return unopenable.status();
    }
    for (const UnopenableShare& r : *unopenable) {
      h.reports_.push_back({r.sender, u, r.pairwise_seed.ToBytes()});
    }
    if (o.drop_before_mask.count(u) == 0 && o.garbage_senders.count(u) == 0) h.u3_.push_back(u);
  }
  return h;
}

ServerUnmaskingOptions RoundHarness::ServerOptions() const {
  ServerUnmaskingOptions s;
  s.round_id = options_.round_id;
  s.plan_digest = options_.plan_digest;
  s.threshold = options_.threshold;
  s.modulus_bits = options_.modulus_bits;
  s.vector_length = options_.vector_length;
  s.advertised = keys_;
  s.shared_keys = u2_;
  s.masked_input = u3_;
  s.unopenable = reports_;
  return s;
}

}  // namespace cohort::secagg
