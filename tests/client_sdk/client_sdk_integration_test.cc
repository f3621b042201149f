// The SDK against the real cohort server on loopback: rounds with and without secure
// aggregation, a device that loses the server and resumes, a device process SIGKILLed mid-round
// and a new client that finishes from its storage dir, retry-later answers, and a corrupted
// model chunk.

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client_sdk/src/client_impl.h"
#include "client_sdk/src/testing/forwarding_stub.h"
#include "client_sdk/trainer/eigen_trainer.h"
#include "cohort/client/client.h"
#include "testing/subprocess.h"
#include "tests/client_sdk/test_server.h"
#include "tests/client_sdk/test_trainer.h"

namespace cohort::client {
namespace {

using test_util::StepTrainer;

using test_util::SmallTask;
using test_util::TestServer;

constexpr int kInputs = 4;
constexpr int kClasses = 3;

std::unique_ptr<EigenTrainer> MakeTrainer(int seed) {
  auto trainer = test_util::MakeTestTrainer(seed, kInputs, kClasses);
  REQUIRE(trainer.ok());
  return *std::move(trainer);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Records every call's name and lets a test rewrite or fail calls on their way.
class ProxyStub : public test_util::ForwardingStub {
 public:
  explicit ProxyStub(std::shared_ptr<v1::DeviceService::StubInterface> target)
      : ForwardingStub(target.get()), owned_target_(std::move(target)) {}

  // Returns a non-OK status to fail the call instead of forwarding it.
  std::function<grpc::Status(const std::string& method)> before;
  std::function<void(v1::ModelChunk*)> after_download;

  grpc::Status CheckIn(grpc::ClientContext* c, const v1::CheckInRequest& r,
                       v1::CheckInResponse* out) override {
    if (auto s = Before("CheckIn"); !s.ok()) return s;
    return ForwardingStub::CheckIn(c, r, out);
  }
  grpc::Status WaitForPhase(grpc::ClientContext* c, const v1::WaitForPhaseRequest& r,
                            v1::RoundUpdate* out) override {
    if (auto s = Before(absl::StrCat("WaitForPhase/", v1::RoundPhase_Name(r.known_phase())));
        !s.ok()) {
      return s;
    }
    return ForwardingStub::WaitForPhase(c, r, out);
  }
  grpc::Status DownloadModel(grpc::ClientContext* c, const v1::DownloadModelRequest& r,
                             v1::ModelChunk* out) override {
    if (auto s = Before(absl::StrCat("DownloadModel/", r.offset())); !s.ok()) return s;
    grpc::Status s = ForwardingStub::DownloadModel(c, r, out);
    if (s.ok() && after_download) after_download(out);
    return s;
  }
  grpc::Status AdvertiseKeys(grpc::ClientContext* c, const v1::AdvertiseKeysRequest& r,
                             v1::AdvertiseKeysResponse* out) override {
    if (auto s = Before("AdvertiseKeys"); !s.ok()) return s;
    return ForwardingStub::AdvertiseKeys(c, r, out);
  }
  grpc::Status ShareKeys(grpc::ClientContext* c, const v1::ShareKeysRequest& r,
                         v1::ShareKeysResponse* out) override {
    if (auto s = Before("ShareKeys"); !s.ok()) return s;
    return ForwardingStub::ShareKeys(c, r, out);
  }
  grpc::Status UploadMaskedInput(grpc::ClientContext* c, const v1::UploadMaskedInputRequest& r,
                                 v1::UploadMaskedInputResponse* out) override {
    if (auto s = Before(absl::StrCat("UploadMaskedInput/", r.chunk_index())); !s.ok()) return s;
    return ForwardingStub::UploadMaskedInput(c, r, out);
  }
  grpc::Status SubmitUnmasking(grpc::ClientContext* c, const v1::SubmitUnmaskingRequest& r,
                               v1::SubmitUnmaskingResponse* out) override {
    if (auto s = Before("SubmitUnmasking"); !s.ok()) return s;
    return ForwardingStub::SubmitUnmasking(c, r, out);
  }

  std::vector<std::string> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  int Count(const std::string& prefix) {
    int n = 0;
    for (const std::string& c : calls()) n += c.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }

 private:
  grpc::Status Before(const std::string& method) {
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back(method);
    }
    return before ? before(method) : grpc::Status::OK;
  }
  std::shared_ptr<v1::DeviceService::StubInterface> owned_target_;
  absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

// One simulated phone: its trainer, storage dir, and a Client over `stub`.
struct Device {
  std::string id;
  std::string storage_dir;
  std::unique_ptr<EigenTrainer> trainer;
  std::shared_ptr<v1::DeviceService::StubInterface> stub;
  std::unique_ptr<Client> client;
  std::function<void(const Progress&)> on_progress;
  std::vector<absl::Status> errors;
  absl::Mutex mu;

  Config MakeConfig(const std::string& population) {
    Config config;
    config.server_address = "127.0.0.1:1";  // unused: the stub is handed in
    config.population = population;
    config.device_id_provider = [id = id] { return id; };
    config.storage_dir = storage_dir;
    config.initial_backoff = absl::Milliseconds(50);
    config.max_backoff = absl::Milliseconds(400);
    config.long_poll = absl::Seconds(5);
    config.rpc_timeout = absl::Seconds(5);
    config.on_progress = [this](const Progress& p) {
      if (on_progress) on_progress(p);
    };
    config.on_error = [this](const absl::Status& s) {
      absl::MutexLock lock(&mu);
      errors.push_back(s);
    };
    return config;
  }
  void Connect(const std::string& population) {
    auto c = internal::CreateClientWithStub(MakeConfig(population), trainer.get(), stub);
    REQUIRE(c.ok());
    client = *std::move(c);
    client->SetEligibility(
        {.charging = true, .unmetered_network = true, .idle = true, .battery_percent = 90});
  }
  bool SawError(absl::StatusCode code) {
    absl::MutexLock lock(&mu);
    for (const absl::Status& s : errors) {
      if (s.code() == code) return true;
    }
    return false;
  }
};

struct Fleet {
  std::unique_ptr<TestServer> server;
  std::string task_id;
  cohort::testing::TempDir dir;
  std::vector<std::unique_ptr<Device>> devices;

  Fleet(const std::string& population, int n, bool secagg) {
    auto s = TestServer::Start();
    REQUIRE(s.ok());
    server = *std::move(s);
    auto task = server->CreateTask(SmallTask(population, n, secagg, kInputs, kClasses));
    INFO(task.status().ToString());
    REQUIRE(task.ok());
    task_id = *task;
    for (int i = 0; i < n; ++i) {
      auto d = std::make_unique<Device>();
      d->id = absl::StrCat(population, "-device-", i, "-0123456789abcdef");
      d->storage_dir = dir.File(absl::StrCat("device", i));
      d->trainer = MakeTrainer(i + 1);
      d->stub = server->NewDeviceStub();
      devices.push_back(std::move(d));
    }
  }

  // Runs RunOnce on every device at once.
  std::vector<absl::StatusOr<ParticipationOutcome>> RunAll() {
    std::vector<absl::StatusOr<ParticipationOutcome>> results(devices.size(),
                                                              absl::UnknownError("not run"));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < devices.size(); ++i) {
      threads.emplace_back([&, i] { results[i] = devices[i]->client->RunOnce(); });
    }
    for (std::thread& t : threads) t.join();
    return results;
  }
};

void RequireContributed(const absl::StatusOr<ParticipationOutcome>& r, int64_t version) {
  INFO((r.ok() ? absl::StrCat("kind=", static_cast<int>(r->kind), " reason=", r->reason)
               : r.status().ToString()));
  REQUIRE(r.ok());
  CHECK(r->kind == OutcomeKind::kContributed);
  CHECK(r->new_model_version == version);
}

TEST_CASE("SecureRound_ThreeDevicesContributeAndTheirStateIsWiped") {
  Fleet fleet("secure", 3, /*secagg=*/true);
  for (auto& d : fleet.devices) d->Connect("secure");
  REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
  auto results = fleet.RunAll();
  for (const auto& r : results) RequireContributed(r, 1);
  auto task = fleet.server->WaitForCommitted(fleet.task_id, 1, absl::Seconds(60));
  REQUIRE(task.ok());
  CHECK(task->rounds_committed() == 1);
  CHECK(task->latest_model_version() == 1);
  for (auto& d : fleet.devices) CHECK_FALSE(Exists(d->storage_dir + "/round.pb"));
}

TEST_CASE("SecureRound_NewModelIsTheWeightedAverageOfTheDevicesUpdates") {
  auto started = TestServer::Start();
  REQUIRE(started.ok());
  TestServer& server = **started;
  v1::TaskConfig config = SmallTask("average", 3, /*secagg=*/true, kInputs, kClasses);
  config.mutable_codec()->set_l2_clip_norm(1.0);  // fine quantization: step 2 * 1 / 65535
  config.mutable_codec()->set_bits(16);
  auto task = server.CreateTask(config);
  REQUIRE(task.ok());
  auto before = server.DownloadModel(*task, 0);
  REQUIRE(before.ok());
  REQUIRE(server.StartRounds(*task, 1).ok());
  // Weights 10, 10, 20: the average step is (0.01 * 10 + 0.02 * 10 + 0.04 * 20) / 40 = 0.0275.
  const float steps[] = {0.01f, 0.02f, 0.04f};
  const int64_t weights[] = {10, 10, 20};
  cohort::testing::TempDir dir;
  std::vector<std::unique_ptr<StepTrainer>> trainers;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 3; ++i) {
    trainers.push_back(std::make_unique<StepTrainer>(steps[i], weights[i]));
    Config c;
    c.server_address = server.device_address();
    c.population = "average";
    c.device_id_provider = [i] { return absl::StrCat("average-device-", i, "-0123456789abcdef"); };
    c.storage_dir = dir.File(absl::StrCat("d", i));
    auto client = Client::Create(c, trainers.back().get());
    REQUIRE(client.ok());
    (*client)->SetEligibility({true, true, true, 100});
    clients.push_back(*std::move(client));
  }
  std::vector<absl::StatusOr<ParticipationOutcome>> results(3, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back([&, i] { results[i] = clients[i]->RunOnce(); });
  for (std::thread& t : threads) t.join();
  for (const auto& r : results) RequireContributed(r, 1);
  auto after = server.DownloadModel(*task, 1);
  REQUIRE(after.ok());
  REQUIRE(after->size() == before->size());
  // Each device's quantization error is below one level (2 / 65535 ~ 3e-5) per coordinate, and
  // so is their weighted mean. The unweighted mean (0.0233) or masks that did not cancel (off
  // by up to 2^m levels) fall far outside.
  for (size_t i = 0; i < after->size(); ++i) {
    CHECK((*after)[i] - (*before)[i] == Approx(0.0275).margin(1e-4));
  }
}

TEST_CASE("PlainRound_TwoConsecutiveRoundsCommit") {
  Fleet fleet("plain", 2, /*secagg=*/false);
  for (auto& d : fleet.devices) d->Connect("plain");
  REQUIRE(fleet.server->StartRounds(fleet.task_id, 2).ok());
  for (int64_t round = 1; round <= 2; ++round) {
    // Time passes between rounds. Without it the server's arrival estimate (check-ins of the
    // last minute) would count this fleet's two devices twice, take the population for twice
    // the round, thin admission, and might turn one of the only two devices away for a minute.
    if (round > 1) fleet.server->AdvanceClock(absl::Minutes(10));
    auto results = fleet.RunAll();
    for (const auto& r : results) RequireContributed(r, round);
  }
  auto task = fleet.server->WaitForCommitted(fleet.task_id, 2, absl::Seconds(60));
  REQUIRE(task.ok());
  CHECK(task->rounds_committed() == 2);
}

TEST_CASE("DroppedConnection_DeviceBacksOffResynchronizesAndFinishesTheRound") {
  Fleet fleet("flaky", 3, /*secagg=*/true);
  auto proxy = std::make_shared<ProxyStub>(fleet.devices[0]->stub);
  std::atomic<int> failures{0};
  // The connection drops at the first upload and the first key share: both calls fail as a
  // broken connection does, twice each.
  proxy->before = [&](const std::string& method) {
    if ((method == "ShareKeys" || method == "UploadMaskedInput/0") && failures.load() < 4 &&
        proxy->Count(method) <= 2) {
      failures.fetch_add(1);
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset (injected)");
    }
    return grpc::Status::OK;
  };
  fleet.devices[0]->stub = proxy;
  for (auto& d : fleet.devices) d->Connect("flaky");
  REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
  auto results = fleet.RunAll();
  for (const auto& r : results) RequireContributed(r, 1);
  CHECK(failures.load() == 4);
  CHECK(fleet.devices[0]->SawError(absl::StatusCode::kUnavailable));
  // Each failure was followed by a re-synchronization.
  CHECK(proxy->Count("WaitForPhase/ROUND_PHASE_UNSPECIFIED") >= 1 + 4);
}

TEST_CASE("KilledProcess_NewClientWithTheSameStorageDirFinishesTheRound") {
  Fleet fleet("resume", 3, /*secagg=*/true);
  for (size_t i = 1; i < fleet.devices.size(); ++i) fleet.devices[i]->Connect("resume");
  Device& victim = *fleet.devices[0];
  REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
  std::vector<absl::StatusOr<ParticipationOutcome>> others(2, absl::UnknownError("not run"));
  std::thread t1([&] { others[0] = fleet.devices[1]->client->RunOnce(); });
  std::thread t2([&] { others[1] = fleet.devices[2]->client->RunOnce(); });
  // The victim runs in its own process, which is SIGKILLed as its upload starts: no destructor
  // runs, nothing is flushed, its flock on the storage dir dies with it.
  auto process = cohort::testing::Subprocess::Start(
      {COHORT_TEST_DEVICE_BINARY, "--address=" + fleet.server->device_address(),
       "--population=resume", "--device_id=" + victim.id, "--storage_dir=" + victim.storage_dir,
       "--seed=1", "--hold_at=uploading"});
  REQUIRE(process.ok());
  bool holding = false;
  for (int i = 0; i < 6000 && !holding; ++i) {
    holding = process->Output().find("holding at uploading") != std::string::npos;
    if (!holding) absl::SleepFor(absl::Milliseconds(10));
  }
  INFO(process->Output());
  REQUIRE(holding);
  REQUIRE(process->Signal(SIGKILL).ok());
  auto status = process->Wait(absl::Seconds(30));
  REQUIRE(status.ok());
  CHECK(*status == 128 + SIGKILL);
  const bool persisted = Exists(victim.storage_dir + "/round.pb");

  victim.Connect("resume");  // a new process: a new client and channel on the same storage dir
  absl::StatusOr<ParticipationOutcome> resumed = victim.client->RunOnce();
  t1.join();
  t2.join();
  CHECK(persisted);
  RequireContributed(resumed, 1);
  for (const auto& r : others) RequireContributed(r, 1);
  CHECK_FALSE(Exists(victim.storage_dir + "/round.pb"));
}

TEST_CASE("BackgroundLoop_ParticipatesUntilStopped") {
  Fleet fleet("loop", 2, /*secagg=*/false);
  absl::Mutex mu;
  std::vector<OutcomeKind> outcomes;
  for (auto& d : fleet.devices) {
    Config config = d->MakeConfig("loop");
    config.loop_interval = absl::Milliseconds(50);
    config.on_outcome = [&](const ParticipationOutcome& o) {
      absl::MutexLock lock(&mu);
      outcomes.push_back(o.kind);
    };
    auto c = internal::CreateClientWithStub(config, d->trainer.get(), d->stub);
    REQUIRE(c.ok());
    d->client = *std::move(c);
    d->client->SetEligibility({true, true, true, 100});
  }
  REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
  for (auto& d : fleet.devices) REQUIRE(d->client->StartBackgroundLoop().ok());
  CHECK(fleet.devices[0]->client->StartBackgroundLoop().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(fleet.devices[0]->client->RunOnce().status().code() ==
        absl::StatusCode::kFailedPrecondition);
  auto task = fleet.server->WaitForCommitted(fleet.task_id, 1, absl::Seconds(60));
  REQUIRE(task.ok());
  CHECK(task->rounds_committed() == 1);
  // Both devices report their contribution before they are stopped.
  {
    absl::MutexLock lock(&mu);
    auto both = [&] {
      return std::count(outcomes.begin(), outcomes.end(), OutcomeKind::kContributed) == 2;
    };
    mu.AwaitWithTimeout(absl::Condition(&both), absl::Seconds(60));
  }
  for (auto& d : fleet.devices) d->client->Stop();
  absl::MutexLock lock(&mu);
  CHECK(std::count(outcomes.begin(), outcomes.end(), OutcomeKind::kContributed) == 2);
}

TEST_CASE("RetryLater_DeviceHonoursTheWindowWithoutCallingTheServer") {
  // No round is running (none was started): the server steers the device away.
  Fleet fleet("idle", 2, /*secagg=*/false);
  auto proxy = std::make_shared<ProxyStub>(fleet.devices[0]->stub);
  fleet.devices[0]->stub = proxy;
  fleet.devices[0]->Connect("idle");
  const absl::Time before = absl::Now();
  auto first = fleet.devices[0]->client->RunOnce();
  INFO(first.status().ToString());
  REQUIRE(first.ok());
  REQUIRE(first->kind == OutcomeKind::kRetryLater);
  CHECK(first->retry_at > before);
  CHECK(proxy->Count("CheckIn") == 1);

  // Inside the window (also for a new client on the same storage), no call goes out.
  fleet.devices[0]->client.reset();
  fleet.devices[0]->Connect("idle");
  auto second = fleet.devices[0]->client->RunOnce();
  REQUIRE(second.ok());
  CHECK(second->kind == OutcomeKind::kRetryLater);
  CHECK(second->retry_at == first->retry_at);
  CHECK(proxy->Count("CheckIn") == 1);
}

// A server that answers every check-in with a fixed retry-later window.
class RetryLaterStub : public test_util::ForwardingStub {
 public:
  grpc::Status CheckIn(grpc::ClientContext*, const v1::CheckInRequest&,
                       v1::CheckInResponse* response) override {
    ++check_ins;
    response->mutable_retry_later()->mutable_min_delay()->set_seconds(100);
    response->mutable_retry_later()->mutable_max_delay()->set_seconds(200);
    response->mutable_retry_later()->set_reason("pace steering");
    return grpc::Status::OK;
  }
  std::atomic<int> check_ins{0};
};

TEST_CASE("RetryLater_RetryTimeIsDrawnInsideTheServersWindow") {
  cohort::testing::TempDir dir;
  auto stub = std::make_shared<RetryLaterStub>();
  auto trainer = MakeTrainer(1);
  Device device;
  device.id = "retry-device-0123456789abcdef";
  device.storage_dir = dir.File("d");
  device.trainer = MakeTrainer(1);
  device.stub = stub;
  device.Connect("pop");
  const absl::Time before = absl::Now();
  auto outcome = device.client->RunOnce();
  const absl::Time after = absl::Now();
  REQUIRE(outcome.ok());
  CHECK(outcome->kind == OutcomeKind::kRetryLater);
  CHECK(outcome->reason == "pace steering");
  CHECK(outcome->retry_at >= before + absl::Seconds(100));
  CHECK(outcome->retry_at <= after + absl::Seconds(200));
  CHECK(device.client->RunOnce()->kind == OutcomeKind::kRetryLater);
  CHECK(stub->check_ins.load() == 1);
}

TEST_CASE("CorruptedModelChunk_IsRefusedDownloadedAgainAndTheRoundCompletes") {
  Fleet fleet("corrupt", 2, /*secagg=*/false);
  auto proxy = std::make_shared<ProxyStub>(fleet.devices[0]->stub);
  std::atomic<bool> corrupted{false};
  // A man in the middle flips one bit of the first model chunk the device receives.
  proxy->after_download = [&](v1::ModelChunk* chunk) {
    if (!corrupted.exchange(true) && !chunk->data().empty()) {
      (*chunk->mutable_data())[chunk->data().size() / 2] ^= 0x01;
    }
  };
  fleet.devices[0]->stub = proxy;
  for (auto& d : fleet.devices) d->Connect("corrupt");
  REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
  auto results = fleet.RunAll();
  for (const auto& r : results) RequireContributed(r, 1);
  CHECK(corrupted.load());
  CHECK(proxy->Count("DownloadModel/0") == 2);
  CHECK(fleet.devices[0]->SawError(absl::StatusCode::kDataLoss));
}

TEST_CASE("Create_RejectsPlaintextToARemoteHostAndASharedStorageDir") {
  cohort::testing::TempDir dir;
  auto trainer = MakeTrainer(1);
  Config config;
  config.server_address = "fl.example.com:443";
  config.population = "pop";
  config.device_id_provider = [] { return std::string("device-0123456789abcdef"); };
  config.storage_dir = dir.File("sdk");
  CHECK(Client::Create(config, trainer.get()).status().code() ==
        absl::StatusCode::kInvalidArgument);
  config.server_address = "127.0.0.1:9";
  auto first = Client::Create(config, trainer.get());
  REQUIRE(first.ok());
  CHECK(Client::Create(config, trainer.get()).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  config.storage_dir.clear();
  CHECK(Client::Create(config, trainer.get()).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Cancel_UnblocksAParticipationWaitingOnAnUnreachableServer") {
  cohort::testing::TempDir dir;
  auto trainer = MakeTrainer(1);
  Config config;
  config.server_address = "127.0.0.1:1";  // nothing listens
  config.population = "pop";
  config.device_id_provider = [] { return std::string("device-0123456789abcdef"); };
  config.storage_dir = dir.File("sdk");
  config.initial_backoff = absl::Seconds(30);  // would sleep long without Cancel
  config.max_backoff = absl::Seconds(30);
  std::atomic<bool> backing_off{false};
  config.on_progress = [&](const Progress& p) {
    if (p.stage == Stage::kBackingOff) backing_off = true;
  };
  auto client = Client::Create(config, trainer.get());
  REQUIRE(client.ok());
  std::thread canceller([&] {
    while (!backing_off.load()) absl::SleepFor(absl::Milliseconds(5));
    (*client)->Cancel();
  });
  auto outcome = (*client)->RunOnce();
  canceller.join();
  CHECK(outcome.status().code() == absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace cohort::client
