// A device's handling of what the server sends it in SecAgg+ (secagg/client_session.h): the
// bundles it routes (IncomingShares), the survivor set to sign (ConsistencyCheck), the
// unmasking request with its signatures (UnmaskingRequest), all the server's choice; and the
// persisted session it restores from. The round is fixed: five devices on the complete graph,
// semi-malicious, t = 3; device 1 has shared its keys. Each input restores device 1 and applies
// up to 8 operations:
//   0 ReceiveShares: u8 count, count x (u8 sender, u8 how, sized bytes)
//       how 0: the honest bundle; 1: the honest bundle XOR bytes; 2: bytes as ciphertext, with
//       the honest signature; 3: bytes as the signature of the honest ciphertext
//   1 SignSurvivors: sized list of indices
//   2 Unmask: sized surviving, dropped, excluded and survivors lists, then u8 count,
//       count x (u8 signer, u8 how, sized bytes); how 0: the signer's honest signature over
//       {1..5}; otherwise the bytes
//   3 Deserialize: u8 position / 4, sized bytes XORed into the persisted session from there
//       (none: the session cut there)
// The seeds are the honest sequence and its pieces (`--write-seeds DIR`).
// Properties: nothing crashes; device 1 never reveals two secrets of one neighbour, nor answers
// two different requests.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "secagg/client_session.h"
#include "secagg/key_authenticity.h"
#include "secagg/roster.h"
#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/test_ca.h"

namespace {

using cohort::fuzz::Input;
using cohort::fuzz::Output;
using namespace cohort::secagg;  // NOLINT: a fuzzer's one translation unit

constexpr int32_t kN = 5;
constexpr int32_t kT = 3;
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

struct Fixture {
  std::string blob;                                    // device 1 after ShareKeys
  std::map<int32_t, EncryptedShare> inbox;             // sender -> what it sealed for device 1
  std::map<int32_t, std::string> survivor_signatures;  // signer -> over {1..5}

