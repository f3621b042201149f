#ifndef COHORT_SECAGG_SIGNED_MESSAGES_H_
#define COHORT_SECAGG_SIGNED_MESSAGES_H_

// The byte strings devices sign with their Ed25519 keys (secagg/signing.h), each under its own
// label so that no signature can be replayed as another kind (docs/secagg.md#signatures).
// Integers are little endian; str(x) = u32le(len(x)) || x.
//
//   advertisement: "cohort/secagg/v1 advertise"  || plan_digest || i32(index) || cipher pk || mask
//   pk share bundle:  "cohort/secagg/v1 bundle"     || plan_digest || i32(sender) || i32(recipient)
//                                                 || str(ciphertext)
//   survivors:     "cohort/secagg/v1 survivors"  || plan_digest || graph_seed || u32(count)
//                                                 || i32(index) for each survivor, ascending
//   check-in:      "cohort/v1 check-in"          || str(population) || str(device_id)
//
// Thread-safe (pure functions).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cohort::secagg {

// Size of the plan digest every message binds (secagg/plan_digest.h).
inline constexpr size_t kPlanDigestSize = 32;

std::string AdvertisementMessage(absl::string_view plan_digest, int32_t index,
                                 absl::string_view cipher_public_key,
                                 absl::string_view mask_public_key);
std::string BundleMessage(absl::string_view plan_digest, int32_t sender, int32_t recipient,
                          absl::string_view ciphertext);
// `survivors` ascending.
std::string SurvivorsMessage(absl::string_view plan_digest, absl::string_view graph_seed,
                             absl::Span<const int32_t> survivors);
std::string CheckInMessage(absl::string_view population, absl::string_view device_id);

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_SIGNED_MESSAGES_H_
