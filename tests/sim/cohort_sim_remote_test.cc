// cohort-sim against a cohort-server it did not start: over TLS, and joining a task another run
// created while the server (PostgreSQL store) is SIGKILLed and restarted under it.

#include <signal.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "testing/postgres_cluster.h"
#include "testing/subprocess.h"
#include "tests/sim/synthetic_idx.h"

namespace {

using cohort::testing::PostgresCluster;
using cohort::testing::PortFromPortFile;
using cohort::testing::RunToCompletion;
using cohort::testing::Subprocess;
using cohort::testing::TempDir;

constexpr char kToken[] = "sim-remote-test-admin-token-0123";

struct ServerSetup {
  std::string store;  // a postgresql:// URI, or empty for the in-memory store
  bool tls = false;   // with dir/server.crt and dir/server.key
  int device_port = 0;  // 0 picks a free port, which dir/ports reports
  int admin_port = 0;
};

Subprocess StartServer(const TempDir& dir, const ServerSetup& setup) {
  std::filesystem::remove(dir.File("ports"));
  std::vector<std::string> args = {
      COHORT_SERVER_BINARY, "serve", absl::StrCat("--device_listen=127.0.0.1:", setup.device_port),
      absl::StrCat("--admin_listen=127.0.0.1:", setup.admin_port),
      "--admin_token_file=" + dir.File("token"), "--port_file=" + dir.File("ports"),
      "--log_level=warn"};
  if (setup.tls) {
    args.push_back("--tls_cert=" + dir.File("server.crt"));
    args.push_back("--tls_key=" + dir.File("server.key"));
  }
  std::vector<std::string> env;
  if (!setup.store.empty()) {
    args.push_back("--migrate_on_start=1");
    env = {"COHORT_STORE=" + setup.store,
           "COHORT_PSEUDONYM_SALT=sim-remote-test-salt-0123456789abcdef"};
  }
  auto server = Subprocess::Start(args, env);
  REQUIRE(server.ok());
  if (!cohort::testing::WaitForFile(dir.File("ports"), absl::Seconds(30)).ok()) {
    FAIL("cohort-server wrote no port file within 30 s:\n" << server->Output());
  }
  return *std::move(server);
}

// Polls the child's output for `text`; false after `timeout`.
bool WaitForOutput(const Subprocess& process, const std::string& text, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (absl::StrContains(process.Output(), text)) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

// The simulator's flags for a run against the server on these ports.
std::vector<std::string> SimArgs(const TempDir& dir, const std::string& out, int device_port,
                                 int admin_port, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {
      COHORT_SIM_BINARY, "--data_dir=" + dir.path(), "--output_dir=" + dir.File(out),
      "--devices=8", "--cohort_size=4", "--model=softmax", "--local_epochs=1", "--seed=3",
      "--key_phase_timeout=60", "--masked_input_timeout=90", "--time_limit=200",
      absl::StrCat("--server=127.0.0.1:", device_port),
      absl::StrCat("--admin_server=127.0.0.1:", admin_port),
      "--admin_token_file=" + dir.File("token")};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

struct RunningServer {
  Subprocess process;
  int device_port = 0;
  int admin_port = 0;
};

RunningServer StartOnFreePorts(const TempDir& dir, ServerSetup setup) {
  Subprocess process = StartServer(dir, setup);
  const std::string ports = *cohort::testing::WaitForFile(dir.File("ports"), absl::Seconds(1));
  RunningServer server{std::move(process), PortFromPortFile(ports, "device_port"),
                       PortFromPortFile(ports, "admin_port")};
  REQUIRE(server.device_port > 0);
  REQUIRE(server.admin_port > 0);
  return server;
}

TEST_CASE("CohortSim_OverTlsToARunningServer_CreatesItsTaskAndCommitsItsRounds") {
  TempDir dir;
  cohort::sim_test::WriteSplit(dir.path(), "train", 400, 1);
  cohort::sim_test::WriteSplit(dir.path(), "t10k", 200, 2);
  std::ofstream(dir.File("token")) << kToken << "\n";
  REQUIRE(cohort::testing::MakeSelfSignedCertificate(dir, "server").ok());
  RunningServer server = StartOnFreePorts(dir, {.tls = true});

  const auto run = RunToCompletion(
      SimArgs(dir, "out", server.device_port, server.admin_port,
              {"--rounds=2", "--tls_ca=" + dir.File("server.crt")}),
      absl::Seconds(120));
  REQUIRE(run.ok());
  INFO(run->second);
  CHECK(run->first == 0);
  CHECK(absl::StrContains(run->second, "round 2/2"));
  CHECK(absl::StrContains(run->second, "2 rounds committed, 0 failed"));

  // The same server refuses the run without TLS: it speaks only TLS.
  const auto plaintext = RunToCompletion(
      SimArgs(dir, "plain", server.device_port, server.admin_port, {"--rounds=1"}),
      absl::Seconds(60));
  REQUIRE(plaintext.ok());
  CHECK(plaintext->first != 0);
}

TEST_CASE("CohortSim_JoinsAnExistingTask_AndWaitsOutAServerKilledAndRestarted") {
  auto cluster = PostgresCluster::Start();
  REQUIRE(cluster.ok());
  auto store = (*cluster)->CreateDatabase("sim_remote");
  REQUIRE(store.ok());
  TempDir dir;
  cohort::sim_test::WriteSplit(dir.path(), "train", 400, 1);
  cohort::sim_test::WriteSplit(dir.path(), "t10k", 200, 2);
  std::ofstream(dir.File("token")) << kToken << "\n";
  // Over TLS, where gRPC's fail-fast calls once left the devices' channels unable to finish a
  // handshake with the restarted server for minutes.
  REQUIRE(cohort::testing::MakeSelfSignedCertificate(dir, "server").ok());
  RunningServer server = StartOnFreePorts(dir, {.store = *store, .tls = true});
  const auto sim_args = [&](const std::string& out, std::vector<std::string> extra) {
    extra.push_back("--tls_ca=" + dir.File("server.crt"));
    return SimArgs(dir, out, server.device_port, server.admin_port, extra);
  };

  // A first run creates the task and runs one round of it.
  const auto created = RunToCompletion(sim_args("first", {"--rounds=1"}), absl::Seconds(120));
  REQUIRE(created.ok());
  INFO(created->second);
  REQUIRE(created->first == 0);
  // "cohort-sim: task <id>, 8 devices, ..." (no <regex>: GCC 12 warns inside it under ASan).
  const std::string kTaskPrefix = "cohort-sim: task ";
  const size_t at = created->second.find(kTaskPrefix);
  REQUIRE(at != std::string::npos);
  const size_t begin = at + kTaskPrefix.size();
  const std::string task_id = created->second.substr(begin, created->second.find(',', begin) - begin);
  REQUIRE(!task_id.empty());

  // A second run joins it for three more rounds; the server dies under it after the first.
  auto joined = Subprocess::Start(sim_args("second", {"--task=" + task_id, "--rounds=3"}));
  REQUIRE(joined.ok());
  INFO(joined->Output());
  REQUIRE(WaitForOutput(*joined, "observing rounds 2-4", absl::Seconds(60)));
  REQUIRE(WaitForOutput(*joined, "round 2/4", absl::Seconds(120)));
  REQUIRE(server.process.Signal(SIGKILL).ok());
  REQUIRE(server.process.Wait(absl::Seconds(10)).ok());
  REQUIRE(WaitForOutput(*joined, "server unreachable", absl::Seconds(30)));
  Subprocess restarted = StartServer(
      dir, {.store = *store, .tls = true, .device_port = server.device_port,
            .admin_port = server.admin_port});

  const auto exit_code = joined->Wait(absl::Seconds(200));
  REQUIRE(exit_code.ok());
  const std::string output = joined->Output();
  INFO(output);
  INFO(restarted.Output());
  CHECK(*exit_code == 0);
  CHECK(absl::StrContains(output, "server back"));
  CHECK(absl::StrContains(output, "round 3/4"));
  CHECK(absl::StrContains(output, "round 4/4"));
  CHECK_FALSE(absl::StrContains(output, "round 1/"));  // the first run's round is not this run's

  // The rounds the second run saw, and the task's counters, agree with the database: the
  // round the restart failed is counted, and every committed round made one model version.
  std::ifstream csv(dir.File("second") + "/metrics.csv");
  std::string line;
  std::getline(csv, line);
  int rows = 0, committed = 0;
  while (std::getline(csv, line)) {
    ++rows;
    const std::vector<std::string> fields = absl::StrSplit(line, ',');
    if (fields.size() > 1 && fields[1] == "1") ++committed;
  }
  CHECK(rows == 3);
  const auto versions = (*cluster)->QueryValue(
      "sim_remote", absl::StrCat("SELECT count(*) FROM model_versions WHERE task_id = '", task_id,
                                 "'"));
  REQUIRE(versions.ok());
  // The initial model, the first run's round, and this run's committed ones, with no gap.
  CHECK(*versions == absl::StrCat(2 + committed));
  const auto consecutive = (*cluster)->QueryValue(
      "sim_remote", absl::StrCat("SELECT max(version) = count(*) - 1 FROM model_versions "
                                 "WHERE task_id = '", task_id, "'"));
  REQUIRE(consecutive.ok());
  CHECK(*consecutive == "t");
}

}  // namespace
