// The SDK's channel against a real cohort-server over TLS that is killed and restarted on the
// same port: the device reaches the new process within seconds. With gRPC's fail-fast calls it
// did not: a call failed at once while the channel reconnected, nothing polled the attempt, and
// its TCP connect and TLS handshake missed gRPC's connect deadline again and again (a Python
// client of the same gRPC core, 20 channels: none back within 150 s; with wait-for-ready: all
// within 5 s).
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cohort/client/client.h"
#include "testing/subprocess.h"
#include "tests/client_sdk/test_trainer.h"

namespace cohort::client {
namespace {

using cohort::testing::PortFromPortFile;
using cohort::testing::Subprocess;
using cohort::testing::TempDir;

Subprocess StartServer(const TempDir& dir, int device_port, int admin_port) {
  std::remove(dir.File("ports").c_str());
  auto server = Subprocess::Start(
      {COHORT_SERVER_BINARY, "serve", absl::StrCat("--device_listen=127.0.0.1:", device_port),
       absl::StrCat("--admin_listen=127.0.0.1:", admin_port),
       "--admin_token_file=" + dir.File("token"), "--port_file=" + dir.File("ports"),
       "--tls_cert=" + dir.File("server.crt"), "--tls_key=" + dir.File("server.key"),
       "--log_level=warn"});
  REQUIRE(server.ok());
  if (!cohort::testing::WaitForFile(dir.File("ports"), absl::Seconds(30)).ok()) {
    FAIL("cohort-server wrote no port file within 30 s:\n" << server->Output());
  }
  return *std::move(server);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_CASE("TlsClient_AfterItsServerIsKilledAndRestartedOnTheSamePort_ReachesItWithinSeconds") {
  TempDir dir;
  std::ofstream(dir.File("token")) << "reconnect-test-token-0123456789abcdef\n";
  REQUIRE(cohort::testing::MakeSelfSignedCertificate(dir, "server").ok());
  Subprocess server = StartServer(dir, 0, 0);
  const std::string ports = ReadFile(dir.File("ports"));
  const int device_port = PortFromPortFile(ports, "device_port");
  const int admin_port = PortFromPortFile(ports, "admin_port");
  REQUIRE(device_port > 0);

  Config config;
  config.server_address = absl::StrCat("127.0.0.1:", device_port);
  config.tls_root_certs_pem = ReadFile(dir.File("server.crt"));
  config.population = "reconnect";
  config.storage_dir = dir.File("device");
  config.device_id_provider = [] { return std::string("reconnect-device-0123456789"); };
  config.rpc_timeout = absl::Seconds(2);
  test_util::StepTrainer trainer(0.1f, 1);
  auto client = Client::Create(config, &trainer);
  REQUIRE(client.ok());
  // One call: NOT_FOUND (no task in this population) is an answer from the server.
  const auto answer = [&] {
    return (*client)->UpdateInferenceModel(InferenceFormat::kFloat32, "no-such-task").status();
  };
  REQUIRE(answer().code() == absl::StatusCode::kNotFound);

  REQUIRE(server.Signal(SIGKILL).ok());
  REQUIRE(server.Wait(absl::Seconds(10)).ok());
  // The device keeps trying while the server is away, as a device in a round does.
  const absl::Time killed = absl::Now();
  while (absl::Now() - killed < absl::Seconds(3)) {
    const absl::Status away = answer();
    INFO(away.ToString());
    REQUIRE((away.code() == absl::StatusCode::kUnavailable ||
             away.code() == absl::StatusCode::kDeadlineExceeded));
    absl::SleepFor(absl::Milliseconds(100));
  }

  Subprocess restarted = StartServer(dir, device_port, admin_port);
  const absl::Time back = absl::Now();
  absl::Status status = answer();
  while (status.code() != absl::StatusCode::kNotFound && absl::Now() - back < absl::Seconds(60)) {
    absl::SleepFor(absl::Milliseconds(100));
    status = answer();
  }
  const absl::Duration took = absl::Now() - back;
  INFO("last answer " << status.ToString() << " after " << absl::FormatDuration(took));
  CHECK(status.code() == absl::StatusCode::kNotFound);
  // The server is up when its port file is written; a loaded machine needs a moment, not the
  // minute or more of the fail-fast channel.
  CHECK(took < absl::Seconds(10));
}

}  // namespace
}  // namespace cohort::client
