// Device-protocol errors over real gRPC: wrong or missing tokens, out-of-phase and late calls,
// malformed payloads, bad check-ins, and a device that resumes mid-round by checking in again.

#include <chrono>
#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "base/version.h"
#include "secagg/signed_messages.h"
#include "secagg/signing.h"
#include "tests/server/loopback_server.h"
#include "tests/server/test_device.h"

namespace cohort::server::test_util {
namespace {

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

cohort::v1::CheckInRequest CheckInOf(const std::string& population, int i) {
  cohort::v1::CheckInRequest request;
  request.set_population(population);
  request.set_device_id(absl::StrCat("error-test-device-", 100 + i));
  request.set_sdk_version(absl::StrCat(cohort::kProtocolMajorVersion, ".2.0"));
  request.mutable_eligibility()->set_battery_percent(80);
  // Secure-aggregation tasks need the device's signing key, proven by a signature.
  const auto key =
      cohort::secagg::SigningKey::FromSeed(absl::StrCat(std::string(29, 'k'), 100 + i));
  REQUIRE(key.ok());
  request.set_device_public_key(key->verifying_key().ToBytes());
  auto signature = key->Sign(cohort::secagg::CheckInMessage(population, request.device_id()));
  REQUIRE(signature.ok());
  request.set_device_key_signature(*signature);
  return request;
}

std::string Accept(cohort::v1::DeviceService::Stub& stub, const std::string& population, int i) {
  cohort::v1::CheckInResponse response;
  const grpc::Status s = stub.CheckIn(Ctx().get(), CheckInOf(population, i), &response);
  INFO(s.error_message());
  REQUIRE(s.ok());
  REQUIRE(response.has_accepted());
  return response.accepted().session_token();
}

cohort::v1::RoundUpdate Wait(cohort::v1::DeviceService::Stub& stub, const std::string& token,
                             cohort::v1::RoundPhase known, int seconds = 5) {
  cohort::v1::WaitForPhaseRequest request;
  request.set_session_token(token);
  request.set_known_phase(known);
  request.mutable_max_wait()->set_seconds(seconds);
  cohort::v1::RoundUpdate update;
  REQUIRE(stub.WaitForPhase(Ctx().get(), request, &update).ok());
  return update;
}

TEST_CASE("DeviceCalls_WithoutValidToken_AreUnauthenticated") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto task = (*server)->CreateTask(SmallTask("tokens", 5, 4, true));
  REQUIRE(task.ok());
  REQUIRE((*server)->StartRounds(task->task_id(), 1).ok());
  auto stub = (*server)->NewDeviceStub();
  const std::string token = Accept(*stub, "tokens", 1);

