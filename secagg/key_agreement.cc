#include "secagg/key_agreement.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace cohort::secagg {
namespace {

using Bytes32 = std::array<uint8_t, kX25519KeySize>;

// u-coordinates of the points of order 1, 2, 4 and 8 on Curve25519 and its twist (canonical
// encodings; non-canonical ones are rejected by the u < p check). Their X25519 output is zero
// for every scalar, so a peer using one would force a known shared secret (libsodium keeps the
// same list). The unit test checks each yields an all-zero agreement.
constexpr Bytes32 kLowOrderPoints[] = {
    // 0
    {0},
    // 1
    {1},
    // 325606250916557431795983626356110631294008115727848805560023387167927233504 (order 8)
    {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
     0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    // 39382357235489614581723060781553021112529911719440698176882885853963445705823 (order 8)
    {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
     0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
    // p - 1 (order 2)
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

// True if the little-endian 255-bit value is >= p = 2^255 - 19 (a non-canonical encoding).
bool AtLeastP(const Bytes32& u) {
  if (u[31] != 0x7f) return u[31] > 0x7f;
  for (int i = 30; i >= 1; --i) {
    if (u[i] != 0xff) return false;
  }
  return u[0] >= 0xed;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

absl::Status OpenSslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat("OpenSSL ", what, " failed"));
}

void AppendU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

absl::Status CheckIndices(int32_t a, int32_t b) {
  if (a < 1 || b < 1 || a == b) {
    return absl::InvalidArgumentError(
        absl::StrCat("participant indices must be >= 1 and distinct, got ", a, " and ", b));
  }
  return absl::OkStatus();
}

absl::StatusOr<SecretKey> Derive(absl::string_view label, const KeyPair& own, int32_t self_index,
                                 const PublicKey& peer, int32_t peer_index,
                                 absl::string_view round_id, absl::string_view plan_digest) {
  COHORT_RETURN_IF_ERROR(CheckIndices(self_index, peer_index));
  COHORT_ASSIGN_OR_RETURN(SecretKey shared, X25519Agree(own, peer));
  const bool self_first = self_index < peer_index;
  const PublicKey& first_key = self_first ? own.public_key() : peer;
  const PublicKey& second_key = self_first ? peer : own.public_key();
  std::string info(label);
  AppendU32(info, static_cast<uint32_t>(round_id.size()));
  info.append(round_id.data(), round_id.size());
  info.append(plan_digest.data(), plan_digest.size());
  AppendU32(info, static_cast<uint32_t>(std::min(self_index, peer_index)));
  AppendU32(info, static_cast<uint32_t>(std::max(self_index, peer_index)));
  info.append(first_key.ToBytes());
  info.append(second_key.ToBytes());
  static constexpr absl::string_view kSalt = "cohort/secagg/v1";
  return HkdfSha256(shared.span(),
                    absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(kSalt.data()), kSalt.size()),
                    absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(info.data()), info.size()));
}

}  // namespace

absl::StatusOr<PublicKey> PublicKey::FromBytes(absl::string_view bytes) {
  if (bytes.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("an X25519 public key is 32 bytes, got ", bytes.size()));
  }
  PublicKey key;
  std::memcpy(key.bytes_.data(), bytes.data(), kX25519KeySize);
  if (AtLeastP(key.bytes_)) {
    return absl::InvalidArgumentError("X25519 public key is not canonically encoded (u >= p)");
  }
  for (const Bytes32& bad : kLowOrderPoints) {
    if (key.bytes_ == bad) {
      return absl::InvalidArgumentError("X25519 public key is a low-order point");
    }
  }
  return key;
}

PrivateKey::~PrivateKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

absl::StatusOr<PrivateKey> PrivateKey::FromBytes(absl::string_view bytes) {
  if (bytes.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("an X25519 private key is 32 bytes, got ", bytes.size()));
  }
  PrivateKey key;
  std::memcpy(key.bytes_.data(), bytes.data(), kX25519KeySize);
  return key;
}

KeyPair KeyPair::Generate(RandomSource& random) {
  // A clamped X25519 scalar never yields an unusable public key, so retrying is only a guard.
  while (true) {
    PrivateKey private_key;
    random.Fill(absl::MakeSpan(private_key.bytes_));
    absl::StatusOr<KeyPair> pair = FromPrivateKey(private_key);
    if (pair.ok()) return *std::move(pair);
  }
}

