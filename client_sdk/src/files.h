#ifndef COHORT_CLIENT_SDK_SRC_FILES_H_
#define COHORT_CLIENT_SDK_SRC_FILES_H_

// The SDK's file primitives (POSIX): everything it persists is written atomically and durably.
// Errors carry the errno-derived code: PERMISSION_DENIED (EACCES, EPERM), NOT_FOUND (ENOENT),
// RESOURCE_EXHAUSTED (ENOSPC, EDQUOT), INTERNAL otherwise; the message names the path.
// Thread-safe (stateless functions).

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cohort::client::internal {

absl::Status ErrnoStatus(int err, const std::string& what);

// Creates `dir` and its parents (mode 0700); INVALID_ARGUMENT if it is not a directory.
absl::Status MakeDirs(const std::string& dir);

// Replaces `path` with `bytes`: a temporary file, fsync, rename, fsync of the directory. A
// reader sees the old contents or the new ones, never a mix, even across a crash.
absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes);

// Appends `bytes` to `path` (created with mode 0600 if missing) and fsyncs it.
absl::Status AppendToFile(const std::string& path, const std::string& bytes);

// The contents of `path`, or nullopt when it does not exist.
absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path);

// Removes `path`; OK when it did not exist.
absl::Status RemoveFile(const std::string& path);

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_FILES_H_
