// A hostile device among SDK devices (issue 16): a protocol-speaking attacker
// (tests/server/test_device.h) that shares signed garbage with every neighbour, or replays its
// bundles of an earlier round. The SDK devices report its bundles instead of leaving, the round
// excludes it and commits the weighted average of the SDK devices' updates, and after two
// exclusions the attacker is refused. (tests/server/server_hostile_devices_test.cc plays the
// same with protocol clients only.)

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "client_sdk/src/client_impl.h"
#include "cohort/client/client.h"
#include "testing/subprocess.h"
#include "tests/client_sdk/test_server.h"
#include "tests/client_sdk/test_trainer.h"
#include "tests/server/test_device.h"

namespace cohort::client {
namespace {

using test_util::StepTrainer;

using test_util::SmallTask;
using test_util::TestServer;

constexpr int kInputs = 4;
constexpr int kClasses = 3;
constexpr int kParams = kInputs * kClasses + kClasses;

struct Honest {
  std::unique_ptr<TestServer> server;
  std::string task_id;
  cohort::testing::TempDir dir;
  std::vector<std::unique_ptr<StepTrainer>> trainers;
  std::vector<std::unique_ptr<Client>> clients;

  explicit Honest(const std::string& population) {
    auto started = TestServer::Start();
    REQUIRE(started.ok());
    server = *std::move(started);
    // Three SDK devices and the attacker; n = 4 at dropout 0.3 is the complete graph, t = 2, so
    // every SDK device still masks with t neighbours once the attacker's bundles are set aside.
    v1::TaskConfig config = SmallTask(population, 4, /*secagg=*/true, kInputs, kClasses);
    config.mutable_secagg()->set_expected_dropout_rate(0.3);
    config.mutable_codec()->set_l2_clip_norm(1.0);  // fine quantization: step 2 * 1 / 65535
    config.mutable_codec()->set_bits(16);
    config.set_min_participants(3);
    auto task = server->CreateTask(config);
    INFO(task.status().ToString());
    REQUIRE(task.ok());
    task_id = *task;
    const float steps[] = {0.01f, 0.02f, 0.04f};
    const int64_t weights[] = {10, 10, 20};
    for (int i = 0; i < 3; ++i) {
      trainers.push_back(std::make_unique<StepTrainer>(steps[i], weights[i]));
      Config c;
      c.server_address = "127.0.0.1:1";  // unused: the stub is handed in
      c.population = population;
      c.device_id_provider = [population, i] {
        return absl::StrCat(population, "-sdk-device-", i, "-0123456789abcdef");
      };
      c.storage_dir = dir.File(absl::StrCat("d", i));
      c.long_poll = absl::Seconds(5);
      auto client =
          internal::CreateClientWithStub(c, trainers.back().get(), server->NewDeviceStub());
      REQUIRE(client.ok());
      (*client)->SetEligibility({true, true, true, 100});
      clients.push_back(*std::move(client));
    }
  }

  // Runs one round of the three SDK devices (each on its own thread) with the attacker
  // alongside, until every one of them is done with it; returns the SDK devices' outcomes and
  // the attacker's result. The server's clock stands still, so no phase closes at a deadline:
  // each closes once every device still in the round has acted (an excluded attacker is dropped
  // and no longer waited for).
  //
  // Pace steering estimates the supply of devices from the check-ins of about the last minute
  // of the server's clock (a rate that decays with a 60 s time constant). With the clock still,
  // the previous round's four check-ins would count in full, and the fourth check-in of the next
  // round would be admitted only with probability < 1: a refused attacker retries, pushing it
  // lower, while the round waits for it (its forming deadline never passes), and a refused SDK
  // device is told to come back later. Each round therefore starts 61 s after the previous one.
  struct Outcomes {
    std::vector<absl::StatusOr<ParticipationOutcome>> sdk;
    absl::StatusOr<server::test_util::TestDevice::Result> attacker;
  };
  Outcomes RunRound(server::test_util::TestDevice& attacker) {
    server->AdvanceClock(absl::Seconds(61));
    REQUIRE(server->StartRounds(task_id, 1).ok());
    Outcomes out{
        std::vector<absl::StatusOr<ParticipationOutcome>>(3, absl::UnknownError("not run")),
        absl::UnknownError("not run")};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i)
      threads.emplace_back([this, &out, i] { out.sdk[i] = clients[i]->RunOnce(); });
    // The attacker's time limit only bounds a hung test; nothing waits for it to pass.
    out.attacker = attacker.Run(absl::Seconds(120));
    for (std::thread& t : threads) t.join();
    return out;
  }

