#ifndef COHORT_TESTS_CLIENT_SDK_BAR_FEDERATION_H_
#define COHORT_TESTS_CLIENT_SDK_BAR_FEDERATION_H_
// A few SDK devices holding 28x28 single-channel images whose class is the row of a bright bar
// (learnable by a small CNN in a round or two), for tests that train an image model over the
// real server on loopback.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client_sdk/trainer/eigen_trainer.h"
#include "cohort/client/client.h"
#include "testing/subprocess.h"
#include "tests/client_sdk/test_server.h"

namespace cohort::client::test_util {

inline constexpr int kBarImageSide = 28;
inline constexpr int kBarClasses = 10;

// `count` images (row-major floats) and their labels, drawn from `seed`.
void BarImages(uint64_t seed, int count, std::vector<float>* features,
               std::vector<int32_t>* labels);

struct BarDevice {
  std::string id;
  std::unique_ptr<EigenTrainer> trainer;
  std::unique_ptr<Client> client;
};

// `devices` eligible SDK clients of `population` on `server`, each with `examples` images of its
// own seed and `holdout` of them kept for federated evaluation; state under `dir`.
absl::StatusOr<std::vector<BarDevice>> MakeBarDevices(const TestServer& server,
                                                      const std::string& population, int devices,
                                                      int examples, double holdout,
                                                      const cohort::testing::TempDir& dir);

// Runs one participation on every device at once; the outcomes in device order.
std::vector<absl::StatusOr<ParticipationOutcome>> RunOnceEverywhere(
    std::vector<BarDevice>& devices);

}  // namespace cohort::client::test_util

#endif  // COHORT_TESTS_CLIENT_SDK_BAR_FEDERATION_H_
