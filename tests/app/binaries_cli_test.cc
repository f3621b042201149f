// What every binary's command line does alike (cli/conventions.h), run as an operator runs it,
// and the refusals that keep an admin token off the network in plaintext. Nothing here connects
// anywhere: every refusal happens before a channel is made.

#include <fstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "testing/subprocess.h"

namespace {

using cohort::testing::RunToCompletion;
using cohort::testing::TempDir;

std::pair<int, std::string> Run(const std::vector<std::string>& argv) {
  auto result = RunToCompletion(argv, absl::Seconds(60));
  REQUIRE(result.ok());
  return *result;
}

TEST_CASE("EveryBinary_PrintsItsVersionAndNamesAnUnknownSubcommand") {
  for (const auto& [binary, name] : {std::pair{COHORT_SERVER_BINARY, "cohort-server"},
                                     std::pair{COHORTCTL_BINARY, "cohortctl"},
                                     std::pair{COHORT_SIM_BINARY, "cohort-sim"}}) {
    INFO(name);
    auto [code, output] = Run({binary, "--version"});
    CHECK(code == 0);
    CHECK(output.rfind(std::string(name) + " 0.", 0) == 0);
  }
  for (const auto& [binary, name] : {std::pair{COHORT_SERVER_BINARY, "cohort-server"},
                                     std::pair{COHORTCTL_BINARY, "cohortctl"}}) {
    INFO(name);
    auto [code, output] = Run({binary, "frobnicate"});
    CHECK(code == 2);
    CHECK(output.find("unknown subcommand 'frobnicate'") != std::string::npos);
  }
}

TEST_CASE("Cohortctl_RefusesPlaintextOffLoopbackAndAnUnknownOutputFormat") {
  TempDir dir;
  std::ofstream(dir.File("token")) << "test-admin-token-0123456789\n";
  const std::string token = "--token_file=" + dir.File("token");
  auto [code, output] = Run({COHORTCTL_BINARY, "--server=10.1.2.3:8444", token, "list-tasks"});
  CHECK(code == 2);
  CHECK(output.find("not a loopback address") != std::string::npos);
  CHECK(output.find("--tls") != std::string::npos);
  std::tie(code, output) = Run({COHORTCTL_BINARY, "-o", "xml", token, "list-tasks"});
  CHECK(code == 2);
  CHECK(output.find("-o 'xml': expected table, json, yaml or text") != std::string::npos);
}

TEST_CASE("CohortSim_RefusesPlaintextOffLoopbackBeforeConnecting") {
  auto [code, output] = Run({COHORT_SIM_BINARY, "--server=10.1.2.3:8443",
                             "--admin_server=10.1.2.3:8444", "--admin_token=t", "--rounds=1"});
  CHECK(code == 2);
  CHECK(output.find("not a loopback address") != std::string::npos);
  CHECK(output.find("--tls_ca") != std::string::npos);
}

}  // namespace
