// client_sdk_bench: the SDK's footprint on a device.
//
//  1. Peak memory of one participation at d = 100,000 and d = 1,000,000 parameters, with and
//     without secure aggregation. The server runs in its own process (client_sdk_test_server);
//     every device is a child process of its own running one Client::RunOnce, so ru_maxrss is
//     the device's alone. Reported: resident memory before the participation (SDK, gRPC and the
//     trainer's data loaded), the peak during it, and the growth in units of one model copy
//     (4 d bytes).
//  2. The stripped size of libcohort_client.so (what an app ships), and of the shared libraries
//     it needs that a phone does not have (gRPC, protobuf, Abseil, OpenSSL on Debian).
//
//   client_sdk_bench [--server=PATH/client_sdk_test_server] [--library=PATH/libcohort_client.so]
//                    [--quick]   (d = 100,000 only)

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cohort/client/client.h"

extern char** environ;

namespace {

using cohort::client::Client;
using cohort::client::Config;
using cohort::client::ModelLayout;
using cohort::client::OutcomeKind;
using cohort::client::Trainer;
using cohort::client::TrainingParams;
using cohort::client::TrainingResult;

// A trainer with the footprint every trainer has (it returns one model-size vector) and no
// other: the numbers are the SDK's.
class NudgeTrainer : public Trainer {
 public:
  absl::StatusOr<TrainingResult> Train(const ModelLayout&, absl::Span<const float> parameters,
                                       const TrainingParams&) override {
    TrainingResult result;
    result.parameters.assign(parameters.begin(), parameters.end());
    for (size_t i = 0; i < result.parameters.size(); ++i) {
      result.parameters[i] += (i % 2 == 0 ? 1e-3f : -1e-3f);
    }
    result.num_examples = 50;
    return result;
  }
  absl::StatusOr<cohort::client::EvaluationResult> Evaluate(const ModelLayout&,
                                                            absl::Span<const float>) override {
    return absl::UnimplementedError("not needed");
  }
};

long StatusKb(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  }
  return -1;
}
long CurrentRssKb() { return StatusKb("VmRSS:"); }
long PeakRssKb() { return StatusKb("VmHWM:"); }

std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return argv[i] + prefix.size();
  }
  return fallback;
}

bool HasFlag(int argc, char** argv, const std::string& name) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == "--" + name) return true;
  }
  return false;
}

// Device mode: one participation; writes "baseline_kb peak_kb outcome" to --out.
int RunDevice(int argc, char** argv) {
  NudgeTrainer trainer;
  Config config;
  config.server_address = Flag(argc, argv, "address", "");
  config.population = Flag(argc, argv, "population", "");
  const std::string id = Flag(argc, argv, "id", "");
  config.device_id_provider = [id] { return id; };
  config.storage_dir = Flag(argc, argv, "storage", "");
  if (const long chunk = std::atol(Flag(argc, argv, "chunk", "0").c_str()); chunk > 0) {
    config.download_chunk_bytes = chunk;
  }
  config.initial_backoff = absl::Milliseconds(100);
  config.max_backoff = absl::Seconds(1);
  // The high-water mark as each stage starts: the peak of the stages before it.
  long peak_before_training = 0, peak_before_upload = 0;
  config.on_progress = [&](const cohort::client::Progress& p) {
    if (p.stage == cohort::client::Stage::kTraining) peak_before_training = PeakRssKb();
    if (p.stage == cohort::client::Stage::kUploading && peak_before_upload == 0) {
      peak_before_upload = PeakRssKb();
    }
  };
  auto client = Client::Create(config, &trainer);
  if (!client.ok()) {
    std::fprintf(stderr, "device: %s\n", client.status().ToString().c_str());
    return 1;
  }
  (*client)->SetEligibility(
      {.charging = true, .unmetered_network = true, .idle = true, .battery_percent = 100});
  const long baseline = CurrentRssKb();
  const absl::Time start = absl::Now();
  auto outcome = (*client)->RunOnce();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  std::ofstream out(Flag(argc, argv, "out", "/dev/null"));
  out << baseline << " " << usage.ru_maxrss << " "
      << (outcome.ok() && outcome->kind == OutcomeKind::kContributed ? "contributed"
                                                                      : "failed")
      << " " << seconds << " " << peak_before_training << " " << peak_before_upload << "\n";
  if (!outcome.ok()) std::fprintf(stderr, "device: %s\n", outcome.status().ToString().c_str());
  return outcome.ok() ? 0 : 1;
}

