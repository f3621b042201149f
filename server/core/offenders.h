#ifndef COHORT_SERVER_CORE_OFFENDERS_H_
#define COHORT_SERVER_CORE_OFFENDERS_H_

// Devices (by pseudonym) that rounds excluded because their neighbours could not open the
// share bundles they signed. One exclusion can be bad luck or a bug; `strikes` of them within
// `window` earn a cool-off during which the task refuses the device at check-in, so a device
// that sends garbage on purpose gets a round in every cool-off period at most.
//
//   OffenderRegistry offenders({.strikes = 2, .window = absl::Hours(24 * 7),
//                               .cooloff = absl::Hours(24)});
//   offenders.Record(pseudonym, now);
//   if (auto until = offenders.CoolingOffUntil(pseudonym, now)) { ... retry after *until ... }
//
// Memory: one small entry per device excluded within the window; older strikes are pruned.
// This class is not thread-safe.

#include <deque>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace cohort::server {

struct OffenderPolicy {
  int strikes = 2;  // exclusions within `window` that start a cool-off; 0 turns it off
  absl::Duration window = absl::Hours(24 * 7);
  absl::Duration cooloff = absl::Hours(24);
};

class OffenderRegistry {
 public:
  explicit OffenderRegistry(OffenderPolicy policy = {}) : policy_(policy) {}

  void Record(const std::string& pseudonym, absl::Time now);
  // When the device's cool-off ends, if it is cooling off at `now`.
  std::optional<absl::Time> CoolingOffUntil(const std::string& pseudonym, absl::Time now) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::deque<absl::Time> strikes;  // within the window, oldest first
    absl::Time cooling_until = absl::InfinitePast();
  };
  void Prune(absl::Time now);

  OffenderPolicy policy_;
  absl::flat_hash_map<std::string, Entry> entries_;
  absl::Time last_prune_ = absl::InfinitePast();
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_OFFENDERS_H_
