#ifndef COHORT_CLIENT_SDK_SRC_CLIENT_IMPL_H_
#define COHORT_CLIENT_SDK_SRC_CLIENT_IMPL_H_

#include <memory>

#include "absl/status/statusor.h"
#include "base/clock.h"
#include "cohort/client/client.h"
#include "cohort/v1/device.grpc.pb.h"

namespace cohort::client::internal {

// The seams the public Client::Create does not expose: tests hand in a StubInterface (a
// recording fake, or a proxy in front of a real server that corrupts or drops calls) and a
// clock. `stub` is shared so a proxy can outlive the client; `clock` may be null (real clock).
// Same codes as Client::Create, minus the address checks.
absl::StatusOr<std::unique_ptr<Client>> CreateClientWithStub(
    Config config, Trainer* trainer, std::shared_ptr<v1::DeviceService::StubInterface> stub,
    Clock* clock = nullptr);

// INVALID_ARGUMENT unless plaintext to `address` is acceptable: a loopback address, a unix
// socket, or allow_insecure.
absl::Status CheckTransportSecurity(const Config& config);

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_CLIENT_IMPL_H_
