#include "tests/client_sdk/bar_federation.h"

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "codec/splitmix64.h"

namespace cohort::client::test_util {

void BarImages(uint64_t seed, int count, std::vector<float>* features,
               std::vector<int32_t>* labels) {
  codec::SplitMix64 rng(seed);
  for (int i = 0; i < count; ++i) {
    const int label = static_cast<int>(rng.NextBelow(kBarClasses));
    labels->push_back(label);
    for (int y = 0; y < kBarImageSide; ++y) {
      for (int x = 0; x < kBarImageSide; ++x) {
        const bool bar = y / 2 == label + 4;
        features->push_back((bar ? 0.9f : 0.0f) + 0.2f * static_cast<float>(rng.NextDouble()));
      }
    }
  }
}

absl::StatusOr<std::vector<BarDevice>> MakeBarDevices(const TestServer& server,
                                                      const std::string& population, int devices,
                                                      int examples, double holdout,
                                                      const cohort::testing::TempDir& dir) {
  std::vector<BarDevice> out(devices);
  for (int i = 0; i < devices; ++i) {
    std::vector<float> features;
    std::vector<int32_t> labels;
    BarImages(100 + i, examples, &features, &labels);
    absl::StatusOr<std::unique_ptr<EigenTrainer>> trainer = EigenTrainer::Create(
        std::move(features), std::move(labels), kBarImageSide * kBarImageSide,
        EigenTrainer::Options{static_cast<uint64_t>(i + 1), holdout});
    if (!trainer.ok()) return trainer.status();
    out[i].trainer = *std::move(trainer);
    out[i].id = absl::StrCat(population, "-device-", i, "-0123456789abcdef");
    Config config;
    config.server_address = server.device_address();
    config.population = population;
    config.device_id_provider = [id = out[i].id] { return id; };
    config.storage_dir = dir.File(absl::StrCat(population, "-device", i));
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(config, out[i].trainer.get());
    if (!client.ok()) return client.status();
    out[i].client = *std::move(client);
    out[i].client->SetEligibility(
        {.charging = true, .unmetered_network = true, .idle = true, .battery_percent = 90});
  }
  return out;
}

std::vector<absl::StatusOr<ParticipationOutcome>> RunOnceEverywhere(
    std::vector<BarDevice>& devices) {
  std::vector<absl::StatusOr<ParticipationOutcome>> results(devices.size(),
                                                            absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < devices.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = devices[i].client->RunOnce(); });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

}  // namespace cohort::client::test_util
