// client_sdk_test_device: one SDK device in its own process, so that a test can SIGKILL it in the
// middle of a round (no destructor, no flush, nothing but what is already on disk survives).
//
//   client_sdk_test_device --address=127.0.0.1:PORT --population=p --device_id=ID
//                          --storage_dir=DIR --seed=1 [--hold_at=uploading]
// With --hold_at=uploading it prints "holding at uploading" when the upload stage starts and
// then blocks there until killed; otherwise it runs one participation and exits 0 if the device
// contributed.

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "cohort/client/client.h"
#include "tests/client_sdk/test_trainer.h"

int main(int argc, char** argv) {
  std::string address, population, device_id, storage_dir, hold_at;
  int seed = 1, inputs = 4, classes = 3;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    auto value = [a](const char* name) -> const char* {
      const size_t n = std::strlen(name);
      return std::strncmp(a, name, n) == 0 && a[n] == '=' ? a + n + 1 : nullptr;
    };
    if (const char* v = value("--address")) address = v;
    else if (const char* v = value("--population")) population = v;
    else if (const char* v = value("--device_id")) device_id = v;
    else if (const char* v = value("--storage_dir")) storage_dir = v;
    else if (const char* v = value("--seed")) seed = std::atoi(v);
    else if (const char* v = value("--inputs")) inputs = std::atoi(v);
    else if (const char* v = value("--classes")) classes = std::atoi(v);
    else if (const char* v = value("--hold_at")) hold_at = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", a);
      return 2;
    }
  }
  if (!hold_at.empty() && hold_at != "uploading") {
    std::fprintf(stderr, "--hold_at knows only \"uploading\"\n");
    return 2;
  }
  auto trainer = cohort::client::test_util::MakeTestTrainer(seed, inputs, classes);
  if (!trainer.ok()) {
    std::fprintf(stderr, "trainer: %s\n", trainer.status().ToString().c_str());
    return 1;
  }
  cohort::client::Config config;
  config.server_address = address;
  config.population = population;
  config.device_id_provider = [device_id] { return device_id; };
  config.storage_dir = storage_dir;
  config.initial_backoff = absl::Milliseconds(50);
  config.max_backoff = absl::Milliseconds(400);
  config.long_poll = absl::Seconds(5);
  config.rpc_timeout = absl::Seconds(5);
  const bool hold = !hold_at.empty();
  config.on_progress = [hold](const cohort::client::Progress& p) {
    if (!hold || p.stage != cohort::client::Stage::kUploading) return;
    std::printf("holding at uploading\n");
    std::fflush(stdout);
    while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
  };
  auto client = cohort::client::Client::Create(config, trainer->get());
  if (!client.ok()) {
    std::fprintf(stderr, "create: %s\n", client.status().ToString().c_str());
    return 1;
  }
  (*client)->SetEligibility({true, true, true, 90});
  auto outcome = (*client)->RunOnce();
  if (!outcome.ok()) {
    std::fprintf(stderr, "run: %s\n", outcome.status().ToString().c_str());
    return 1;
  }
  std::printf("outcome=%d version=%lld\n", static_cast<int>(outcome->kind),
              static_cast<long long>(outcome->new_model_version));
  return outcome->kind == cohort::client::OutcomeKind::kContributed ? 0 : 1;
}
