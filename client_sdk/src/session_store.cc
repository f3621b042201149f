#include "client_sdk/src/session_store.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client_sdk/src/files.h"

namespace cohort::client::internal {
namespace {

constexpr char kRoundFile[] = "round.pb";
constexpr char kInputFile[] = "input.bin";
constexpr char kPaceFile[] = "pace.pb";
constexpr char kLockFile[] = "lock";

}  // namespace

absl::StatusOr<std::unique_ptr<SessionStore>> SessionStore::Open(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("storage dir is empty");
  if (absl::Status s = MakeDirs(dir); !s.ok()) return s;
  const std::string lock_path = absl::StrCat(dir, "/", kLockFile);
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", lock_path));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("storage dir ", dir, " is in use by another client"));
    }
    return ErrnoStatus(err, absl::StrCat("flock ", lock_path));
  }
  return std::unique_ptr<SessionStore>(new SessionStore(dir, fd));
}

SessionStore::~SessionStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

absl::Status SessionStore::WriteAtomically(const std::string& name, const std::string& bytes) {
  return WriteFileAtomically(absl::StrCat(dir_, "/", name), bytes);
}

absl::StatusOr<std::optional<std::string>> SessionStore::ReadFile(const std::string& name) {
  return ReadFileIfExists(absl::StrCat(dir_, "/", name));
}

absl::Status SessionStore::Remove(const std::string& name) {
  return RemoveFile(absl::StrCat(dir_, "/", name));
}

absl::StatusOr<std::optional<SessionSnapshot>> SessionStore::LoadRound() {
  absl::StatusOr<std::optional<std::string>> bytes = ReadFile(kRoundFile);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<SessionSnapshot>();
  SessionSnapshot snapshot;
  if (!snapshot.ParseFromString(**bytes)) {
    if (absl::Status s = WipeRound(); !s.ok()) return s;
    return std::optional<SessionSnapshot>();
  }
  return std::optional<SessionSnapshot>(std::move(snapshot));
}

absl::Status SessionStore::SaveRound(const SessionSnapshot& snapshot) {
  return WriteAtomically(kRoundFile, snapshot.SerializeAsString());
}

absl::Status SessionStore::SaveInput(const std::string& packed_input) {
  return WriteAtomically(kInputFile, packed_input);
}

absl::StatusOr<std::string> SessionStore::LoadInput(int64_t expected_bytes) {
  absl::StatusOr<std::optional<std::string>> bytes = ReadFile(kInputFile);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return absl::NotFoundError("no persisted input");
  if (static_cast<int64_t>((*bytes)->size()) != expected_bytes) {
    return absl::DataLossError(absl::StrCat("persisted input holds ", (*bytes)->size(),
                                            " bytes, want ", expected_bytes));
  }
  return **std::move(bytes);
}

absl::Status SessionStore::WipeRound() {
  absl::Status a = Remove(kRoundFile);
  absl::Status b = Remove(kInputFile);
  return a.ok() ? b : a;
}

absl::StatusOr<absl::Time> SessionStore::LoadNextCheckIn() {
  absl::StatusOr<std::optional<std::string>> bytes = ReadFile(kPaceFile);
  if (!bytes.ok()) return bytes.status();
  PaceState pace;
  if (!bytes->has_value() || !pace.ParseFromString(**bytes) ||
      pace.next_check_in_unix_micros() == 0) {
    return absl::InfinitePast();
  }
  return absl::FromUnixMicros(pace.next_check_in_unix_micros());
}

absl::Status SessionStore::SaveNextCheckIn(absl::Time time) {
  PaceState pace;
  pace.set_next_check_in_unix_micros(time == absl::InfinitePast() ? 0 : absl::ToUnixMicros(time));
  return WriteAtomically(kPaceFile, pace.SerializeAsString());
}

}  // namespace cohort::client::internal