  // One round with the attacker alongside; checks that it commits the SDK devices' average.
  absl::StatusOr<server::test_util::TestDevice::Result> Round(
      server::test_util::TestDevice& attacker, int64_t version) {
    auto before = server->DownloadModel(task_id, version - 1);  // the model this round trains
    REQUIRE(before.ok());
    Outcomes outcomes = RunRound(attacker);
    for (const auto& r : outcomes.sdk) {
      INFO((r.ok() ? absl::StrCat("kind=", static_cast<int>(r->kind), " reason=", r->reason)
                   : r.status().ToString()));
      REQUIRE(r.ok());
      CHECK(r->kind == OutcomeKind::kContributed);
      CHECK(r->new_model_version == version);
    }
    auto after = server->DownloadModel(task_id, version);
    REQUIRE(after.ok());
    REQUIRE(after->size() == before->size());
    // Weights 10, 10, 20: the average step is (0.01 * 10 + 0.02 * 10 + 0.04 * 20) / 40 = 0.0275.
    // With the attacker's input in the sum, or masks that did not cancel, it is far off.
    for (size_t i = 0; i < after->size(); ++i) {
      CHECK((*after)[i] - (*before)[i] == Approx(0.0275).margin(1e-4));
    }
    return outcomes.attacker;
  }
};

server::test_util::TestDeviceOptions Attacker(const std::string& population) {
  server::test_util::TestDeviceOptions o;
  o.population = population;
  o.device_id = absl::StrCat(population, "-attacker-0123456789");
  o.delta.assign(kParams, 0.5f);
  o.examples = 100;
  o.max_wait = absl::Seconds(5);
  return o;
}

TEST_CASE("GarbageBundles_AmongSdkDevices_TheirAverageCommitsAndTheAttackerIsRefusedAfterRepeats") {
  Honest fleet("sdk-garbage");
  server::test_util::TestDeviceOptions bad = Attacker("sdk-garbage");
  bad.garbage_bundles = true;
  server::test_util::TestDevice attacker(fleet.server->NewDeviceStub(), bad);
  for (int64_t round = 1; round <= 2; ++round) {
    INFO("round " << round);
    auto attacked = fleet.Round(attacker, round);
    INFO(attacked.status().ToString());
    REQUIRE(attacked.ok());
    CHECK(attacked->dropped);
    CHECK(attacked->dropped_reason.find("excluded") != std::string::npos);
  }
  // Excluded twice: refused while it cools off.
  REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
  server::test_util::TestDevice again(fleet.server->NewDeviceStub(), bad);
  auto refused = again.Run(absl::Seconds(2));
  CHECK((!refused.ok() || !refused->accepted));
}

TEST_CASE("ReplayedBundles_AmongSdkDevices_TheReplayerIsExcludedAndTheirAverageCommits") {
  Honest fleet("sdk-replay");
  server::test_util::TestDeviceOptions replayer = Attacker("sdk-replay");
  replayer.replay_bundles = true;
  replayer.delta.assign(kParams, 0.0f);  // round 1 it behaves: a zero update, weight 1
  replayer.examples = 1;
  server::test_util::TestDevice attacker(fleet.server->NewDeviceStub(), replayer);
  // Round 1: the attacker behaves and keeps its bundles; its zero update (weight 1 of 41)
  // moves the average a little, so only the commit is checked here.
  auto round1 = fleet.RunRound(attacker);
  auto& first = round1.attacker;
  INFO(first.status().ToString());
  REQUIRE(first.ok());
  CHECK(first->last_phase == v1::ROUND_PHASE_COMMITTED);
  for (const auto& r : round1.sdk) {
    INFO((r.ok() ? absl::StrCat("kind=", static_cast<int>(r->kind), " reason=", r->reason)
                 : r.status().ToString()));
    REQUIRE(r.ok());
    CHECK(r->kind == OutcomeKind::kContributed);
  }
  // Round 2: it replays them, signed anew; they do not open under the new round's plan.
  auto second = fleet.Round(attacker, 2);
  REQUIRE(second.ok());
  CHECK(second->dropped);
  CHECK(second->dropped_reason.find("excluded") != std::string::npos);
}

}  // namespace
}  // namespace cohort::client
