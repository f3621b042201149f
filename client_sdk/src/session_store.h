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
//   round.pb      SessionSnapshot of the round in flight (token, plan, secagg keys and shares)
//   input.bin     the round's encoded input, packed as on the wire (update_encoding.h), so an
//                 upload resumes with the same values it started with
//   identity.key  the device's Ed25519 signing seed, kept for as long as the app is installed
//   pace.pb       PaceState (the retry-later time), which outlives rounds
//   lock          flock()ed while a store is open, so two clients never share the directory
// With a storage key (the app's, e.g. wrapped by the Android Keystore or kept in the iOS
// Keychain), round.pb, input.bin and identity.key are sealed with AES-256-GCM:
//   "CSE1" || nonce (12) || ciphertext || tag (16), AD = "cohort/sdk/v1 file " || file name.
// A sealed file that does not open (another key, tampering) is treated as absent (round.pb,
// identity.key) or as lost (input.bin). Without a key the files are plaintext, mode 0600.
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
  // the directory's lock; INVALID_ARGUMENT for a storage key that is not 32 bytes; INTERNAL /
  // PERMISSION_DENIED from the file system otherwise. `storage_key` empty: plaintext files.
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(const std::string& dir,
                                                            std::string storage_key = "");
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // nullopt when no round is persisted. A file that does not parse is deleted and reported as
  // nullopt (a half-written state from an older SDK is not worth a failed participation).
  absl::StatusOr<std::optional<SessionSnapshot>> LoadRound();
  absl::Status SaveRound(const SessionSnapshot& snapshot);

  absl::Status SaveInput(const std::string& packed_input);
  // NOT_FOUND when absent, DATA_LOSS when it does not hold `expected_bytes` bytes.
  absl::StatusOr<std::string> LoadInput(int64_t expected_bytes);

  // Removes round.pb and input.bin; OK when they are absent.
  absl::Status WipeRound();

  // The device's Ed25519 seed: loaded, or made with `random_seed` (32 bytes) and saved on the
  // first call.
  absl::StatusOr<std::string> LoadOrCreateIdentity(const std::string& random_seed);

  // InfinitePast when never set.
  absl::StatusOr<absl::Time> LoadNextCheckIn();
  absl::Status SaveNextCheckIn(absl::Time time);

  const std::string& dir() const { return dir_; }

 private:
  SessionStore(std::string dir, int lock_fd, std::string storage_key);
  absl::Status WriteAtomically(const std::string& name, const std::string& bytes);
  absl::StatusOr<std::optional<std::string>> ReadFile(const std::string& name);
  // Sealed with the storage key when there is one; DATA_LOSS for a sealed file that does not
  // open.
  absl::Status WriteSecret(const std::string& name, const std::string& bytes);
  absl::StatusOr<std::optional<std::string>> ReadSecret(const std::string& name);
  absl::Status Remove(const std::string& name);

  std::string dir_;
  int lock_fd_ = -1;
  std::string storage_key_;
};

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_SESSION_STORE_H_
