#include "testing/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

extern char** environ;

namespace cohort::testing {

absl::StatusOr<Subprocess> Subprocess::Start(const std::vector<std::string>& argv,
                                             const std::vector<std::string>& env) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  char output_template[] = "/tmp/cohort-subprocess-XXXXXX";
  const int output_fd = mkstemp(output_template);
  if (output_fd < 0) return absl::InternalError("mkstemp failed");

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, output_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output_fd, STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, output_fd);
  // Children start with default signal dispositions and an empty mask, whatever the test has.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attributes, &empty);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int error =
      posix_spawn(&pid, argv[0].c_str(), &actions, &attributes, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(output_fd);
  if (error != 0) {
    return absl::InternalError(absl::StrCat("cannot start '", argv[0], "': ", strerror(error)));
  }
  return Subprocess(pid, output_template);
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(other.pid_), output_path_(std::move(other.output_path_)) {
  other.pid_ = -1;
  other.output_path_.clear();
}

Subprocess::~Subprocess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (!output_path_.empty()) std::remove(output_path_.c_str());
}

absl::Status Subprocess::Signal(int signal_number) {
  if (pid_ <= 0) return absl::FailedPreconditionError("process already reaped");
  if (kill(pid_, signal_number) != 0) return absl::InternalError("kill failed");
  return absl::OkStatus();
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("process already reaped");
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("process still running after ",
                                                      absl::FormatDuration(timeout)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string Subprocess::Output() const {
  std::ifstream in(output_path_);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<std::pair<int, std::string>> RunToCompletion(const std::vector<std::string>& argv,
                                                            absl::Duration timeout) {
  auto process = Subprocess::Start(argv);
  if (!process.ok()) return process.status();
  auto code = process->Wait(timeout);
  if (!code.ok()) return code.status();
  return std::pair{*code, process->Output()};
}

absl::StatusOr<std::string> WaitForFile(const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::ifstream in(path);
    std::ostringstream contents;
    contents << in.rdbuf();
    if (in && !contents.str().empty()) return contents.str();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("no file '", path, "' after ",
                                                  absl::FormatDuration(timeout)));
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/cohort-test-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

int PortFromPortFile(const std::string& port_file, const std::string& key) {
  for (absl::string_view line : absl::StrSplit(port_file, '\n')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    int port = 0;
    if (kv.first == key && absl::SimpleAtoi(kv.second, &port)) return port;
  }
  return 0;
}

absl::Status MakeSelfSignedCertificate(const TempDir& dir, const std::string& name) {
  absl::StatusOr<std::pair<int, std::string>> made = RunToCompletion(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
       "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", dir.File(name + ".key"), "-out",
       dir.File(name + ".crt")},
      absl::Seconds(30));
  if (!made.ok()) return made.status();
  if (made->first != 0) {
    return absl::InternalError(absl::StrCat("openssl req exited ", made->first, ": ", made->second));
  }
  return absl::OkStatus();
}

}  // namespace cohort::testing
