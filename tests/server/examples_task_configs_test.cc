// Every sample task config under examples/tasks/ parses and is accepted by CreateTask over real
// gRPC, so what the docs walk through works when copied.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "google/protobuf/text_format.h"
#include "tests/server/loopback_server.h"

namespace cohort::server::test_util {
namespace {

TEST_CASE("ExampleTaskConfigs_ParseAndCreateATaskEach") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  int examples = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(COHORT_SOURCE_DIR) + "/examples/tasks")) {
    if (entry.path().extension() != ".textproto") continue;
    ++examples;
    INFO(entry.path().filename().string());
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    cohort::v1::TaskConfig config;
    REQUIRE(google::protobuf::TextFormat::ParseFromString(text.str(), &config));
    const absl::StatusOr<cohort::v1::Task> task = (*server)->CreateTask(config);
    CHECK(task.status().ToString() == "OK");
    if (task.ok()) CHECK(task->state() == cohort::v1::TASK_STATE_IDLE);
  }
  CHECK(examples >= 3);
}

}  // namespace
}  // namespace cohort::server::test_util
