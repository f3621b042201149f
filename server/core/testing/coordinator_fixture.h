#ifndef COHORT_SERVER_CORE_TESTING_COORDINATOR_FIXTURE_H_
#define COHORT_SERVER_CORE_TESTING_COORDINATOR_FIXTURE_H_

// A Coordinator for core tests: on a SimulatedClock, over the production InMemoryStore behind a
// FaultInjectingStore, with a recording observer, and helpers that act as devices do (check in,
// poll, upload a plain QUANTIZED input). Header-only; Catch2 assertions inside.
//
//   Fixture f;
//   const std::string task_id = f.CreateAndStart(PlainConfig(3, 2));
//   const std::string token = f.CheckIn(0).accepted().session_token();
//   REQUIRE(f.Upload(token, /*level=*/255, /*weight=*/1).ok());

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/version.h"
#include "secagg/packing.h"
#include "secagg/signed_messages.h"
#include "secagg/signing.h"
#include "secagg/testing/fake_random_source.h"
#include "server/core/coordinator.h"
#include "server/store/testing/fault_injecting_store.h"

namespace cohort::server::test_util {

class RecordingObserver : public CoordinatorObserver {
 public:
  void OnEvent(const cohort::v1::RoundEvent& event) override { events.push_back(event); }
  void OnRoundChanged(const std::string& round_id) override { changed.push_back(round_id); }
  void OnCheckIn(absl::string_view outcome) override { checkins[std::string(outcome)]++; }
  void OnPhaseClosed(const std::string&, cohort::v1::RoundPhase phase, absl::Duration,
                     int32_t dropped) override {
    dropouts[phase] += dropped;
  }
  void OnRoundEnded(const std::string& task_id, absl::string_view outcome) override {
    ended.emplace_back(outcome);
    ended_by_task[task_id].emplace_back(outcome);
  }

  std::vector<cohort::v1::RoundEvent> events;
  std::vector<std::string> changed;
  std::map<std::string, std::vector<std::string>> ended_by_task;
  std::map<std::string, int> checkins;
  std::map<cohort::v1::RoundPhase, int> dropouts;
  std::vector<std::string> ended;
};

// A plain (no secure aggregation) task of population "pop": 4 parameters, `target` devices
// (no over-selection), `min` needed, QUANTIZED with range 1 and 8 bits (level 0 = -1.0,
// level 255 = +1.0), masked_input deadline 60 s, no cool-down.
inline cohort::v1::TaskConfig PlainConfig(int target, int min) {
  cohort::v1::TaskConfig config;
  config.set_population("pop");
  auto* t = config.mutable_layout()->add_tensors();
  t->set_name("w");
  t->add_shape(4);
  config.set_target_cohort_size(target);
  config.set_over_selection_factor(1.0);
  config.set_min_participants(min);
  config.mutable_codec()->set_quantization_range(1.0);
  config.mutable_codec()->set_l2_clip_norm(10.0);
  config.mutable_codec()->set_bits(8);
  config.mutable_deadlines()->mutable_masked_input()->set_seconds(60);
  config.mutable_device_cooldown()->set_seconds(0);
  return config;
}

class Fixture {
 public:
  explicit Fixture(uint64_t seed = 1) : rng_(seed) { Restart(); }

  // A new Coordinator on the same store and clock, as after a process restart.
  void Restart() {
    coordinator.reset();
    CoordinatorOptions options;
    options.store = &store;
    options.clock = &clock;
    options.observer = &observer;
    options.random = &rng_;
    options.session_key = std::string(32, 's');
    options.sampling_seed = 42;
    auto created = Coordinator::Create(options);
    REQUIRE(created.ok());
    coordinator = std::move(*created);
    REQUIRE(coordinator->Recover().ok());
  }

  std::string Create(const cohort::v1::TaskConfig& config) {
    cohort::v1::CreateTaskRequest create;
    *create.mutable_config() = config;
    auto task = coordinator->CreateTask(create);
    INFO(task.status().ToString());
    REQUIRE(task.ok());
    return task->task_id();
  }

