#include "server/core/offenders.h"

#include <vector>

namespace cohort::server {

void OffenderRegistry::Record(const std::string& pseudonym, absl::Time now) {
  if (policy_.strikes <= 0) return;
  Prune(now);
  Entry& e = entries_[pseudonym];
  while (!e.strikes.empty() && e.strikes.front() <= now - policy_.window) e.strikes.pop_front();
  e.strikes.push_back(now);
  if (static_cast<int>(e.strikes.size()) >= policy_.strikes) {
    e.cooling_until = now + policy_.cooloff;
    e.strikes.clear();
  }
}

std::optional<absl::Time> OffenderRegistry::CoolingOffUntil(const std::string& pseudonym,
                                                            absl::Time now) const {
  auto it = entries_.find(pseudonym);
  if (it == entries_.end() || it->second.cooling_until <= now) return std::nullopt;
  return it->second.cooling_until;
}

void OffenderRegistry::Prune(absl::Time now) {
  // At most once per window's tenth: pruning is O(entries).
  if (now - last_prune_ < policy_.window / 10) return;
  last_prune_ = now;
  std::vector<std::string> stale;
  for (const auto& [pseudonym, e] : entries_) {
    const bool strikes_old = e.strikes.empty() || e.strikes.back() <= now - policy_.window;
    if (strikes_old && e.cooling_until <= now) stale.push_back(pseudonym);
  }
  for (const std::string& p : stale) entries_.erase(p);
}

}  // namespace cohort::server
