#ifndef COHORT_SIM_TRAFFIC_COUNTER_H_
#define COHORT_SIM_TRAFFIC_COUNTER_H_

#include <atomic>
#include <cstdint>

namespace cohort::sim {

// Protobuf payload bytes of the DeviceService calls made by this process (the simulated
// devices), counted by a process-wide gRPC client interceptor. Check-ins are counted apart: the
// devices that were not selected keep checking in, and that pace-steering traffic is not a round
// participant's cost. Payload bytes exclude HTTP/2 and TLS framing.
struct TrafficTotals {
  int64_t up = 0;            // requests, CheckIn excluded
  int64_t down = 0;          // responses, CheckIn excluded
  int64_t check_in_up = 0;
  int64_t check_in_down = 0;
};

// Installs the interceptor (once per process; later calls do nothing). Must run before the
// first channel is created. Thread-safe.
void InstallDeviceTrafficCounter();

// The totals since the process started. Thread-safe.
TrafficTotals DeviceTraffic();

}  // namespace cohort::sim

#endif  // COHORT_SIM_TRAFFIC_COUNTER_H_