  for (const std::string& bad : {std::string(), std::string("garbage"), token + "A",
                                 token.substr(0, token.find('.')) + ".AAAA"}) {
    cohort::v1::WaitForPhaseRequest request;
    request.set_session_token(bad);
    cohort::v1::RoundUpdate update;
    const grpc::Status s = stub->WaitForPhase(Ctx().get(), request, &update);
    CHECK(s.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK_FALSE(s.error_message().empty());
  }
  cohort::v1::AdvertiseKeysRequest keys;
  keys.set_session_token("forged.token");
  cohort::v1::AdvertiseKeysResponse keys_response;
  CHECK(stub->AdvertiseKeys(Ctx().get(), keys, &keys_response).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE("DeviceCalls_OutOfPhase_AreFailedPreconditionNamingThePhase") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto task = (*server)->CreateTask(SmallTask("phases", 5, 4, true));
  REQUIRE(task.ok());
  REQUIRE((*server)->StartRounds(task->task_id(), 1).ok());
  auto stub = (*server)->NewDeviceStub();
  const std::string token = Accept(*stub, "phases", 1);  // the round still forms

  cohort::v1::ShareKeysRequest share;
  share.set_session_token(token);
  cohort::v1::ShareKeysResponse share_response;
  grpc::Status s = stub->ShareKeys(Ctx().get(), share, &share_response);
  CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(s.error_message().find("is in phase FORMING") != std::string::npos);

  cohort::v1::UploadMaskedInputRequest upload;
  upload.set_session_token(token);
  cohort::v1::UploadMaskedInputResponse upload_response;
  s = stub->UploadMaskedInput(Ctx().get(), upload, &upload_response);
  CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);

  const cohort::v1::RoundUpdate update = Wait(*stub, token, cohort::v1::ROUND_PHASE_UNSPECIFIED);
  CHECK(update.phase() == cohort::v1::ROUND_PHASE_FORMING);
  CHECK(update.participant_state() == cohort::v1::PARTICIPANT_STATE_ACTIVE);
  CHECK_FALSE(update.has_plan());
}

TEST_CASE("DeviceCalls_LateAndMalformed_AreRefusedAndTheRoundGoesOn") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto task = (*server)->CreateTask(SmallTask("late", 6, 4, true));
  REQUIRE(task.ok());
  REQUIRE((*server)->StartRounds(task->task_id(), 1).ok());
  // Five well-behaved devices and one (index 6) that we drive by hand.
  DeviceLog log;
  std::vector<std::future<absl::StatusOr<TestDevice::Result>>> others;
  for (int i = 0; i < 5; ++i) {
    TestDeviceOptions o;
    o.population = "late";
    o.device_id = absl::StrCat("late-good-device-", 100 + i);
    o.delta.assign(8, 0.1f);
    o.examples = 3;
    o.seed = static_cast<uint64_t>(i + 1);
    o.log = &log;
    others.push_back(std::async(std::launch::async, [&, o] {
      TestDevice device((*server)->NewDeviceStub(), o);
      return device.Run(absl::Seconds(120));
    }));
  }
  auto stub = (*server)->NewDeviceStub();
  std::string token;
  // Check in until accepted (the others may fill the round first only if it had fewer slots).
  token = Accept(*stub, "late", 9);
  // The round forms once the other five have checked in; on a loaded machine that can take
  // longer than one long poll, so poll until it has (the devices give up after 120 s).
  cohort::v1::RoundUpdate update = Wait(*stub, token, cohort::v1::ROUND_PHASE_FORMING);
  for (int polls = 1; update.phase() == cohort::v1::ROUND_PHASE_FORMING && polls < 24; ++polls) {
    update = Wait(*stub, token, cohort::v1::ROUND_PHASE_FORMING);
  }
  REQUIRE(update.phase() == cohort::v1::ROUND_PHASE_ADVERTISE_KEYS);

  // Malformed keys: INVALID_ARGUMENT naming the field; the device stays active.
  cohort::v1::AdvertiseKeysRequest keys;
  keys.set_session_token(token);
  keys.set_cipher_public_key("too short");
  keys.set_mask_public_key(std::string(32, '\x07'));
  cohort::v1::AdvertiseKeysResponse keys_response;
  grpc::Status s = stub->AdvertiseKeys(Ctx().get(), keys, &keys_response);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("cipher_public_key") != std::string::npos);

  // Resume: checking in again mid-round returns the same round and a working token.
  cohort::v1::CheckInResponse again;
  REQUIRE(stub->CheckIn(Ctx().get(), CheckInOf("late", 9), &again).ok());
  REQUIRE(again.has_accepted());
  const std::string token2 = again.accepted().session_token();
  const cohort::v1::RoundUpdate resumed = Wait(*stub, token2, cohort::v1::ROUND_PHASE_UNSPECIFIED);
  CHECK(resumed.plan().participant_index() == update.plan().participant_index());

  // Stay silent past the ADVERTISE_KEYS deadline: dropped; the late keys are refused. The
  // deadline passes once the five others have advertised, so only this device is late.
  REQUIRE(log.AwaitDoneWith(cohort::v1::ROUND_PHASE_ADVERTISE_KEYS, 5, absl::Seconds(60)));
  (*server)->PassPhaseDeadline();
  update = Wait(*stub, token2, cohort::v1::ROUND_PHASE_ADVERTISE_KEYS, 10);
  CHECK(update.participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED);
  CHECK(update.dropped_reason().find("ADVERTISE_KEYS deadline") != std::string::npos);
  keys.set_session_token(token2);
  keys.set_cipher_public_key(std::string(32, '\x09'));
  s = stub->AdvertiseKeys(Ctx().get(), keys, &keys_response);
  CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(s.error_message().find("dropped") != std::string::npos);

  for (auto& f : others) {
    auto r = f.get();
    REQUIRE(r.ok());
    CHECK(r->last_phase == cohort::v1::ROUND_PHASE_COMMITTED);
    CHECK(r->outcome.contributors() == 5);
  }
}