pid_t Spawn(const std::vector<std::string>& args, int stdout_fd = -1) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

std::string ExeDir() {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return ".";
  path[n] = '\0';
  std::string s(path);
  return s.substr(0, s.rfind('/'));
}

struct Measurement {
  long baseline_kb = 0;
  long peak_kb = 0;
  double seconds = 0;
  bool ok = false;
  long peak_download_kb = 0;  // through the model download
  long peak_encode_kb = 0;    // through training and encoding
};

// One round of `devices` device processes at `inputs` x `classes` (+ classes) parameters.
std::vector<Measurement> MeasureRound(const std::string& server, const std::string& self,
                                      int devices, bool secagg, int inputs, int classes,
                                      const std::string& tmp) {
  const std::string population = absl::StrCat("bench-", inputs, "-", classes, "-", secagg);
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t server_pid = Spawn({server, "--population=" + population,
                            absl::StrCat("--devices=", devices),
                            absl::StrCat("--secagg=", secagg ? 1 : 0),
                            absl::StrCat("--inputs=", inputs), absl::StrCat("--classes=", classes),
                            "--timeout_s=300"},
                           fds[1]);
  close(fds[1]);
  FILE* server_out = fdopen(fds[0], "r");
  char line[256] = "";
  bool started = false;
  while (server_pid >= 0 && fgets(line, sizeof(line), server_out) != nullptr) {
    if (std::strncmp(line, "address=", 8) == 0) {
      started = true;
      break;
    }
  }
  if (!started) {
    std::fprintf(stderr, "server did not start\n");
    return {};
  }
  line[std::strcspn(line, "\n")] = '\0';
  const std::string address = line + 8;
  std::vector<pid_t> pids;
  for (int i = 0; i < devices; ++i) {
    pids.push_back(Spawn({self, "--device", "--address=" + address, "--population=" + population,
                          absl::StrFormat("--id=bench-device-%04d-0123456789abcdef", i),
                          absl::StrCat("--storage=", tmp, "/", population, "/d", i),
                          absl::StrCat("--out=", tmp, "/", population, "-", i, ".txt")}));
  }
  std::vector<Measurement> result;
  for (int i = 0; i < devices; ++i) {
    int status = 0;
    waitpid(pids[i], &status, 0);
    Measurement m;
    std::ifstream in(absl::StrCat(tmp, "/", population, "-", i, ".txt"));
    std::string outcome;
    in >> m.baseline_kb >> m.peak_kb >> outcome >> m.seconds >> m.peak_download_kb >>
        m.peak_encode_kb;
    m.ok = outcome == "contributed";
    result.push_back(m);
  }
  while (fgets(line, sizeof(line), server_out) != nullptr) {
  }
  fclose(server_out);
  int status = 0;
  waitpid(server_pid, &status, 0);
  return result;
}

long FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<long>(st.st_size) : -1;
}

long StrippedSize(const std::string& path, const std::string& tmp) {
  const std::string copy = tmp + "/stripped.so";
  const std::string command = absl::StrCat("cp '", path, "' '", copy, "' && strip --strip-all '",
                                           copy, "'");
  if (std::system(command.c_str()) != 0) return -1;
  return FileSize(copy);
}

}  // namespace

