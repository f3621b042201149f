#include "tests/client_sdk/secagg_fleet.h"

#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client_sdk/src/client_impl.h"
#include "secagg/random_source.h"
#include "secagg/signing.h"

namespace cohort::client::test_util {
namespace {

constexpr int kInputs = 4;
constexpr int kClasses = 3;

std::unique_ptr<EigenTrainer> MakeTrainer(int seed) {
  std::vector<float> features;
  std::vector<int32_t> labels;
  for (int i = 0; i < 24; ++i) {
    for (int f = 0; f < kInputs; ++f) {
      features.push_back(static_cast<float>((i * 7 + f * 3 + seed) % 11) / 10.0f);
    }
    labels.push_back((i + seed) % kClasses);
  }
  auto trainer = EigenTrainer::Create(std::move(features), std::move(labels), kInputs, seed);
  REQUIRE(trainer.ok());
  return *std::move(trainer);
}

void SetDuration(google::protobuf::Duration* d, absl::Duration value) {
  d->set_seconds(absl::ToInt64Seconds(value));
  d->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(value) % 1'000'000'000));
}

}  // namespace

absl::Status SdkDevice::Connect() {
  auto stub = std::make_shared<InterceptingStub>(
      server->NewDeviceStub(),
      [this](const std::string& m, const google::protobuf::Message& r,
             google::protobuf::Message* out) -> std::optional<grpc::Status> {
        return before ? before(m, r, out) : std::nullopt;
      },
      [this](const std::string& m, const google::protobuf::Message& r,
             google::protobuf::Message* out, grpc::Status* s) {
        if (after) after(m, r, out, s);
      });
  auto c = internal::CreateClientWithStub(config, trainer.get(), std::move(stub));
  if (!c.ok()) return c.status();
  client = *std::move(c);
  client->SetEligibility(
      {.charging = true, .unmetered_network = true, .idle = true, .battery_percent = 90});
  return absl::OkStatus();
}

SecAggFleet::SecAggFleet(const FleetOptions& options) {
  const bool semi = options.threat_model == v1::THREAT_MODEL_SEMI_MALICIOUS;
  if (semi) {
    absl::StatusOr<secagg::TestCa> made = secagg::TestCa::Create(*secagg::OsRandom(), absl::Now());
    REQUIRE(made.ok());
    ca.emplace(*std::move(made));
  }
  auto s = TestServer::Start(semi ? ca->pem() : "");
  REQUIRE(s.ok());
  server = *std::move(s);
  // The attack scenarios wait for phases to close on a device that never answers.
  server->FollowRealTime();
  v1::TaskConfig config =
      SmallTask(options.population, options.devices, /*secagg=*/true, kInputs, kClasses);
  config.mutable_secagg()->set_threat_model(options.threat_model);
  config.mutable_secagg()->set_expected_dropout_rate(options.dropout_rate);
  config.mutable_secagg()->set_corrupted_fraction(options.corrupted_fraction);
  v1::PhaseDeadlines* d = config.mutable_deadlines();
  for (google::protobuf::Duration* phase :
       {d->mutable_advertise_keys(), d->mutable_share_keys(), d->mutable_masked_input(),
        d->mutable_consistency_check(), d->mutable_unmasking()}) {
    SetDuration(phase, options.phase_deadline);
  }
  absl::StatusOr<std::string> task = server->CreateTask(config);
  INFO(task.status().ToString());
  REQUIRE(task.ok());
  task_id = *task;
  for (int i = 0; i < options.devices; ++i) {
    auto device = std::make_unique<SdkDevice>();
    device->number = i;
    device->id = absl::StrCat(options.population, "-device-", i, "-0123456789abcdef");
    device->storage_dir = dir.File(absl::StrCat("device", i));
    device->trainer = MakeTrainer(i + 1);
    device->server = server.get();
    Config& c = device->config;
    c.server_address = "127.0.0.1:1";  // unused: the stub is handed in
    c.population = options.population;
    c.device_id_provider = [id = device->id] { return id; };
    c.storage_dir = device->storage_dir;
    c.initial_backoff = absl::Milliseconds(50);
    c.max_backoff = absl::Milliseconds(400);
    c.long_poll = absl::Seconds(5);
    c.rpc_timeout = absl::Seconds(5);
    // Each device its own storage key, as each phone its own keystore entry.
    c.storage_key_provider = [i] { return std::string(32, static_cast<char>('a' + i)); };
    if (semi) {
      c.device_ca_pem = ca->pem();
      c.secagg_policy.require_semi_malicious = true;
      c.device_credential_provider = [this](const std::string& public_key) -> std::string {
        absl::StatusOr<secagg::VerifyingKey> key = secagg::VerifyingKey::FromBytes(public_key);
        if (!key.ok()) return "";
        absl::StatusOr<std::string> der = ca->Issue(*key, absl::Now());
        return der.ok() ? *der : "";
      };
    }
    devices.push_back(std::move(device));
  }
}

std::vector<absl::StatusOr<ParticipationOutcome>> SecAggFleet::RunAll(
    std::function<absl::StatusOr<ParticipationOutcome>(SdkDevice&)> run) {
  if (!run) {
    run = [](SdkDevice& d) -> absl::StatusOr<ParticipationOutcome> {
      if (absl::Status s = d.Connect(); !s.ok()) return s;
      return d.client->RunOnce();
    };
  }
  std::vector<absl::StatusOr<ParticipationOutcome>> results(devices.size(),
                                                            absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < devices.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = run(*devices[i]); });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

}  // namespace cohort::client::test_util
