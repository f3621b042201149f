#include "client_sdk/src/session_store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client_sdk/src/files.h"

namespace cohort::client::internal {
namespace {

constexpr char kRoundFile[] = "round.pb";
constexpr char kInputFile[] = "input.bin";
constexpr char kIdentityFile[] = "identity.key";
constexpr char kPaceFile[] = "pace.pb";
constexpr char kLockFile[] = "lock";
constexpr absl::string_view kSealedMagic = "CSE1";
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;

void Wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
}

std::string FileAd(const std::string& name) { return "cohort/sdk/v1 file " + name; }

// AES-256-GCM through OpenSSL's EVP interface.
absl::StatusOr<std::string> SealFile(const std::string& key, const std::string& name,
                                     const std::string& plaintext) {
  std::string out(kSealedMagic);
  out.resize(kSealedMagic.size() + kNonceSize + plaintext.size() + kTagSize);
  unsigned char* nonce = reinterpret_cast<unsigned char*>(out.data()) + kSealedMagic.size();
  if (RAND_bytes(nonce, kNonceSize) != 1) return absl::InternalError("RAND_bytes failed");
  const std::string ad = FileAd(name);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  const bool ok =
      ctx != nullptr &&
      EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()), nonce) == 1 &&
      EVP_EncryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(ad.data()),
                        static_cast<int>(ad.size())) == 1 &&
      EVP_EncryptUpdate(ctx, nonce + kNonceSize, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx, nonce + kNonceSize + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagSize,
                          nonce + kNonceSize + plaintext.size()) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) return absl::InternalError("sealing a session file failed");
  return out;
}

absl::StatusOr<std::string> OpenFile(const std::string& key, const std::string& name,
                                     absl::string_view sealed) {
  if (!absl::StartsWith(sealed, kSealedMagic) ||
      sealed.size() < kSealedMagic.size() + kNonceSize + kTagSize) {
    return absl::DataLossError(absl::StrCat(name, " is not a sealed session file"));
  }
  sealed.remove_prefix(kSealedMagic.size());
  const unsigned char* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  const size_t body = sealed.size() - kNonceSize - kTagSize;
  std::string plaintext(body, '\0');
  std::string tag(sealed.substr(kNonceSize + body));
  const std::string ad = FileAd(name);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  const bool ok =
      ctx != nullptr &&
      EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()), nonce) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(ad.data()),
                        static_cast<int>(ad.size())) == 1 &&
      EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(plaintext.data()), &len,
                        nonce + kNonceSize, static_cast<int>(body)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(plaintext.data()) + len, &len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) {
    Wipe(plaintext);
    return absl::DataLossError(absl::StrCat(name, " does not open with the storage key"));
  }
  return plaintext;
}

}  // namespace

SessionStore::SessionStore(std::string dir, int lock_fd, std::string storage_key)
    : dir_(std::move(dir)), lock_fd_(lock_fd), storage_key_(std::move(storage_key)) {}

absl::StatusOr<std::unique_ptr<SessionStore>> SessionStore::Open(const std::string& dir,
                                                                 std::string storage_key) {
  if (dir.empty()) return absl::InvalidArgumentError("storage dir is empty");
  if (!storage_key.empty() && storage_key.size() != 32) {
    Wipe(storage_key);
    return absl::InvalidArgumentError("the storage key must be 32 bytes");
  }
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
  return std::unique_ptr<SessionStore>(new SessionStore(dir, fd, std::move(storage_key)));
}

SessionStore::~SessionStore() {
  Wipe(storage_key_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

absl::Status SessionStore::WriteSecret(const std::string& name, const std::string& bytes) {
  if (storage_key_.empty()) return WriteAtomically(name, bytes);
  absl::StatusOr<std::string> sealed = SealFile(storage_key_, name, bytes);
  if (!sealed.ok()) return sealed.status();
  return WriteAtomically(name, *sealed);
}

absl::StatusOr<std::optional<std::string>> SessionStore::ReadSecret(const std::string& name) {
  absl::StatusOr<std::optional<std::string>> bytes = ReadFile(name);
  if (!bytes.ok() || !bytes->has_value() || storage_key_.empty()) return bytes;
  absl::StatusOr<std::string> opened = OpenFile(storage_key_, name, **bytes);
  if (!opened.ok()) return opened.status();
  return std::optional<std::string>(*std::move(opened));
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
  absl::StatusOr<std::optional<std::string>> bytes = ReadSecret(kRoundFile);
  if (!bytes.ok() && bytes.status().code() != absl::StatusCode::kDataLoss) return bytes.status();
  if (bytes.ok() && !bytes->has_value()) return std::optional<SessionSnapshot>();
  SessionSnapshot snapshot;
  const bool parsed = bytes.ok() && snapshot.ParseFromString(**bytes);
  if (bytes.ok()) Wipe(**bytes);
  if (!parsed) {
    // Unreadable (torn by an old SDK, another key): the round cannot be resumed.
    if (absl::Status s = WipeRound(); !s.ok()) return s;
    return std::optional<SessionSnapshot>();
  }
  return std::optional<SessionSnapshot>(std::move(snapshot));
}

absl::Status SessionStore::SaveRound(const SessionSnapshot& snapshot) {
  std::string bytes = snapshot.SerializeAsString();
  absl::Status s = WriteSecret(kRoundFile, bytes);
  Wipe(bytes);
  return s;
}

absl::Status SessionStore::SaveInput(const std::string& packed_input) {
  return WriteSecret(kInputFile, packed_input);
}

absl::StatusOr<std::string> SessionStore::LoadInput(int64_t expected_bytes) {
  absl::StatusOr<std::optional<std::string>> bytes = ReadSecret(kInputFile);
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

absl::StatusOr<std::string> SessionStore::LoadOrCreateIdentity(const std::string& random_seed) {
  absl::StatusOr<std::optional<std::string>> bytes = ReadSecret(kIdentityFile);
  if (bytes.ok() && bytes->has_value() && (*bytes)->size() == 32) return **std::move(bytes);
  if (!bytes.ok() && bytes.status().code() != absl::StatusCode::kDataLoss) return bytes.status();
  // None yet, or unreadable (the app changed its storage key): a new identity.
  if (random_seed.size() != 32) return absl::InvalidArgumentError("identity seed must be 32 bytes");
  if (absl::Status s = WriteSecret(kIdentityFile, random_seed); !s.ok()) return s;
  return random_seed;
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
