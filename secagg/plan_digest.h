#ifndef COHORT_SECAGG_PLAN_DIGEST_H_
#define COHORT_SECAGG_PLAN_DIGEST_H_

// The 32-byte digest of a round's plan that binds everything a device derives in the round to
// the plan (and, through model_sha256, the model) it was given: it goes into the HKDF info of
// both key derivations, the AEAD associated data of share bundles, every signature and the
// graph seed. Devices shown different plans or models derive different keys and cannot complete
// a round together (docs/secagg.md#plan-binding).
//
// The digest is SHA-256 over a fixed encoding of the plan's fields, not over protobuf bytes, so
// that any client can compute it (the exact byte layout is in docs/secagg.md). The participant
// index, which differs per device, is not part of it. Fields added to RoundPlan later are not
// bound until they are added here, with a new label.
//
// Thread-safe (pure function).

#include <string>

#include "cohort/v1/plan.pb.h"
#include "secagg/signed_messages.h"  // kPlanDigestSize

namespace cohort::secagg {

std::string PlanDigest(const cohort::v1::RoundPlan& plan);

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_PLAN_DIGEST_H_
