#ifndef COHORT_SECAGG_TESTING_ROUND_HARNESS_H_
#define COHORT_SECAGG_TESTING_ROUND_HARNESS_H_

// Drives SecAggClient instances through ADVERTISE_KEYS, SHARE_KEYS and the share routing of a
// round in memory, with chosen dropouts and devices that share signed garbage, for tests and
// the benchmark: the roster over the advertised keys seeds the graph, as on the server. The
// server side is left to the caller (secagg/server_unmasking.h).
//
//   RoundHarnessOptions o{.num_participants = 20, .neighbour_degree = 6, .threshold = 4,
//                         .modulus_bits = 32, .drop_before_share = {3}};
//   COHORT_ASSIGN_OR_RETURN(RoundHarness round, RoundHarness::Run(o, rng));
//   round.client(5).MaskChunk(0, values);
//
// This class is not thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "secagg/client_session.h"
#include "secagg/key_authenticity.h"
#include "secagg/neighbour_graph.h"
#include "secagg/parameter_finder.h"
#include "secagg/random_source.h"
#include "secagg/server_unmasking.h"

namespace cohort::secagg {

struct RoundHarnessOptions {
  int32_t num_participants = 0;
  int32_t neighbour_degree = 0;
  int32_t threshold = 0;
  int modulus_bits = 32;
  int64_t vector_length = 0;
  std::string round_id = "test-round";
  std::string plan_digest = std::string(32, 'p');
  ThreatModel threat_model = ThreatModel::kHonestButCurious;
  std::set<int32_t> drop_before_advertise;
  std::set<int32_t> drop_before_share;   // advertised keys, never sent shares
  std::set<int32_t> drop_before_mask;    // sent shares, never uploaded a masked input
  // Send random bytes (signed) to every neighbour instead of share bundles.
  std::set<int32_t> garbage_senders;
};

class RoundHarness {
 public:
  // Runs the round up to (not including) masking. Devices whose own ShareKeys/ReceiveShares
  // refuse (too few neighbours) drop out as a real device would.
  static absl::StatusOr<RoundHarness> Run(const RoundHarnessOptions& options, RandomSource& random);

  SecAggClient& client(int32_t index) { return *clients_[static_cast<size_t>(index)]; }
  const NeighbourGraph& graph() const { return *graph_; }
  const std::vector<int32_t>& advertised() const { return u1_; }
  const std::vector<int32_t>& shared_keys() const { return u2_; }
  const std::vector<int32_t>& masked_input() const { return u3_; }  // expected to upload
  // What receivers reported (bundles that did not open), for the server.
  const std::vector<UnopenableReport>& reports() const { return reports_; }
  ServerUnmaskingOptions ServerOptions() const;

 private:
  RoundHarnessOptions options_;
  std::optional<NeighbourGraph> graph_;
  std::vector<std::unique_ptr<SecAggClient>> clients_;  // [index]
  std::vector<AdvertisedKeys> keys_;
  std::vector<int32_t> u1_, u2_, u3_;
  std::vector<UnopenableReport> reports_;
  // Semi-malicious: certificates from a throwaway CA vouch for every device's key.
  std::shared_ptr<KeyAuthenticityVerifier> verifier_;
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_TESTING_ROUND_HARNESS_H_
