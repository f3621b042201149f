#ifndef COHORT_SERVER_RPC_METRICS_H_
#define COHORT_SERVER_RPC_METRICS_H_

// Prometheus metrics of the coordinator, registered on a registry the composition root exposes:
//   cohort_checkins_total{outcome}            check-ins by outcome (accepted, resumed,
//                                             retry_later reasons, invalid)
//   cohort_device_calls_total{method,code}    device RPCs by gRPC status code
//   cohort_round_phase_duration_seconds{phase} histogram of how long each phase lasted
//   cohort_dropouts_total{phase}              devices dropped when a phase closed
//   cohort_bytes_total{direction}             device payload bytes (upload, download)
//   cohort_rounds_total{outcome}              rounds ended (committed, failed)
//   cohort_parked_long_polls                  WaitForPhase calls currently parked
//   cohort_inference_fetches_total{outcome}   inference artifact chunks served (started,
//                                             resumed) and downloads deferred (retry_later)
//   cohort_privacy_epsilon_spent{task}        a DP task's spent epsilon (improved conversion,
//                                             at the task's delta; docs/privacy.md)
//   cohort_privacy_epsilon_budget{task}       its budget
// This class is thread-safe (prometheus-cpp metrics are).

#include <string>

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/core/observer.h"

namespace cohort::server {

class PrometheusMetrics : public CoordinatorObserver {
 public:
  explicit PrometheusMetrics(prometheus::Registry& registry);

  void OnCheckIn(absl::string_view outcome) override;
  void OnPhaseClosed(const std::string& task_id, cohort::v1::RoundPhase phase,
                     absl::Duration duration, int32_t dropped) override;
  void OnBytes(const std::string& task_id, absl::string_view direction, int64_t bytes) override;
  void OnRoundEnded(const std::string& task_id, absl::string_view outcome) override;
  void OnInferenceFetch(absl::string_view outcome) override;
  void OnPrivacySpent(const std::string& task_id, double epsilon_spent,
                      double epsilon_budget) override;
  void OnDeviceExcluded(const std::string& task_id) override;

  // `code` is a grpc::StatusCode; the label carries its name (OK, INVALID_ARGUMENT, ...).
  void OnDeviceCall(absl::string_view method, int code);
  prometheus::Gauge& parked_long_polls() { return *parked_; }

 private:
  prometheus::Family<prometheus::Counter>& checkins_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& phase_duration_;
  prometheus::Family<prometheus::Counter>& dropouts_;
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Family<prometheus::Counter>& rounds_;
  prometheus::Family<prometheus::Counter>& inference_fetches_;
  prometheus::Family<prometheus::Gauge>& epsilon_spent_;
  prometheus::Family<prometheus::Gauge>& epsilon_budget_;
  prometheus::Family<prometheus::Counter>& excluded_;
  prometheus::Gauge* parked_;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_RPC_METRICS_H_
