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
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
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

// The phase a device that stops at `stop` leaves unfinished: the round waits in it for the
// deadline (UNSPECIFIED for kNever).
cohort::v1::RoundPhase StalledPhase(StopAt stop);

// What test devices did, phase by phase, so that a test waits for an event ("every device is
// done with MASKED_INPUT") instead of for a time. A device is done with a phase once its calls
// for it returned (whatever they answered) or once it vanished in it.
// This class is thread-safe.
class DeviceLog {
 public:
  void Done(cohort::v1::RoundPhase phase);
  int DoneWith(cohort::v1::RoundPhase phase) const;
  // Blocks until DoneWith(phase) >= n; false if `timeout` (real time) passes first.
  bool AwaitDoneWith(cohort::v1::RoundPhase phase, int n, absl::Duration timeout) const;

 private:
  mutable absl::Mutex mu_;
  std::map<cohort::v1::RoundPhase, int> done_ ABSL_GUARDED_BY(mu_);
};

// Holds devices as they reach `phase`, before they act in it, until the test opens the gate:
// the test can then act (stop the database, kill the server) at a known point of the round.
//   PhaseGate gate(cohort::v1::ROUND_PHASE_MASKED_INPUT);
//   options.on_phase = gate.Hook();
//   REQUIRE(gate.AwaitHeld(6, absl::Seconds(60)));  ...  gate.Open();
// The destructor opens the gate; declare it after the devices' futures, so that a test that
// fails early releases its devices before it waits for them. This class is thread-safe.
class PhaseGate {
 public:
  explicit PhaseGate(cohort::v1::RoundPhase phase);
  ~PhaseGate();
  std::function<void(cohort::v1::RoundPhase)> Hook();
  // Blocks until `n` devices are held; false if `timeout` (real time) passes first.
  bool AwaitHeld(int n, absl::Duration timeout);
  void Open();

 private:
  struct State {
    absl::Mutex mu;
    int held ABSL_GUARDED_BY(mu) = 0;
    bool open ABSL_GUARDED_BY(mu) = false;
  };
  const cohort::v1::RoundPhase phase_;
  // Shared with the hooks, which may still be running when the gate goes away.
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

struct TestDeviceOptions {
  std::string population;
  std::string device_id;     // 16..128 printable ASCII
  std::vector<float> delta;  // model delta this device "trained"
  int64_t examples = 1;      // FedAvg weight (capped by the plan)
  StopAt stop_at = StopAt::kNever;
  bool wrong_vector_length = false;  // uploads one element too few
  bool garbage_bundles = false;      // shares random bytes (signed) instead of share bundles
  // Shares the bundles of its previous Run (signed anew) with every neighbour: the old bundle
  // for the same recipient index if it had one, else another of its old bundles.
  bool replay_bundles = false;
  uint64_t seed = 1;
  // The device key's seed (32 bytes); empty: derived from device_id. A second device with the
  // same device_id but another key is an impostor.
  std::string identity_seed;
  // Semi-malicious tasks: the device's certificate, and the CA verifier of neighbours' keys.
  std::string credential;
  const cohort::secagg::KeyAuthenticityVerifier* verifier = nullptr;
  absl::Duration max_wait = absl::Seconds(10);
  int64_t download_chunk_bytes = 0;  // 0 = server default
  DeviceLog* log = nullptr;          // optional, not owned
  // Called when the device learns of a phase it is about to act in (before it acts or
  // vanishes); a test may block in it to hold the device at that point.
  std::function<void(cohort::v1::RoundPhase)> on_phase;
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
// QUANTIZED: values in Z_R; FLOAT32: float bits), vector_length = delta.size() + 1; in a DP
// round codec::EncodeDpUpdate with noise from secagg::OsRandom().
absl::StatusOr<std::vector<uint64_t>> EncodeForRound(const cohort::v1::CodecParams& codec,
                                                     const std::vector<float>& delta,
                                                     int64_t examples, uint64_t seed);

}  // namespace cohort::server::test_util

#endif  // COHORT_TESTS_SERVER_TEST_DEVICE_H_
