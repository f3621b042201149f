#ifndef COHORT_SERVER_CORE_OBSERVER_H_
#define COHORT_SERVER_CORE_OBSERVER_H_

// What the coordinator tells the outside world, so that the rpc layer can implement WatchEvents,
// wake parked long-polls and count Prometheus metrics without the core knowing any of them.
//
// Every method is called with the coordinator's lock held: implementations must be quick and
// must not call back into the Coordinator (queue the work instead). Default implementations do
// nothing, so observers override what they need.

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/round.pb.h"

namespace cohort::server {

class CoordinatorObserver {
 public:
  virtual ~CoordinatorObserver() = default;

  // Round started / phase changed / committed / failed, task state changed.
  virtual void OnEvent(const cohort::v1::RoundEvent& event) { (void)event; }
  // Something a participant of the round can observe through WaitForPhase changed.
  virtual void OnRoundChanged(const std::string& round_id) { (void)round_id; }
  // outcome: "accepted", "resumed", "retry_later", "ineligible", "cooling_down", "not_sampled",
  // "no_round", "invalid", "offender" (excluded repeatedly, cooling off), "key_mismatch" (a
  // check-in that would take over another device's session).
  virtual void OnCheckIn(absl::string_view outcome) { (void)outcome; }
  // A phase of a round of `task_id` closed after `duration`, dropping `dropped` devices that did
  // not act in time or misbehaved during it.
  virtual void OnPhaseClosed(const std::string& task_id, cohort::v1::RoundPhase phase,
                             absl::Duration duration, int32_t dropped) {
    (void)task_id;
    (void)phase;
    (void)duration;
    (void)dropped;
  }
  // A device of a round of `task_id` sent or received a payload; direction: "upload" or
  // "download".
  virtual void OnBytes(const std::string& task_id, absl::string_view direction, int64_t bytes) {
    (void)task_id;
    (void)direction;
    (void)bytes;
  }
  // outcome: "committed" or "failed".
  virtual void OnRoundEnded(const std::string& task_id, absl::string_view outcome) {
    (void)task_id;
    (void)outcome;
  }
  // An inference artifact chunk served or a download deferred; outcome: "started", "resumed"
  // or "retry_later".
  virtual void OnInferenceFetch(absl::string_view outcome) { (void)outcome; }
  // A DP task's spent epsilon changed (or was loaded): for the privacy gauges.
  virtual void OnPrivacySpent(const std::string& task_id, double epsilon_spent,
                              double epsilon_budget) {
    (void)task_id;
    (void)epsilon_spent;
    (void)epsilon_budget;
  }
  // A round of `task_id` excluded a device whose neighbours could not open its share bundles.
  virtual void OnDeviceExcluded(const std::string& task_id) { (void)task_id; }
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_OBSERVER_H_
