#ifndef COHORT_SECAGG_KEY_AGREEMENT_H_
#define COHORT_SECAGG_KEY_AGREEMENT_H_

// X25519 key pairs and the HKDF-SHA256 derivations of SecAgg: every device holds a *cipher* key
// pair (its agreement keys the AEAD that protects share bundles) and a *mask* key pair (its
// agreement seeds the pairwise mask PRG). Both parties of a pair derive the same value because
// the HKDF info binds the round id, the plan digest (secagg/plan_digest.h) and the *unordered*
// pair of participant indices, together with both public keys, in ascending index order:
// devices given different plans or models derive unrelated keys.
//
//   KeyPair cipher = KeyPair::Generate(*OsRandom());
//   COHORT_ASSIGN_OR_RETURN(PublicKey peer, PublicKey::FromBytes(wire_bytes));
//   COHORT_ASSIGN_OR_RETURN(SecretKey aead_key,
//       DeriveShareEncryptionKey(cipher, /*self_index=*/3, peer, /*peer_index=*/7, round_id,
//                                plan_digest));
//
// Derivation (docs/secagg.md#key-agreement):
//   ss   = X25519(own private, peer public)            (rejected if all zero)
//   key  = HKDF-SHA256(ikm = ss, salt = "cohort/secagg/v1",
//                      info = label || u32le(len(round_id)) || round_id || plan_digest (32)
//                             || i32le(min index) || i32le(max index)
//                             || public key of min index || public key of max index)
//   label = "cohort/secagg/v1 share-encryption" or "cohort/secagg/v1 pairwise-mask".
//
// Codes: INVALID_ARGUMENT for a malformed or low-order public key, a bad index (< 1 or equal
// indices), or an all-zero shared secret; INTERNAL if OpenSSL fails unexpectedly.
// All types here are value types; const use from several threads is safe.

#include <array>
#include <memory>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "secagg/random_source.h"
#include "secagg/secret_key.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace cohort::secagg {

inline constexpr size_t kX25519KeySize = 32;

// An X25519 public key (RFC 7748 u-coordinate, little endian). Construction through FromBytes
// guarantees it is canonical (top bit clear, u < p) and not one of the small-order points whose
// agreement output is predictable.
class PublicKey {
 public:
  // The all-zero key: a placeholder that every agreement rejects.
  PublicKey() = default;
  // INVALID_ARGUMENT: wrong length, non-canonical encoding, or a low-order point.
  static absl::StatusOr<PublicKey> FromBytes(absl::string_view bytes);

  const std::array<uint8_t, kX25519KeySize>& bytes() const { return bytes_; }
  std::string ToBytes() const { return std::string(bytes_.begin(), bytes_.end()); }
  bool operator==(const PublicKey& other) const { return bytes_ == other.bytes_; }

 private:
  std::array<uint8_t, kX25519KeySize> bytes_{};
};

// An X25519 private key (32 random bytes; clamping happens inside X25519). Wiped on destruction.
class PrivateKey {
 public:
  // INVALID_ARGUMENT for a length other than 32.
  static absl::StatusOr<PrivateKey> FromBytes(absl::string_view bytes);
  PrivateKey(const PrivateKey&) = default;
  PrivateKey& operator=(const PrivateKey&) = default;
  ~PrivateKey();

  const std::array<uint8_t, kX25519KeySize>& bytes() const { return bytes_; }
  // Copies the secret out; callers own wiping the copy.
  std::string ToBytes() const { return std::string(bytes_.begin(), bytes_.end()); }

 private:
  friend class KeyPair;
  PrivateKey() = default;
  std::array<uint8_t, kX25519KeySize> bytes_{};
};

// Holds the OpenSSL key object made when the pair was built, so that agreements do not import
// the private key again (an import recomputes the public key: a second scalar multiplication,
// which made every agreement cost about three times a bare X25519). Copies share it; OpenSSL
// wipes it when the last copy goes.
class KeyPair {
 public:
  static KeyPair Generate(RandomSource& random);
  // INVALID_ARGUMENT if the private key yields a public key that cannot be used (never happens
  // for a clamped X25519 scalar, checked anyway); INTERNAL on an OpenSSL failure.
  static absl::StatusOr<KeyPair> FromPrivateKey(const PrivateKey& private_key);

  const PublicKey& public_key() const { return public_key_; }
  const PrivateKey& private_key() const { return private_key_; }

 private:
  friend absl::StatusOr<SecretKey> X25519Agree(const KeyPair& own, const PublicKey& peer);
  KeyPair() = default;
  PrivateKey private_key_;
  PublicKey public_key_;
  std::shared_ptr<evp_pkey_st> pkey_;  // EVP_PKEY of private_key_
};

// Raw X25519: INVALID_ARGUMENT if the shared secret is all zero (low-order peer key).
absl::StatusOr<SecretKey> X25519Agree(const PrivateKey& own, const PublicKey& peer);
absl::StatusOr<SecretKey> X25519Agree(const KeyPair& own, const PublicKey& peer);

// HKDF-SHA256 (RFC 5869) producing 32 bytes; exposed for known-answer tests.
absl::StatusOr<SecretKey> HkdfSha256(absl::Span<const uint8_t> ikm, absl::Span<const uint8_t> salt,
                                     absl::Span<const uint8_t> info);

// The AEAD key protecting share bundles between `self_index` and `peer_index`, from the devices'
// cipher key pairs. Symmetric: u and v derive the same key.
absl::StatusOr<SecretKey> DeriveShareEncryptionKey(const KeyPair& own_cipher_keys,
                                                   int32_t self_index,
                                                   const PublicKey& peer_cipher_key,
                                                   int32_t peer_index, absl::string_view round_id,
                                                   absl::string_view plan_digest);

// The pairwise mask seed s_uv from the devices' mask key pairs. Symmetric: s_uv = s_vu.
absl::StatusOr<SecretKey> DerivePairwiseMaskSeed(const KeyPair& own_mask_keys, int32_t self_index,
                                                 const PublicKey& peer_mask_key, int32_t peer_index,
                                                 absl::string_view round_id,
                                                 absl::string_view plan_digest);

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_KEY_AGREEMENT_H_
