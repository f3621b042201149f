#include "server/rpc/metrics.h"

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/version.h"
#include "cohort/v1/round.pb.h"

namespace cohort::server {
namespace {

std::string PhaseLabel(cohort::v1::RoundPhase phase) {
  std::string name = cohort::v1::RoundPhase_Name(phase);
  if (name.rfind("ROUND_PHASE_", 0) == 0) name = name.substr(12);
  return absl::AsciiStrToLower(name);
}

}  // namespace

PrometheusMetrics::PrometheusMetrics(prometheus::Registry& registry)
    : checkins_(prometheus::BuildCounter()
                    .Name("cohort_checkins_total")
                    .Help("Device check-ins by outcome")
                    .Register(registry)),
      calls_(prometheus::BuildCounter()
                 .Name("cohort_device_calls_total")
                 .Help("Device RPCs by method and gRPC status code")
                 .Register(registry)),
      phase_duration_(prometheus::BuildHistogram()
                          .Name("cohort_round_phase_duration_seconds")
                          .Help("How long each round phase lasted")
                          .Register(registry)),
      dropouts_(prometheus::BuildCounter()
                    .Name("cohort_dropouts_total")
                    .Help("Devices dropped when a phase closed")
                    .Register(registry)),
      bytes_(prometheus::BuildCounter()
                 .Name("cohort_bytes_total")
                 .Help("Device payload bytes by direction")
                 .Register(registry)),
      rounds_(prometheus::BuildCounter()
                  .Name("cohort_rounds_total")
                  .Help("Rounds ended, by task and outcome")
                  .Register(registry)),
      inference_fetches_(prometheus::BuildCounter()
                             .Name("cohort_inference_fetches_total")
                             .Help("Inference artifact chunks served and downloads deferred")
                             .Register(registry)),
      epsilon_spent_(prometheus::BuildGauge()
                         .Name("cohort_privacy_epsilon_spent")
                         .Help("Epsilon a DP task has spent, at its delta")
                         .Register(registry)),
      epsilon_budget_(prometheus::BuildGauge()
                          .Name("cohort_privacy_epsilon_budget")
                          .Help("The epsilon budget of a DP task")
                          .Register(registry)),
      excluded_(prometheus::BuildCounter()
                    .Name("cohort_devices_excluded_total")
                    .Help("Devices a round excluded because their neighbours could not open the "
                          "share bundles they signed, by task")
                    .Register(registry)),
      parked_(&prometheus::BuildGauge()
                   .Name("cohort_parked_long_polls")
                   .Help("WaitForPhase calls currently parked")
                   .Register(registry)
                   .Add({})) {
  // The usual build_info idiom: constant 1, the facts in labels, joined onto alerts by instance.
  prometheus::BuildGauge()
      .Name("cohort_build_info")
      .Help("The running build: always 1, its version in a label")
      .Register(registry)
      .Add({{"version", cohort::Version()}})
      .Set(1);
}

void PrometheusMetrics::OnCheckIn(absl::string_view outcome) {
  checkins_.Add({{"outcome", std::string(outcome)}}).Increment();
}

void PrometheusMetrics::OnPhaseClosed(const std::string& task_id, cohort::v1::RoundPhase phase,
                                      absl::Duration duration, int32_t dropped) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};
  const std::map<std::string, std::string> labels = {{"task", task_id},
                                                     {"phase", PhaseLabel(phase)}};
  phase_duration_.Add(labels, kBuckets).Observe(absl::ToDoubleSeconds(duration));
  if (dropped > 0) dropouts_.Add(labels).Increment(dropped);
}

void PrometheusMetrics::OnBytes(const std::string& task_id, absl::string_view direction,
                                int64_t bytes) {
  bytes_.Add({{"task", task_id}, {"direction", std::string(direction)}})
      .Increment(static_cast<double>(bytes));
}

void PrometheusMetrics::OnRoundEnded(const std::string& task_id, absl::string_view outcome) {
  rounds_.Add({{"task", task_id}, {"outcome", std::string(outcome)}}).Increment();
}

void PrometheusMetrics::OnInferenceFetch(absl::string_view outcome) {
  inference_fetches_.Add({{"outcome", std::string(outcome)}}).Increment();
}

void PrometheusMetrics::OnPrivacySpent(const std::string& task_id, double epsilon_spent,
                                       double epsilon_budget) {
  epsilon_spent_.Add({{"task", task_id}}).Set(epsilon_spent);
  epsilon_budget_.Add({{"task", task_id}}).Set(epsilon_budget);
}

void PrometheusMetrics::OnDeviceExcluded(const std::string& task_id) {
  excluded_.Add({{"task", task_id}}).Increment();
}

void PrometheusMetrics::OnDeviceCall(absl::string_view method, int code) {
  // gRPC's status codes are absl's, number for number.
  calls_.Add({{"method", std::string(method)},
              {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}})
      .Increment();
}

}  // namespace cohort::server
