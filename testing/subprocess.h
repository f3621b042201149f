#ifndef COHORT_TESTING_SUBPROCESS_H_
#define COHORT_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cohort::testing {

// A child process for integration tests: started with argv, its stdout and stderr captured in a
// file, killed (SIGKILL) by the destructor if still running. This class is not thread-safe.
class Subprocess {
 public:
  // argv[0] is the executable path. `env` entries ("NAME=value") are added to the environment.
  static absl::StatusOr<Subprocess> Start(const std::vector<std::string>& argv,
                                          const std::vector<std::string>& env = {});
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  absl::Status Signal(int signal_number);
  // The exit code, or 128 + signal for a signalled child. DEADLINE_EXCEEDED if it is still
  // running after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // What the child wrote to stdout and stderr so far.
  std::string Output() const;

 private:
  Subprocess(pid_t pid, std::string output_path) : pid_(pid), output_path_(std::move(output_path)) {}
  pid_t pid_ = -1;
  std::string output_path_;
};

// Runs to completion; returns {exit code, output}.
absl::StatusOr<std::pair<int, std::string>> RunToCompletion(const std::vector<std::string>& argv,
                                                            absl::Duration timeout);

// Polls until `path` exists and is non-empty. DEADLINE_EXCEEDED after `timeout`.
absl::StatusOr<std::string> WaitForFile(const std::string& path, absl::Duration timeout);

// The port `key` (device_port, admin_port, metrics_port) in a cohort-server --port_file's
// content ("key=port" lines, docs/operations.md); 0 if absent.
int PortFromPortFile(const std::string& port_file, const std::string& key);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A self-signed certificate for localhost and 127.0.0.1 (P-256, one day), made with the openssl
// command the README shows: `dir`/`name`.crt and `dir`/`name`.key. INTERNAL with openssl's
// output if it fails.
absl::Status MakeSelfSignedCertificate(const TempDir& dir, const std::string& name);

}  // namespace cohort::testing

#endif  // COHORT_TESTING_SUBPROCESS_H_