int main(int argc, char** argv) {
  if (HasFlag(argc, argv, "device")) return RunDevice(argc, argv);
  const std::string dir = ExeDir();
  const std::string server =
      Flag(argc, argv, "server", dir + "/../tests/client_sdk/client_sdk_test_server");
  const std::string library =
      Flag(argc, argv, "library", dir + "/../client_sdk/src/libcohort_client.so");
  char tmp_template[] = "/tmp/cohort_sdk_bench_XXXXXX";
  const std::string tmp = mkdtemp(tmp_template);
  const std::string self = dir + "/client_sdk_bench";

  std::printf("## Peak memory of one participation (each device its own process)\n\n");
  std::printf("| d | secagg | devices | model copy (MiB) | RSS before (MiB) | peak RSS (MiB) | "
              "growth (MiB) | growth / model copy | growth through download / through "
              "train+encode / whole (MiB) | time (s) |\n");
  std::printf("|---:|:---:|---:|---:|---:|---:|---:|---:|---|---:|\n");
  struct Shape {
    int inputs, classes;
  };
  std::vector<Shape> shapes = {{999, 100}, {9999, 100}};  // d = 100,000 and 1,000,000
  if (HasFlag(argc, argv, "quick")) shapes.resize(1);
  for (const Shape& shape : shapes) {
    const long d = static_cast<long>(shape.inputs) * shape.classes + shape.classes;
    for (bool secagg : {false, true}) {
      const int devices = secagg ? 3 : 2;
      std::vector<Measurement> ms =
          MeasureRound(server, self, devices, secagg, shape.inputs, shape.classes, tmp);
      Measurement worst;
      bool ok = !ms.empty();
      double seconds = 0;
      for (const Measurement& m : ms) {
        ok = ok && m.ok;
        if (m.peak_kb - m.baseline_kb > worst.peak_kb - worst.baseline_kb) worst = m;
        seconds = std::max(seconds, m.seconds);
      }
      const double model_mib = 4.0 * d / (1 << 20);
      const double growth = (worst.peak_kb - worst.baseline_kb) / 1024.0;
      std::printf(
          "| %ld | %s | %d | %.2f | %.1f | %.1f | %.1f | %.2f | %.1f / %.1f / %.1f | %.2f |%s\n", d,
          secagg ? "on" : "off", devices, model_mib, worst.baseline_kb / 1024.0,
          worst.peak_kb / 1024.0, growth, growth / model_mib,
          (worst.peak_download_kb - worst.baseline_kb) / 1024.0,
          (worst.peak_encode_kb - worst.baseline_kb) / 1024.0, growth, seconds,
          ok ? "" : " (participation failed)");
      std::fflush(stdout);
    }
  }

  std::printf("\n## Library size\n\n");
  std::printf("| file | size (KiB) | stripped (KiB) |\n|---|---:|---:|\n");
  std::printf("| libcohort_client.so | %ld | %ld |\n", FileSize(library) / 1024,
              StrippedSize(library, tmp) / 1024);
  // The shared libraries it pulls in besides the C/C++ runtime.
  const std::string ldd = absl::StrCat("ldd '", library, "' > '", tmp, "/ldd.txt'");
  long deps_total = 0;
  int deps = 0;
  if (std::system(ldd.c_str()) == 0) {
    std::ifstream in(tmp + "/ldd.txt");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string name, arrow, path;
      words >> name >> arrow >> path;
      if (arrow != "=>" || path.empty() || path[0] != '/') continue;
      static const char* kRuntime[] = {"libc.so", "libm.so", "libstdc++", "libgcc_s", "libpthread",
                                       "libdl.so", "librt.so", "ld-linux", "libasan", "libubsan"};
      bool runtime = false;
      for (const char* r : kRuntime) runtime = runtime || name.find(r) != std::string::npos;
      if (runtime) continue;
      deps_total += StrippedSize(path, tmp);
      ++deps;
    }
  }
  std::printf("| its %d non-runtime shared deps (gRPC, protobuf, Abseil, OpenSSL, ...) | | %ld |\n",
              deps, deps_total / 1024);
  std::system(absl::StrCat("rm -rf '", tmp, "'").c_str());
  return 0;
}