  Fixture() {
    FakeRandomSource rng(3);
    const TestCa ca = *TestCa::Create(rng, kNow);
    auto verifier = *CertificateAuthorityVerifier::Create(ca.pem());
    std::vector<std::unique_ptr<SecAggClient>> c(kN + 1);
    std::vector<NeighbourAdvertisement> ads;
    std::vector<RosterEntry> entries;
    for (int32_t i = 1; i <= kN; ++i) {
      const SigningKey id = SigningKey::Generate(rng);
      SecAggClientOptions o{.round_id = std::string(1, 'r'),
                            .plan_digest = std::string(32, 'p'),
                            .self_index = i,
                            .num_participants = kN,
                            .neighbour_degree = kN - 1,
                            .threshold = kT,
                            .modulus_bits = 16,
                            .threat_model = ThreatModel::kSemiMalicious};
      c[i] = *SecAggClient::Create(o, id, rng);
      const Advertisement a = *c[i]->Advertise();
      ads.push_back({i, a.cipher_public_key, a.mask_public_key, id.verifying_key(), a.signature,
                     *ca.Issue(id.verifying_key(), kNow)});
      entries.push_back({i, a.cipher_public_key, a.mask_public_key});
    }
    const Roster roster = Roster::Build(entries);
    std::map<int32_t, std::vector<EncryptedShare>> boxes;
    for (int32_t i = 1; i <= kN; ++i) {
      std::vector<NeighbourAdvertisement> others;
      for (const auto& a : ads) {
        if (a.index != i) others.push_back(a);
      }
      const std::vector<EncryptedShare> sealed =
          *c[i]->ShareKeys(*roster.ProofFor(i), others, verifier.get(), kNow, rng);
      for (const EncryptedShare& e : sealed) {
        boxes[e.index].push_back({i, e.ciphertext, e.signature});
        if (e.index == 1) inbox[i] = {i, e.ciphertext, e.signature};
      }
    }
    blob = c[1]->Serialize();
    const std::vector<int32_t> all = {1, 2, 3, 4, 5};
    for (int32_t i = 2; i <= kN; ++i) {
      if (!c[i]->ReceiveShares(boxes[i]).ok()) std::abort();
      survivor_signatures[i] = *c[i]->SignSurvivors(all);
    }
  }
};

const Fixture& TheFixture() {
  static const Fixture* fixture = new Fixture();
  return *fixture;
}

std::vector<int32_t> List(Input& in) {
  const std::string bytes = in.Sized();
  return std::vector<int32_t>(bytes.begin(), bytes.end());
}

std::string ListBytes(const std::vector<int32_t>& v) { return std::string(v.begin(), v.end()); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  TheFixture();
  Output receive;
  receive.U8(0).U8(kN - 1);
  for (int32_t s = 2; s <= kN; ++s) receive.U8(static_cast<uint8_t>(s)).U8(0).Sized("");
  Output sign;
  sign.U8(1).Sized(ListBytes({1, 2, 3, 4, 5}));
  Output unmask;
  unmask.U8(2).Sized(ListBytes({2, 3, 4, 5})).Sized("").Sized("").Sized(ListBytes({1, 2, 3, 4, 5}));
  unmask.U8(kN - 1);
  for (int32_t s = 2; s <= kN; ++s) unmask.U8(static_cast<uint8_t>(s)).U8(0).Sized("");
  Output corrupt;
  corrupt.U8(3).U8(10).Sized("\x01");
  cohort::fuzz::MaybeWriteSeeds(*argc, *argv,
                                {receive.bytes(), receive.bytes() + sign.bytes(),
                                 receive.bytes() + sign.bytes() + unmask.bytes(), corrupt.bytes()});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = TheFixture();
  Input in(data, size);
  std::unique_ptr<SecAggClient> device = *SecAggClient::Deserialize(f.blob);
  std::map<int32_t, std::set<ShareKind>> revealed;
  std::optional<std::vector<UnmaskingShare>> answer;
  for (int op = 0; op < 8 && !in.empty(); ++op) {
    switch (in.U8() % 4) {
      case 0: {
        std::vector<EncryptedShare> incoming(in.U8() % 8);
        for (EncryptedShare& e : incoming) {
          e.index = in.U8();
          const uint8_t how = in.U8() % 4;
          const std::string bytes = in.Sized();
          auto it = f.inbox.find(e.index);
          if (it != f.inbox.end()) e = it->second;
          if (how == 1) {
            for (size_t i = 0; i < bytes.size() && i < e.ciphertext.size(); ++i) {
              e.ciphertext[i] = static_cast<char>(e.ciphertext[i] ^ bytes[i]);
            }
          } else if (how == 2) {
            e.ciphertext = bytes;
          } else if (how == 3) {
            e.signature = bytes;
          }
        }
        (void)device->ReceiveShares(incoming);
        break;
      }
      case 1:
        (void)device->SignSurvivors(List(in));
        break;
      case 2: {
        UnmaskingRequest r;
        r.surviving = List(in);
        r.dropped = List(in);
        r.excluded = List(in);
        r.survivors = List(in);
        r.signatures.resize(in.U8() % 8);
        for (SurvivorSignature& s : r.signatures) {
          s.signer = in.U8();
          const uint8_t how = in.U8();
          s.signature = in.Sized();
          auto it = f.survivor_signatures.find(s.signer);
          if (how == 0 && it != f.survivor_signatures.end()) s.signature = it->second;
        }
        absl::StatusOr<std::vector<UnmaskingShare>> shares = device->Unmask(r);
        if (!shares.ok()) break;
        if (answer.has_value()) {
          // A second answer must be the first one again.
          if (shares->size() != answer->size()) std::abort();
          for (size_t i = 0; i < shares->size(); ++i) {
            if ((*shares)[i].share != (*answer)[i].share ||
                (*shares)[i].neighbour_index != (*answer)[i].neighbour_index) {
              std::abort();
            }
          }
        }
        answer = *shares;
        for (const UnmaskingShare& s : *shares) revealed[s.neighbour_index].insert(s.kind);
        for (const auto& [neighbour, kinds] : revealed) {
          if (kinds.size() > 1) std::abort();
        }
        break;
      }
      case 3: {
        std::string session = f.blob;
        const size_t at = std::min<size_t>(size_t{in.U8()} * 4, session.size());
        const std::string bytes = in.Sized();
        if (bytes.empty()) session.resize(at);
        for (size_t i = 0; i < bytes.size() && at + i < session.size(); ++i) {
          session[at + i] = static_cast<char>(session[at + i] ^ bytes[i]);
        }
        (void)SecAggClient::Deserialize(session);
        break;
      }
    }
  }
  return 0;
}
