#ifndef COHORT_TESTS_SERVER_TEST_DEVICE_H_
#define COHORT_TESTS_SERVER_TEST_DEVICE_H_

// A protocol-speaking test device for integration tests over real gRPC: checks in with a signed
// device key, long-polls WaitForPhase, runs SecAgg+ with secagg's SecAggClient (signed keys and
// bundles, the report of bundles that did not open, the survivor signature of semi-malicious
// rounds), downloads the model in chunks (checking the SHA-256), encodes a fixed model delta
// with the round's codec, masks and uploads it in chunks, answers unmasking, and reports the
// outcome. It can vanish at any phase (a dropout) or misbehave: send a vector of the wrong
// length, share signed garbage instead of bundles, or replay the bundles of its previous round.
//
//   TestDevice device(stub, {.population = "p", .device_id = "device-000000000001",
//                            .delta = {0.1f, -0.2f}, .examples = 10});
//   absl::StatusOr<TestDevice::Result> result = device.Run(absl::Seconds(30));
//
// Run returns the device's view of the round; errors are non-OK statuses from calls the
// device did not expect to fail (DEADLINE_EXCEEDED when the overall timeout passes).
// This class is not thread-safe; run each device on its own thread.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cohort/v1/device.grpc.pb.h"
#include "secagg/key_authenticity.h"

namespace cohort::server::test_util {

enum class StopAt {
  kNever,
  kBeforeKeys,        // vanishes in ADVERTISE_KEYS without advertising
  kAfterKeys,         // advertises, then vanishes in SHARE_KEYS
  kAfterShares,       // shares keys, then vanishes in MASKED_INPUT
  kAfterMaskedInput,  // uploads, then vanishes in UNMASKING
};

struct TestDeviceOptions {
  std::string population;
  std::string device_id;     // 16..128 printable ASCII
  std::vector<float> delta;  // model delta this device "trained"
  int64_t examples = 1;      // FedAvg weight (capped by the plan)
  StopAt stop_at = StopAt::kNever;
  bool wrong_vector_length = false;  // uploads one element too few
  bool garbage_bundles = false;      // shares random bytes (signed) instead of share bundles
  bool replay_bundles = false;       // shares the bundles of its previous Run (signed anew)
  uint64_t seed = 1;
  // The device key's seed (32 bytes); empty: derived from device_id. A second device with the
  // same device_id but another key is an impostor.
  std::string identity_seed;
  // Semi-malicious tasks: the device's certificate, and the CA verifier of neighbours' keys.
  std::string credential;
  const cohort::secagg::KeyAuthenticityVerifier* verifier = nullptr;
  absl::Duration max_wait = absl::Seconds(10);
  int64_t download_chunk_bytes = 0;  // 0 = server default
};

class TestDevice {
 public:
  struct Result {
    bool accepted = false;
    cohort::v1::RoundPhase last_phase = cohort::v1::ROUND_PHASE_UNSPECIFIED;
    bool vanished = false;  // stopped on purpose (StopAt)
    bool dropped = false;   // the server said DROPPED
    std::string dropped_reason;
    cohort::v1::RoundOutcome outcome;
    grpc::StatusCode upload_error = grpc::StatusCode::OK;  // first UploadMaskedInput error
    grpc::StatusCode check_in_error = grpc::StatusCode::OK;  // a CheckIn refused outright
    std::string check_in_message;
    std::string session_token;
    std::string round_id;
    int32_t participant_index = 0;
  };

  TestDevice(std::shared_ptr<cohort::v1::DeviceService::StubInterface> stub,
             TestDeviceOptions options);
  ~TestDevice();

  absl::StatusOr<Result> Run(absl::Duration timeout);

 private:
  std::shared_ptr<cohort::v1::DeviceService::StubInterface> stub_;
  TestDeviceOptions options_;
  // The ShareKeys request of the previous Run, for replay_bundles.
  cohort::v1::ShareKeysRequest previous_shares_;
};

// Encodes `delta` with weight `examples` the way the round's codec says (codec::EncodeUpdate;
// QUANTIZED: values in Z_R; FLOAT32: float bits), vector_length = delta.size() + 1.
absl::StatusOr<std::vector<uint64_t>> EncodeForRound(const cohort::v1::CodecParams& codec,
                                                     const std::vector<float>& delta,
                                                     int64_t examples, uint64_t seed);

}  // namespace cohort::server::test_util

#endif  // COHORT_TESTS_SERVER_TEST_DEVICE_H_