TEST_CASE("CheckIn_BadRequests_AreRefusedWithPreciseCodes") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto task = (*server)->CreateTask(SmallTask("checkin", 5, 4, true));
  REQUIRE(task.ok());
  auto stub = (*server)->NewDeviceStub();
  cohort::v1::CheckInResponse response;

  auto request = CheckInOf("nobody-here", 1);
  grpc::Status s = stub->CheckIn(Ctx().get(), request, &response);
  CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);

  request = CheckInOf("checkin", 1);
  request.set_device_id("short");
  s = stub->CheckIn(Ctx().get(), request, &response);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("device_id") != std::string::npos);

  request = CheckInOf("checkin", 1);
  // A device of the previous protocol (AES-256-CTR masks) would make the sum fail to unmask.
  request.set_sdk_version(absl::StrCat(cohort::kProtocolMajorVersion - 1, ".0.0"));
  s = stub->CheckIn(Ctx().get(), request, &response);
  CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(s.error_message().find(absl::StrCat("major version ", cohort::kProtocolMajorVersion)) !=
        std::string::npos);

  // No rounds requested yet: retry later with a window.
  s = stub->CheckIn(Ctx().get(), CheckInOf("checkin", 1), &response);
  REQUIRE(s.ok());
  REQUIRE(response.has_retry_later());
  CHECK(response.retry_later().min_delay().seconds() >= 1);
  CHECK(response.retry_later().max_delay().seconds() >
        response.retry_later().min_delay().seconds());
}

TEST_CASE("CheckIn_IneligibleOrFullRound_GetsRetryLater") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto config = SmallTask("full", 5, 4, true);
  config.mutable_eligibility()->set_require_charging(true);
  auto task = (*server)->CreateTask(config);
  REQUIRE(task.ok());
  REQUIRE((*server)->StartRounds(task->task_id(), 1).ok());
  auto stub = (*server)->NewDeviceStub();
  cohort::v1::CheckInResponse response;
  auto request = CheckInOf("full", 1);
  REQUIRE(stub->CheckIn(Ctx().get(), request, &response).ok());
  REQUIRE(response.has_retry_later());
  CHECK(response.retry_later().reason().find("charging") != std::string::npos);

  for (int i = 0; i < 5; ++i) {
    request = CheckInOf("full", i);
    request.mutable_eligibility()->set_charging(true);
    REQUIRE(stub->CheckIn(Ctx().get(), request, &response).ok());
    CHECK(response.has_accepted());
  }
  request = CheckInOf("full", 99);
  request.mutable_eligibility()->set_charging(true);
  REQUIRE(stub->CheckIn(Ctx().get(), request, &response).ok());
  CHECK(response.has_retry_later());
}

TEST_CASE("WaitForPhase_ParksUntilThePhaseChanges") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto task = (*server)->CreateTask(SmallTask("park", 5, 4, true));
  REQUIRE(task.ok());
  REQUIRE((*server)->StartRounds(task->task_id(), 1).ok());
  auto stub = (*server)->NewDeviceStub();
  const std::string token = Accept(*stub, "park", 0);
  auto waiting = std::async(
      std::launch::async, [&] { return Wait(*stub, token, cohort::v1::ROUND_PHASE_FORMING, 20); });
  // The call has reached the server and is parked there, not answered: only then does the
  // round fill. An answer before the phase changed would say FORMING, checked below.
  for (int i = 0; i < 3000 && (*server)->ParkedLongPolls() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE((*server)->ParkedLongPolls() == 1);
  CHECK(waiting.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
  for (int i = 1; i < 5; ++i) Accept(*stub, "park", i);
  const cohort::v1::RoundUpdate update = waiting.get();
  CHECK(update.phase() == cohort::v1::ROUND_PHASE_ADVERTISE_KEYS);
  CHECK(update.plan().secagg().num_participants() == 5);
  // A short max_wait without change answers with the current state.
  const cohort::v1::RoundUpdate same =
      Wait(*stub, token, cohort::v1::ROUND_PHASE_ADVERTISE_KEYS, 1);
  CHECK(same.phase() == cohort::v1::ROUND_PHASE_ADVERTISE_KEYS);
}

}  // namespace
}  // namespace cohort::server::test_util
