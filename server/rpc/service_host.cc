#include "server/rpc/service_host.h"

#include <utility>

#include "base/logging.h"
#include "server/rpc/admin_service.h"
#include "server/rpc/device_service.h"
#include "server/rpc/metrics.h"

namespace cohort::server {

// Forwards coordinator events to metrics, the event hub and the long-poll registry. Called
// under the coordinator's lock; every target only queues or counts.
class FanOutObserver : public CoordinatorObserver {
 public:
  FanOutObserver(PrometheusMetrics* metrics, EventHub* events)
      : metrics_(metrics), events_(events) {}
  void set_long_polls(LongPollRegistry* long_polls) { long_polls_ = long_polls; }

  void OnEvent(const cohort::v1::RoundEvent& event) override { events_->OnEvent(event); }
  void OnRoundChanged(const std::string& round_id) override {
    if (long_polls_ != nullptr) long_polls_->Wake(round_id);
  }
  void OnCheckIn(absl::string_view outcome) override {
    if (metrics_ != nullptr) metrics_->OnCheckIn(outcome);
  }
  void OnPhaseClosed(const std::string& task_id, cohort::v1::RoundPhase phase,
                     absl::Duration duration, int32_t dropped) override {
    if (metrics_ != nullptr) metrics_->OnPhaseClosed(task_id, phase, duration, dropped);
  }
  void OnBytes(const std::string& task_id, absl::string_view direction, int64_t bytes) override {
    if (metrics_ != nullptr) metrics_->OnBytes(task_id, direction, bytes);
  }
  void OnPrivacySpent(const std::string& task_id, double epsilon_spent,
                      double epsilon_budget) override {
    if (metrics_ != nullptr) metrics_->OnPrivacySpent(task_id, epsilon_spent, epsilon_budget);
  }
  void OnRoundEnded(const std::string& task_id, absl::string_view outcome) override {
    if (metrics_ != nullptr) metrics_->OnRoundEnded(task_id, outcome);
  }
  void OnInferenceFetch(absl::string_view outcome) override {
    if (metrics_ != nullptr) metrics_->OnInferenceFetch(outcome);
  }
  void OnDeviceExcluded(const std::string& task_id) override {
    if (metrics_ != nullptr) metrics_->OnDeviceExcluded(task_id);
  }

 private:
  PrometheusMetrics* const metrics_;
  EventHub* const events_;
  LongPollRegistry* long_polls_ = nullptr;
};

absl::StatusOr<std::unique_ptr<ServiceHost>> ServiceHost::Create(Options options) {
  if (options.store == nullptr) return absl::InvalidArgumentError("ServiceHost: store is required");
  if (options.admin_token.empty()) {
    return absl::InvalidArgumentError("ServiceHost: admin_token must not be empty");
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  if (options.tick_interval <= absl::ZeroDuration()) options.tick_interval = absl::Milliseconds(50);
  std::unique_ptr<ServiceHost> host(new ServiceHost(std::move(options)));
  const Options& o = host->options_;
  if (o.metrics != nullptr) host->metrics_ = std::make_unique<PrometheusMetrics>(*o.metrics);
  host->events_ = std::make_unique<EventHub>();
  host->observer_ = std::make_unique<FanOutObserver>(host->metrics_.get(), host->events_.get());
  if (!o.device_ca_pem.empty()) {
    absl::StatusOr<std::unique_ptr<secagg::CertificateAuthorityVerifier>> ca =
        secagg::CertificateAuthorityVerifier::Create(o.device_ca_pem);
    if (!ca.ok()) return ca.status();
    host->key_verifier_ = *std::move(ca);
  }
  CoordinatorOptions core;
  core.store = o.store;
  core.key_verifier = host->key_verifier_.get();
  core.offenders = o.offenders;
  core.clock = o.clock;
  core.observer = host->observer_.get();
  core.session_key = o.session_key;
  core.pseudonym_salt = o.pseudonym_salt;
  core.max_wait = o.max_long_poll;
  core.upload_buffer_bytes = o.upload_buffer_bytes;
  absl::StatusOr<std::unique_ptr<Coordinator>> coordinator = Coordinator::Create(std::move(core));
  if (!coordinator.ok()) return coordinator.status();
  host->coordinator_ = std::move(*coordinator);
  host->long_polls_ =
      std::make_unique<LongPollRegistry>(host->coordinator_.get(), host->metrics_.get());
  host->observer_->set_long_polls(host->long_polls_.get());
  host->device_service_ = std::make_unique<DeviceServiceImpl>(
      host->coordinator_.get(), host->long_polls_.get(), host->metrics_.get());
  host->admin_service_ = std::make_unique<AdminServiceImpl>(host->coordinator_.get(),
                                                            host->events_.get(), o.admin_token);
  return host;
}

ServiceHost::ServiceHost(Options options) : options_(std::move(options)) {}

ServiceHost::~ServiceHost() { Shutdown(); }

grpc::Service* ServiceHost::device_service() { return device_service_.get(); }
grpc::Service* ServiceHost::admin_service() { return admin_service_.get(); }

absl::Status ServiceHost::Start() {
  if (absl::Status s = coordinator_->Recover(); !s.ok()) return s;
  long_polls_->Start();
  ticker_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(options_.tick_interval)) {
      coordinator_->AdvanceTo(options_.clock->Now());
    }
  });
  return absl::OkStatus();
}

void ServiceHost::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (ticker_.joinable()) ticker_.join();
  long_polls_->Shutdown();
  events_->Shutdown();
}

}  // namespace cohort::server
