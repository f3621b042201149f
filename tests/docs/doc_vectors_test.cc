// The byte-level constructions of docs/secagg.md and docs/codec.md against the code: every
// ```test-vector <kind>``` block in docs/*.md is read at test time and the real functions must
// reproduce each of its values. A vector edited in a doc, a key renamed, or a change in the code
// fails here, and so does a doc that has lost every vector of a kind this test expects.
//
// Block format (one `key: value` per line; hex without spaces, lists separated by spaces):
//   ```test-vector prg
//   seed: 000102...
//   modulus_bits: 20
//   ```

#include <openssl/evp.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "codec/splitmix64.h"
#include "secagg/key_agreement.h"
#include "secagg/neighbour_graph.h"
#include "secagg/prg.h"
#include "secagg/random_source.h"
#include "secagg/shamir.h"

namespace cohort {
namespace {

struct Vector {
  std::string kind;
  std::string where;  // file:line of the opening fence, for failure messages
  std::map<std::string, std::string> values;
};

std::vector<Vector> ReadVectors() {
  std::vector<Vector> out;
  const std::filesystem::path docs = std::filesystem::path(COHORT_SOURCE_DIR) / "docs";
  REQUIRE(std::filesystem::is_directory(docs));
  for (const auto& entry : std::filesystem::directory_iterator(docs)) {
    if (entry.path().extension() != ".md") continue;
    std::ifstream in(entry.path());
    REQUIRE(in.good());
    std::string line;
    int number = 0;
    Vector* open = nullptr;
    while (std::getline(in, line)) {
      ++number;
      absl::string_view rest = line;
      if (open == nullptr) {
        if (absl::ConsumePrefix(&rest, "```test-vector ")) {
          out.push_back(Vector{std::string(rest),
                               absl::StrCat(entry.path().filename().string(), ":", number), {}});
          open = &out.back();
        }
        continue;
      }
      if (line == "```") {
        open = nullptr;
        continue;
      }
      const std::vector<std::string> kv = absl::StrSplit(line, absl::MaxSplits(": ", 1));
      INFO(open->where << ": " << line);
      REQUIRE(kv.size() == 2);
      REQUIRE(open->values.emplace(kv[0], kv[1]).second);
    }
    INFO(entry.path().filename().string() << ": a test-vector block is not closed");
    REQUIRE(open == nullptr);
  }
  return out;
}

// Hands out the recorded bytes, in order, as a device's random source would.
class ReplayRandom : public secagg::RandomSource {
 public:
  explicit ReplayRandom(std::string bytes) : bytes_(std::move(bytes)) {}
  void Fill(absl::Span<uint8_t> out) override {
    REQUIRE(pos_ + out.size() <= bytes_.size());
    for (uint8_t& b : out) b = static_cast<uint8_t>(bytes_[pos_++]);
  }
  bool exhausted() const { return pos_ == bytes_.size(); }

 private:
  std::string bytes_;
  size_t pos_ = 0;
};

// Takes the values out one by one, so that a key the test does not check is an error.
class Fields {
 public:
  explicit Fields(const Vector& v) : v_(v), left_(v.values) {}
  ~Fields() = default;

