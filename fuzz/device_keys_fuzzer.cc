// What a device presents and the server or its neighbours decode: its X25519 keys
// (AdvertiseKeys), its Ed25519 key and a signature by it (CheckIn, every signed message), and
// its credential, a DER X.509 certificate that OpenSSL parses (CheckIn on the server, every
// neighbour on a device). Input: u8 selector, then the bytes. The CA is fixed; the seeds hold a
// certificate it issued for the fixed device key, and a signed advertisement.
// Properties: nothing crashes or leaks; the fixed certificate verifies only for its key; a key
// that parses serializes back to its bytes; the device's signature over the fuzzed message
// verifies, and stops verifying when one bit of it or of the message changes.

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "fuzz/fuzz_input.h"
#include "secagg/key_agreement.h"
#include "secagg/key_authenticity.h"
#include "secagg/signing.h"
#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/test_ca.h"

namespace {

using cohort::fuzz::Input;
using cohort::fuzz::Output;
using namespace cohort::secagg;  // NOLINT: a fuzzer's one translation unit

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

struct Fixture {
  std::optional<TestCa> ca;
  std::unique_ptr<CertificateAuthorityVerifier> verifier;
  std::optional<SigningKey> device;
  std::string certificate;

  Fixture() {
    FakeRandomSource rng(1);
    ca.emplace(*TestCa::Create(rng, kNow));
    verifier = *CertificateAuthorityVerifier::Create(ca->pem());
    device.emplace(SigningKey::Generate(rng));
    certificate = *ca->Issue(device->verifying_key(), kNow);
    if (!verifier->Verify(device->verifying_key(), certificate, kNow).ok()) std::abort();
  }
};

const Fixture& TheFixture() {
  static const Fixture* fixture = new Fixture();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const Fixture& f = TheFixture();
  std::string credential_seed(1, '\0');
  credential_seed += f.certificate;
  std::string signed_seed = Output().U8(2).Sized(f.device->verifying_key().ToBytes()).bytes();
  const std::string message = "cohort advertisement";
  signed_seed += Output().Sized(message).Sized(*f.device->Sign(message)).bytes();
  cohort::fuzz::MaybeWriteSeeds(*argc, *argv, {credential_seed, signed_seed});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = TheFixture();
  Input in(data, size);
  switch (in.U8() % 3) {
    case 0: {
      const std::string credential = in.Bytes(size);
      (void)f.verifier->Verify(f.device->verifying_key(), credential, kNow);
      if (credential == f.certificate) {
        // The same certificate for any other key is refused.
        absl::StatusOr<VerifyingKey> other = VerifyingKey::FromBytes(std::string(32, '\x01'));
        if (other.ok() && f.verifier->Verify(*other, credential, kNow).ok()) std::abort();
      }
      break;
    }
    case 1: {
      absl::StatusOr<PublicKey> key = PublicKey::FromBytes(in.Bytes(size));
      if (key.ok() && PublicKey::FromBytes(key->ToBytes())->ToBytes() != key->ToBytes()) {
        std::abort();
      }
      break;
    }
    case 2: {
      absl::StatusOr<VerifyingKey> key = VerifyingKey::FromBytes(in.Sized());
      const std::string message = in.Sized();
      const std::string signature = in.Sized();
      if (key.ok()) {
        (void)key->Verify(message, signature);
        if (key->ToBytes().size() != 32 || !VerifyingKey::FromBytes(key->ToBytes()).ok() ||
            !(*VerifyingKey::FromBytes(key->ToBytes()) == *key)) {
          std::abort();
        }
      }
      const std::string genuine = *f.device->Sign(message);
      if (!f.device->verifying_key().Verify(message, genuine).ok()) std::abort();
      const size_t bit = signature.empty() ? 0 : static_cast<uint8_t>(signature[0]);
      std::string flipped = genuine;
      flipped[(bit / 8) % flipped.size()] ^= static_cast<char>(1 << (bit % 8));
      if (f.device->verifying_key().Verify(message, flipped).ok()) std::abort();
      std::string other = message + '\0';
      if (f.device->verifying_key().Verify(other, genuine).ok()) std::abort();
      break;
    }
  }
  return 0;
}