  void Start(const std::string& task_id, int rounds) {
    cohort::v1::StartRoundsRequest start;
    start.set_task_id(task_id);
    start.set_count(rounds);
    REQUIRE(coordinator->StartRounds(start).ok());
  }

  std::string CreateAndStart(const cohort::v1::TaskConfig& config, int rounds = 1) {
    const std::string task_id = Create(config);
    Start(task_id, rounds);
    return task_id;
  }

  // A device's check-in, signed with its key (`key_of` picks another device's key: an impostor
  // using this device's id).
  static cohort::v1::CheckInRequest CheckInRequestOf(int device, int key_of = -1,
                                                     const std::string& population = "pop") {
    if (key_of < 0) key_of = device;
    cohort::v1::CheckInRequest request;
    request.set_population(population);
    request.set_device_id(absl::StrCat("unit-test-device-", 1000 + device));
    request.set_sdk_version(cohort::kProtocolVersion);
    const secagg::SigningKey key =
        *secagg::SigningKey::FromSeed(std::string(31, 'k') + static_cast<char>(key_of));
    request.set_device_public_key(key.verifying_key().ToBytes());
    request.set_device_key_signature(
        *key.Sign(secagg::CheckInMessage(request.population(), request.device_id())));
    return request;
  }

  cohort::v1::CheckInResponse CheckIn(int device, const std::string& population = "pop") {
    auto response = coordinator->CheckIn(CheckInRequestOf(device, -1, population));
    REQUIRE(response.ok());
    return *response;
  }

  cohort::v1::RoundUpdate Update(const std::string& token) {
    cohort::v1::WaitForPhaseRequest request;
    request.set_session_token(token);
    auto poll = coordinator->PollPhase(request);
    REQUIRE(poll.ok());
    REQUIRE(poll->update.has_value());
    return *poll->update;
  }

  // Uploads `level` in every coordinate with weight `weight`: the QUANTIZED encoding of a delta
  // of -1 + level * 2 / 255 in every coordinate (range 1, 8 bits).
  absl::Status Upload(const std::string& token, uint64_t level, uint64_t weight) {
    const cohort::v1::RoundUpdate update = Update(token);
    const auto& codec = update.plan().codec();
    std::vector<uint64_t> input(static_cast<size_t>(codec.vector_length()), level * weight);
    input.back() = weight;
    cohort::v1::UploadMaskedInputRequest request;
    request.set_session_token(token);
    request.set_chunk_index(0);
    request.set_data(*secagg::Pack(input, codec.modulus_bits()));
    return coordinator->UploadMaskedInput(request).status();
  }

  // Runs one plain round of the task's `devices` (indices from `first_device`), each uploading
  // `level` with weight 1; returns the round's outcome as the first device sees it. The clock
  // first moves on ten minutes, as between rounds of real devices: pace steering's arrival
  // rate forgets the last round's check-ins, so a small round admits everyone it needs.
  cohort::v1::RoundUpdate RunRound(int devices, uint64_t level, int first_device = 0) {
    clock.AdvanceTime(absl::Minutes(10));
    std::vector<std::string> tokens;
    for (int i = 0; i < devices; ++i) {
      const cohort::v1::CheckInResponse response = CheckIn(first_device + i);
      INFO(response.ShortDebugString());
      REQUIRE(response.has_accepted());
      tokens.push_back(response.accepted().session_token());
    }
    for (const std::string& token : tokens) REQUIRE(Upload(token, level, 1).ok());
    return Update(tokens.front());
  }

  SimulatedClock clock;
  FaultInjectingStore store;
  RecordingObserver observer;
  std::unique_ptr<Coordinator> coordinator;

 private:
  secagg::FakeRandomSource rng_;
};

// The model's parameters as floats.
inline std::vector<float> FloatsOf(const cohort::v1::Model& model) {
  std::vector<float> out(model.parameters().size() / 4);
  std::memcpy(out.data(), model.parameters().data(), out.size() * 4);
  return out;
}

}  // namespace cohort::server::test_util

#endif  // COHORT_SERVER_CORE_TESTING_COORDINATOR_FIXTURE_H_