  std::string Text(const std::string& key) {
    INFO(v_.where << ": missing key '" << key << "'");
    REQUIRE(left_.count(key) == 1);
    std::string value = left_[key];
    left_.erase(key);
    return value;
  }
  std::string Hex(const std::string& key) {
    const std::string hex = Text(key);
    INFO(v_.where << ": '" << key << "' is not hex");
    REQUIRE(hex.size() % 2 == 0);
    REQUIRE(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
    return absl::HexStringToBytes(hex);
  }
  int64_t Int(const std::string& key) {
    int64_t v = 0;
    INFO(v_.where << ": '" << key << "' is not an integer");
    REQUIRE(absl::SimpleAtoi(Text(key), &v));
    return v;
  }
  std::vector<uint64_t> List(const std::string& key, int base = 10) {
    std::vector<uint64_t> out;
    for (absl::string_view item : absl::StrSplit(Text(key), ' ', absl::SkipEmpty())) {
      uint64_t v = 0;
      INFO(v_.where << ": '" << key << "' holds '" << item << "'");
      REQUIRE((base == 16 ? absl::SimpleHexAtoi(item, &v) : absl::SimpleAtoi(item, &v)));
      out.push_back(v);
    }
    return out;
  }
  bool Has(const std::string& key) const { return left_.count(key) == 1; }
  void ExpectAllChecked() {
    std::string unused;
    for (const auto& [key, value] : left_) absl::StrAppend(&unused, key, " ");
    INFO(v_.where << ": keys no check reads: " << unused);
    CHECK(left_.empty());
  }

 private:
  const Vector& v_;
  std::map<std::string, std::string> left_;
};

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }
std::string Hex(const secagg::SecretKey& key) { return Hex(key.ToBytes()); }

secagg::SecretKey Key(const std::string& bytes) {
  absl::StatusOr<secagg::SecretKey> key = secagg::SecretKey::FromBytes(bytes);
  REQUIRE(key.ok());
  return *key;
}

secagg::KeyPair Pair(const std::string& private_bytes) {
  absl::StatusOr<secagg::PrivateKey> sk = secagg::PrivateKey::FromBytes(private_bytes);
  REQUIRE(sk.ok());
  absl::StatusOr<secagg::KeyPair> pair = secagg::KeyPair::FromPrivateKey(*sk);
  REQUIRE(pair.ok());
  return *pair;
}

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

void CheckHkdf(const Vector& v) {
  Fields f(v);
  const std::string label = f.Text("label");
  const std::string round_id = f.Text("round_id");
  const std::string plan_digest = f.Hex("plan_digest");
  const int32_t index_a = static_cast<int32_t>(f.Int("index_a"));
  const int32_t index_b = static_cast<int32_t>(f.Int("index_b"));
  const secagg::KeyPair a = Pair(f.Hex("private_a"));
  const secagg::KeyPair b = Pair(f.Hex("private_b"));
  CHECK(Hex(a.public_key().ToBytes()) == Hex(f.Hex("public_a")));
  CHECK(Hex(b.public_key().ToBytes()) == Hex(f.Hex("public_b")));
  absl::StatusOr<secagg::SecretKey> shared = secagg::X25519Agree(a.private_key(), b.public_key());
  REQUIRE(shared.ok());
  CHECK(Hex(*shared) == Hex(f.Hex("shared_secret")));
  // The documented info and salt, fed to plain HKDF, give the documented key ...
  absl::StatusOr<secagg::SecretKey> okm =
      secagg::HkdfSha256(shared->span(), Bytes(f.Text("salt")), Bytes(f.Hex("info")));
  REQUIRE(okm.ok());
  const std::string expected = Hex(f.Hex("okm"));
  CHECK(Hex(*okm) == expected);
  // ... and so does the library's derivation, from either side of the pair.
  auto derive = secagg::DerivePairwiseMaskSeed;
  if (label == "cohort/secagg/v1 share-encryption") {
    derive = secagg::DeriveShareEncryptionKey;
  } else {
    REQUIRE(label == "cohort/secagg/v1 pairwise-mask");
  }
  absl::StatusOr<secagg::SecretKey> ab =
      derive(a, index_a, b.public_key(), index_b, round_id, plan_digest);
  absl::StatusOr<secagg::SecretKey> ba =
      derive(b, index_b, a.public_key(), index_a, round_id, plan_digest);
  REQUIRE(ab.ok());
  REQUIRE(ba.ok());
  CHECK(Hex(*ab) == expected);
  CHECK(Hex(*ba) == expected);
  f.ExpectAllChecked();
}

void CheckPrg(const Vector& v) {
  Fields f(v);
  const secagg::SecretKey seed = Key(f.Hex("seed"));
  const std::string keystream = f.Hex("keystream");
  std::string raw(keystream.size(), '\0');
  REQUIRE(secagg::RawKeystream(seed, absl::MakeSpan(reinterpret_cast<uint8_t*>(raw.data()),
                                                    raw.size()))
              .ok());
  CHECK(Hex(raw) == Hex(keystream));
  absl::StatusOr<secagg::MaskPrg> prg =
      secagg::MaskPrg::Create(seed, static_cast<int>(f.Int("modulus_bits")));
  REQUIRE(prg.ok());
  const int64_t offset = f.Int("offset");
  const std::vector<uint64_t> elements = f.List("elements");
  REQUIRE(!elements.empty());
  std::vector<uint64_t> got(elements.size());
  REQUIRE(prg->Generate(offset, absl::MakeSpan(got)).ok());
  CHECK(got == elements);
  f.ExpectAllChecked();
}

void CheckGraph(const Vector& v) {
  Fields f(v);
  const std::string seed = f.Hex("seed");
  const std::string input = "cohort/secagg/v1 graph" + seed;
  uint8_t digest[32];
  unsigned int len = 0;
  REQUIRE(EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr) == 1);
  CHECK(Hex(absl::string_view(reinterpret_cast<const char*>(digest), len)) ==
        Hex(f.Hex("prg_key")));
  const int32_t n = static_cast<int32_t>(f.Int("participants"));
  absl::StatusOr<secagg::NeighbourGraph> graph =
      secagg::NeighbourGraph::Create(n, static_cast<int32_t>(f.Int("degree")), seed);
  REQUIRE(graph.ok());
  const std::vector<uint64_t> ring = f.List("ring");
  REQUIRE(ring.size() == static_cast<size_t>(n));
  for (int32_t p = 0; p < n; ++p) {
    INFO(v.where << ": ring position " << p);
    CHECK(static_cast<uint64_t>(graph->IndexAt(p)) == ring[p]);
  }
  int checked = 0;
  for (int32_t index = 1; index <= n; ++index) {
    const std::string key = absl::StrCat("neighbours_of_", index);
    if (!f.Has(key)) continue;
    std::vector<uint64_t> got;
    for (int32_t u : graph->Neighbours(index)) got.push_back(static_cast<uint64_t>(u));
    CHECK(got == f.List(key));
    ++checked;
  }
  CHECK(checked > 0);
  f.ExpectAllChecked();
}

void CheckShamir(const Vector& v) {
  Fields f(v);
  const secagg::SecretKey secret = Key(f.Hex("secret"));
  const int threshold = static_cast<int>(f.Int("threshold"));
  std::vector<int32_t> xs;
  for (uint64_t x : f.List("holders")) xs.push_back(static_cast<int32_t>(x));
  ReplayRandom random(f.Hex("random"));
  absl::StatusOr<std::vector<std::string>> shares =
      secagg::ShamirSplit(secret, threshold, xs, random);
  REQUIRE(shares.ok());
  CHECK(random.exhausted());
  std::vector<secagg::ShamirShare> documented;
  for (size_t i = 0; i < xs.size(); ++i) {
    const std::string share = f.Hex(absl::StrCat("share_", xs[i]));
    CHECK(Hex((*shares)[i]) == Hex(share));
    documented.push_back({xs[i], share});
  }
  // Any t of the documented shares give the secret back; here the last t.
  absl::StatusOr<secagg::SecretKey> back = secagg::ShamirReconstruct(
      absl::MakeConstSpan(documented).subspan(documented.size() - threshold), threshold);
  REQUIRE(back.ok());
  CHECK(Hex(*back) == Hex(secret));
  f.ExpectAllChecked();
}

void CheckMixSeed(const Vector& v) {
  Fields f(v);
  const std::vector<uint64_t> seed = f.List("seed", 16);
  const std::vector<uint64_t> stream = f.List("stream", 16);
  REQUIRE(seed.size() == 1);
  REQUIRE(stream.size() == 1);
  const uint64_t mixed = codec::MixSeed(seed[0], stream[0]);
  CHECK(f.List("mixed", 16) == std::vector<uint64_t>{mixed});
  const std::vector<uint64_t> outputs = f.List("outputs", 16);
  REQUIRE(!outputs.empty());
  codec::SplitMix64 rng(mixed);
  for (size_t j = 0; j < outputs.size(); ++j) {
    INFO(v.where << ": output " << j);
    CHECK(rng.Next() == outputs[j]);
    CHECK(codec::SplitMix64::At(mixed, j) == outputs[j]);
  }
  const std::vector<uint64_t> units = f.List("unit_doubles_times_2^53");
  REQUIRE(units.size() == outputs.size());
  for (size_t j = 0; j < units.size(); ++j) {
    CHECK(codec::ToUnitDouble(outputs[j]) * 0x1.0p53 == static_cast<double>(units[j]));
  }
  f.ExpectAllChecked();
}

TEST_CASE("DocVectors_EveryVectorInTheDocsIsReproducedByTheCode") {
  const std::map<std::string, void (*)(const Vector&)> checks = {
      {"hkdf", CheckHkdf},     {"prg", CheckPrg},         {"graph", CheckGraph},
      {"shamir", CheckShamir}, {"mixseed", CheckMixSeed},
  };
  std::map<std::string, int> seen;
  for (const Vector& v : ReadVectors()) {
    INFO(v.where << ": test-vector " << v.kind);
    REQUIRE(checks.count(v.kind) == 1);
    checks.at(v.kind)(v);
    ++seen[v.kind];
  }
  for (const auto& [kind, unused] : checks) {
    INFO("no test-vector " << kind << " block in docs/");
    CHECK(seen[kind] > 0);
  }
}

}  // namespace
}  // namespace cohort