absl::StatusOr<KeyPair> KeyPair::FromPrivateKey(const PrivateKey& private_key) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.bytes_.data(),
                                            kX25519KeySize));
  if (pkey == nullptr) return OpenSslError("EVP_PKEY_new_raw_private_key");
  std::string public_bytes(kX25519KeySize, '\0');
  size_t len = kX25519KeySize;
  if (EVP_PKEY_get_raw_public_key(pkey.get(), reinterpret_cast<uint8_t*>(public_bytes.data()),
                                  &len) != 1 ||
      len != kX25519KeySize) {
    return OpenSslError("EVP_PKEY_get_raw_public_key");
  }
  COHORT_ASSIGN_OR_RETURN(PublicKey public_key, PublicKey::FromBytes(public_bytes));
  KeyPair pair;
  pair.private_key_ = private_key;
  pair.public_key_ = public_key;
  pair.pkey_ = std::shared_ptr<EVP_PKEY>(pkey.release(), PkeyDeleter());
  return pair;
}

namespace {

absl::StatusOr<SecretKey> AgreeWith(EVP_PKEY* own_key, const PublicKey& peer) {
  PkeyPtr peer_key(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.bytes().data(),
                                               kX25519KeySize));
  if (peer_key == nullptr) return OpenSslError("EVP_PKEY_new_raw_public_key");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(own_key, nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1) {
    return OpenSslError("EVP_PKEY_derive_init");
  }
  // OpenSSL itself refuses an all-zero X25519 output in EVP_PKEY_derive; either way the caller
  // gets INVALID_ARGUMENT, since only a low-order peer key can cause it.
  if (EVP_PKEY_derive_set_peer(ctx.get(), peer_key.get()) != 1) {
    return absl::InvalidArgumentError("X25519 peer key rejected");
  }
  SecretKey shared;
  size_t len = SecretKey::size();
  if (EVP_PKEY_derive(ctx.get(), shared.mutable_data(), &len) != 1) {
    return absl::InvalidArgumentError(
        "X25519 agreement produced an all-zero shared secret (low-order peer key)");
  }
  if (len != SecretKey::size()) return OpenSslError("EVP_PKEY_derive length");
  uint8_t acc = 0;
  for (size_t i = 0; i < len; ++i) acc |= shared.data()[i];
  if (acc == 0) {
    return absl::InvalidArgumentError(
        "X25519 agreement produced an all-zero shared secret (low-order peer key)");
  }
  return shared;
}

}  // namespace

absl::StatusOr<SecretKey> X25519Agree(const PrivateKey& own, const PublicKey& peer) {
  PkeyPtr own_key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, own.bytes().data(),
                                               kX25519KeySize));
  if (own_key == nullptr) return OpenSslError("EVP_PKEY_new_raw_private_key");
  return AgreeWith(own_key.get(), peer);
}

absl::StatusOr<SecretKey> X25519Agree(const KeyPair& own, const PublicKey& peer) {
  if (own.pkey_ == nullptr) return X25519Agree(own.private_key(), peer);
  return AgreeWith(own.pkey_.get(), peer);
}

absl::StatusOr<SecretKey> HkdfSha256(absl::Span<const uint8_t> ikm, absl::Span<const uint8_t> salt,
                                     absl::Span<const uint8_t> info) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), ikm.data(), static_cast<int>(ikm.size())) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), salt.data(), static_cast<int>(salt.size())) != 1 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), info.data(), static_cast<int>(info.size())) != 1) {
    return OpenSslError("HKDF setup");
  }
  SecretKey out;
  size_t len = SecretKey::size();
  if (EVP_PKEY_derive(ctx.get(), out.mutable_data(), &len) != 1 || len != SecretKey::size()) {
    return OpenSslError("HKDF derive");
  }
  return out;
}

absl::StatusOr<SecretKey> DeriveShareEncryptionKey(const KeyPair& own_cipher_keys,
                                                   int32_t self_index,
                                                   const PublicKey& peer_cipher_key,
                                                   int32_t peer_index, absl::string_view round_id,
                                                   absl::string_view plan_digest) {
  return Derive("cohort/secagg/v1 share-encryption", own_cipher_keys, self_index, peer_cipher_key,
                peer_index, round_id, plan_digest);
}

absl::StatusOr<SecretKey> DerivePairwiseMaskSeed(const KeyPair& own_mask_keys, int32_t self_index,
                                                 const PublicKey& peer_mask_key, int32_t peer_index,
                                                 absl::string_view round_id,
                                                 absl::string_view plan_digest) {
  return Derive("cohort/secagg/v1 pairwise-mask", own_mask_keys, self_index, peer_mask_key,
                peer_index, round_id, plan_digest);
}

}  // namespace cohort::secagg
