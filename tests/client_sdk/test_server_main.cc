// client_sdk_test_server: a real Cohort server on 127.0.0.1 with one small task and rounds
// started, for programs that must not link the server themselves (the C ABI test links only
// libcohort_client.so; the footprint bench measures the device process alone).
//
//   client_sdk_test_server --population=p --devices=3 --secagg=1 --inputs=4 --classes=3
// prints "address=127.0.0.1:PORT", waits until the round committed (or failed, or --timeout_s,
// default 240 s), prints "committed=N version=V failed=F", serves on so devices see the
// outcome, and exits 0 if every started round committed. With --done_file=PATH it serves until
// PATH exists (the parent creates it once its devices are done, however slowly they ran; at
// most --linger_s, default 120 s then); without it, --linger_s (default 2 s).

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "tests/client_sdk/test_server.h"

int main(int argc, char** argv) {
  std::string population = "c-abi";
  std::string done_file;
  int devices = 3, secagg = 1, inputs = 4, classes = 3, rounds = 1, timeout_s = 240;
  double linger_s = -1;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    auto value = [a](const char* name) -> const char* {
      size_t n = std::strlen(name);
      return std::strncmp(a, name, n) == 0 && a[n] == '=' ? a + n + 1 : nullptr;
    };
    if (const char* v = value("--population")) population = v;
    else if (const char* v = value("--devices")) devices = std::atoi(v);
    else if (const char* v = value("--secagg")) secagg = std::atoi(v);
    else if (const char* v = value("--inputs")) inputs = std::atoi(v);
    else if (const char* v = value("--classes")) classes = std::atoi(v);
    else if (const char* v = value("--rounds")) rounds = std::atoi(v);
    else if (const char* v = value("--timeout_s")) timeout_s = std::atoi(v);
    else if (const char* v = value("--linger_s")) linger_s = std::atof(v);
    else if (const char* v = value("--done_file")) done_file = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", a);
      return 2;
    }
  }
  // stdout carries the protocol with the parent ("address=", "committed="); logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("server"));
  spdlog::set_level(spdlog::level::warn);
  using cohort::client::test_util::TestServer;
  auto server = TestServer::Start();
  if (!server.ok()) {
    std::fprintf(stderr, "start: %s\n", server.status().ToString().c_str());
    return 1;
  }
  auto task = (*server)->CreateTask(
      cohort::client::test_util::SmallTask(population, devices, secagg != 0, inputs, classes));
  if (!task.ok()) {
    std::fprintf(stderr, "create task: %s\n", task.status().ToString().c_str());
    return 1;
  }
  if (auto s = (*server)->StartRounds(*task, rounds); !s.ok()) {
    std::fprintf(stderr, "start rounds: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("address=%s\n", (*server)->device_address().c_str());
  std::fflush(stdout);
  auto done = (*server)->WaitForCommitted(*task, rounds, absl::Seconds(timeout_s));
  if (!done.ok()) {
    std::fprintf(stderr, "%s\n", done.status().ToString().c_str());
    std::printf("committed=-1 version=-1 failed=-1\n");
    return 1;
  }
  std::printf("committed=%lld version=%lld failed=%lld\n",
              static_cast<long long>(done->rounds_committed()),
              static_cast<long long>(done->latest_model_version()),
              static_cast<long long>(done->rounds_failed()));
  std::fflush(stdout);
  // Devices long-polling for the outcome get it before the server goes away.
  if (linger_s < 0) linger_s = done_file.empty() ? 2 : 120;
  const absl::Time until = absl::Now() + absl::Seconds(linger_s);
  struct stat st;
  while (absl::Now() < until && (done_file.empty() || ::stat(done_file.c_str(), &st) != 0)) {
    absl::SleepFor(absl::Milliseconds(done_file.empty() ? 100 : 20));
  }
  return done->rounds_committed() == rounds ? 0 : 1;
}
