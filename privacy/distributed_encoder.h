#ifndef COHORT_PRIVACY_DISTRIBUTED_ENCODER_H_
#define COHORT_PRIVACY_DISTRIBUTED_ENCODER_H_

// The two ends of distributed DP (privacy/mechanism.h has the parameters):
//  device: clip -> rotate -> scale -> conditional randomized rounding -> + noise share -> mod 2^b;
//  server: centred lift of the sum mod 2^b -> / scale -> inverse rotation -> first d values.
// and the central mechanism's server-side noise for plain rounds.
//
// The noise share must be unpredictable to the server, or it could subtract it: devices pass a
// RandomBits over secagg::OsRandom() (a CSPRNG). Tests and the simulator may pass a seeded
// FakeRandomSource. The rounding draws come from the same stream (they need no secrecy, but a
// second generator would buy nothing).
//
// With adaptive clipping (round.count_magnitude = h > 0) the last element carries the device's
// centred unclipped bit, +h if ||u|| <= C and -h otherwise, noised like the rest; the decoder
// turns the noisy sum back into a count of unclipped devices.
//
// Memory: the encoder holds the padded vector twice (d' doubles, then d' integers); the
// rotation is global, so unlike the plain codec it cannot work block by block.
//
//   COHORT_ASSIGN_OR_RETURN(DistributedEncoding e,
//                           EncodeDistributed(delta, round, plan_seed, bits));
//   ... secure aggregation sums e.values mod 2^round.bits over the devices ...
//   COHORT_ASSIGN_OR_RETURN(DistributedDecoding sum, DecodeDistributedSum(s, round, plan_seed));
//
// Codes: INVALID_ARGUMENT for a mechanism that is not distributed (or central, for
// AddCentralNoise), a delta of the wrong length or with a non-finite value, a seed that is not
// 32 bytes, a sum of the wrong length or with an element >= 2^bits; RESOURCE_EXHAUSTED if
// conditional rounding keeps failing (probability <= beta^1000). Thread-safe (pure functions).

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "privacy/mechanism.h"
#include "privacy/random_bits.h"

namespace cohort::privacy {

struct DistributedEncoding {
  std::vector<uint64_t> values;  // round.noised_coordinates elements of Z_(2^bits)
  double norm = 0;               // ||delta|| before clipping
  bool clipped = false;
  int rounding_attempts = 0;
};

// `weight` in (0, 1] scales the clipped delta (capped weighting); the norm stays <= C.
absl::StatusOr<DistributedEncoding> EncodeDistributed(absl::Span<const float> delta,
                                                      const DpRoundParams& round,
                                                      absl::string_view rotation_seed,
                                                      RandomBits& bits, double weight = 1.0);

struct DistributedDecoding {
  std::vector<double> sum;     // sum_i of the clipped deltas plus noise, d values, update units
  double unclipped_count = 0;  // noisy count of devices with ||u|| <= C (adaptive clipping)
};

// `sum` is the exact sum mod 2^bits of `contributors` devices' encodings.
absl::StatusOr<DistributedDecoding> DecodeDistributedSum(absl::Span<const uint64_t> sum,
                                                         const DpRoundParams& round,
                                                         absl::string_view rotation_seed,
                                                         int64_t contributors);

// Central DP on the server: sum (d values, update units, already the sum of clipped updates)
// becomes round(s * sum) + N_Z(0, round.local_variance), divided by s.
absl::Status AddCentralNoise(absl::Span<double> sum, const DpRoundParams& round, RandomBits& bits);

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_DISTRIBUTED_ENCODER_H_
