#include "secagg/share_encryption.h"

#include <openssl/evp.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cohort::secagg {
namespace {

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

void AppendU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string AssociatedData(absl::string_view round_id, absl::string_view plan_digest,
                           int32_t sender, int32_t recipient) {
  std::string ad = "cohort/secagg/v1 share-bundle";
  AppendU32(ad, static_cast<uint32_t>(round_id.size()));
  ad.append(round_id.data(), round_id.size());
  ad.append(plan_digest.data(), plan_digest.size());
  AppendU32(ad, static_cast<uint32_t>(sender));
  AppendU32(ad, static_cast<uint32_t>(recipient));
  return ad;
}

const uint8_t* U8(absl::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

absl::StatusOr<std::string> AesGcm256Seal(const SecretKey& key, absl::string_view nonce,
                                          absl::string_view associated_data,
                                          absl::string_view plaintext) {
  if (nonce.size() != kAeadNonceSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("an AES-GCM nonce here is ", kAeadNonceSize, " bytes, got ", nonce.size()));
  }
  std::string out(plaintext.size() + kAeadTagSize, '\0');
  uint8_t* body = reinterpret_cast<uint8_t*>(out.data());
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), U8(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U8(associated_data),
                        static_cast<int>(associated_data.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), body, &len, U8(plaintext), static_cast<int>(plaintext.size())) !=
          1 ||
      EVP_EncryptFinal_ex(ctx.get(), body + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAeadTagSize, body + plaintext.size()) !=
          1) {
    return absl::InternalError("OpenSSL AES-256-GCM seal failed");
  }
  return out;
}

absl::StatusOr<std::string> AesGcm256Open(const SecretKey& key, absl::string_view nonce,
                                          absl::string_view associated_data,
                                          absl::string_view ciphertext_and_tag) {
  if (nonce.size() != kAeadNonceSize || ciphertext_and_tag.size() < kAeadTagSize) {
    return absl::DataLossError("AES-GCM input is truncated");
  }
  const size_t body = ciphertext_and_tag.size() - kAeadTagSize;
  std::string plaintext(body, '\0');
  std::string tag(ciphertext_and_tag.substr(body));
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), U8(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U8(associated_data),
                        static_cast<int>(associated_data.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<uint8_t*>(plaintext.data()), &len,
                        U8(ciphertext_and_tag), static_cast<int>(body)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAeadTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<uint8_t*>(plaintext.data()) + len, &len) !=
          1) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return absl::DataLossError("AES-GCM authentication failed");
  }
  return plaintext;
}

absl::StatusOr<std::string> SealShareBundle(const SecretKey& key, absl::string_view round_id,
                                            absl::string_view plan_digest, int32_t sender_index,
                                            int32_t recipient_index, absl::string_view plaintext,
                                            RandomSource& random) {
  if (sender_index < 1 || recipient_index < 1 || sender_index == recipient_index) {
    return absl::InvalidArgumentError(absl::StrCat("bad sender/recipient indices ", sender_index,
                                                   " -> ", recipient_index));
  }
  std::string nonce(kAeadNonceSize, '\0');
  random.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size()));
  absl::StatusOr<std::string> sealed =
      AesGcm256Seal(key, nonce, AssociatedData(round_id, plan_digest, sender_index, recipient_index), plaintext);
  if (!sealed.ok()) return sealed.status();
  return nonce + *sealed;
}

absl::StatusOr<std::string> OpenShareBundle(const SecretKey& key, absl::string_view round_id,
                                            absl::string_view plan_digest, int32_t sender_index,
                                            int32_t recipient_index, absl::string_view ciphertext) {
  if (ciphertext.size() < kAeadOverhead) {
    return absl::DataLossError(absl::StrCat("share bundle from ", sender_index, " is truncated (",
                                            ciphertext.size(), " bytes)"));
  }
  absl::StatusOr<std::string> opened = AesGcm256Open(
      key, ciphertext.substr(0, kAeadNonceSize),
      AssociatedData(round_id, plan_digest, sender_index, recipient_index), ciphertext.substr(kAeadNonceSize));
  if (!opened.ok()) {
    return absl::DataLossError(absl::StrCat("share bundle from ", sender_index, " to ",
                                            recipient_index,
                                            " failed authentication (tampered or misrouted)"));
  }
  return opened;
}

}  // namespace cohort::secagg
