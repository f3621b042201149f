#ifndef COHORT_CLIENT_SDK_SRC_SESSION_STORE_H_
#define COHORT_CLIENT_SDK_SRC_SESSION_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client_sdk/src/session_state.pb.h"

namespace cohort::client::internal {

// What the SDK keeps on the device between process lives, in the app's storage dir:
//   round.pb   SessionSnapshot of the round in flight (token, plan, secagg keys and shares)
//   input.bin  the round's encoded input, packed as on the wire (update_encoding.h), so an
//              upload resumes with the same values it started with
//   pace.pb    PaceState (the retry-later time), which outlives rounds
//   lock       flock()ed while a store is open, so two clients never share the directory
// Every write goes to a temporary file that is fsync()ed and rename()d over the old one, and
// the directory is fsync()ed: a crash leaves the old or the new file, never a torn one. Files
// are created mode 0600. WipeRound() deletes the round's files when the round ends.
//
// The encoded input is a function of the device's training, not the raw data: nothing of the
// training data itself is ever stored here.
//
// This class is not thread-safe (one participation at a time uses it).
class SessionStore {
 public:
  // Creates `dir` (and parents) if missing. FAILED_PRECONDITION when another open store holds
  // the directory's lock; INTERNAL / PERMISSION_DENIED from the file system otherwise.
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(const std::string& dir);
  ~SessionStore();

  // nullopt when no round is persisted. A file that does not parse is deleted and reported as
  // nullopt (a half-written state from an older SDK is not worth a failed participation).
  absl::StatusOr<std::optional<SessionSnapshot>> LoadRound();
  absl::Status SaveRound(const SessionSnapshot& snapshot);

  absl::Status SaveInput(const std::string& packed_input);
  // NOT_FOUND when absent, DATA_LOSS when it does not hold `expected_bytes` bytes.
  absl::StatusOr<std::string> LoadInput(int64_t expected_bytes);

  // Removes round.pb and input.bin; OK when they are absent.
  absl::Status WipeRound();

  // InfinitePast when never set.
  absl::StatusOr<absl::Time> LoadNextCheckIn();
  absl::Status SaveNextCheckIn(absl::Time time);

  const std::string& dir() const { return dir_; }

 private:
  SessionStore(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}
  absl::Status WriteAtomically(const std::string& name, const std::string& bytes);
  absl::StatusOr<std::optional<std::string>> ReadFile(const std::string& name);
  absl::Status Remove(const std::string& name);

  std::string dir_;
  int lock_fd_ = -1;
};

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_SESSION_STORE_H_
