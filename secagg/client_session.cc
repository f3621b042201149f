#include "secagg/client_session.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "secagg/mask_streams.h"
#include "secagg/prg.h"
#include "secagg/shamir.h"
#include "secagg/share_encryption.h"
#include "secagg/signed_messages.h"

namespace cohort::secagg {
namespace {

constexpr absl::string_view kMagic = "CSAC";
constexpr uint8_t kFormatVersion = 2;
// Elements masked per pass over all streams: 64 KiB of values stays in L2 while every
// neighbour's keystream is added, instead of streaming the whole chunk from memory per neighbour.

class Writer {
 public:
  ~Writer() { OPENSSL_cleanse(out_.data(), out_.size()); }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void I32(int32_t v) {
    const uint32_t u = static_cast<uint32_t>(v);
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  void Str(absl::string_view s) {
    I32(static_cast<int32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  void Raw(absl::string_view s) { out_.append(s.data(), s.size()); }
  void List(const std::vector<int32_t>& list) {
    I32(static_cast<int32_t>(list.size()));
    for (int32_t v : list) I32(v);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}
  bool U8(uint8_t& v) {
    if (in_.empty()) return false;
    v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool I32(int32_t& v) {
    if (in_.size() < 4) return false;
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    v = static_cast<int32_t>(u);
    in_.remove_prefix(4);
    return true;
  }
  bool Str(std::string& s) {
    int32_t len = 0;
    if (!I32(len) || len < 0 || in_.size() < static_cast<size_t>(len)) return false;
    s.assign(in_.data(), static_cast<size_t>(len));
    in_.remove_prefix(static_cast<size_t>(len));
    return true;
  }
  bool Raw(size_t n, std::string& s) {
    if (in_.size() < n) return false;
    s.assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool List(std::vector<int32_t>& list, int32_t max) {
    int32_t size = 0;
    if (!I32(size) || size < 0 || size > max) return false;
    list.resize(static_cast<size_t>(size));
    for (int32_t& v : list) {
      if (!I32(v)) return false;
    }
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  absl::string_view in_;
};

void Wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
}

absl::Status ValidateOptions(const SecAggClientOptions& o) {
  if (o.num_participants < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_participants ", o.num_participants, " must be >= 2"));
  }
  if (o.self_index < 1 || o.self_index > o.num_participants) {
    return absl::InvalidArgumentError(
        absl::StrCat("self_index ", o.self_index, " is outside 1..", o.num_participants));
  }
  const int32_t k = std::min(o.neighbour_degree, o.num_participants - 1);
  // One share must never be enough to rebuild a secret.
  if (o.threshold < 2 || o.threshold > k) {
    return absl::InvalidArgumentError(
        absl::StrCat("threshold ", o.threshold, " is outside 2..", k, " (the degree)"));
  }
  // Against a server that lies about who dropped, the two requests it could split a neighbourhood
  // into must not both reach t: 2t > k + (corrupt neighbours) >= k.
  if (o.threat_model == ThreatModel::kSemiMalicious && int64_t{2} * o.threshold <= k) {
    return absl::InvalidArgumentError(
        absl::StrCat("threshold ", o.threshold, " is at most half the degree ", k,
                     ", which the semi-malicious model cannot allow"));
  }
  if (o.modulus_bits < kMinModulusBits || o.modulus_bits > kMaxModulusBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("modulus_bits ", o.modulus_bits, " is outside [8, 62]"));
  }
  if (o.plan_digest.size() != kPlanDigestSize) {
    return absl::InvalidArgumentError(absl::StrCat("plan_digest must be ", kPlanDigestSize,
                                                   " bytes, got ", o.plan_digest.size()));
  }
  return absl::OkStatus();
}

std::vector<int32_t> Sorted(absl::Span<const int32_t> v) {
  std::vector<int32_t> out(v.begin(), v.end());
  std::sort(out.begin(), out.end());
  return out;
}

bool HasDuplicates(const std::vector<int32_t>& sorted) {
  return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
}

}  // namespace

SecAggClient::SecAggClient(SecAggClientOptions options, SigningKey identity, KeyPair cipher_keys,
                           KeyPair mask_keys, SecretKey self_mask_seed)
    : options_(std::move(options)),
      identity_(std::move(identity)),
      cipher_keys_(std::move(cipher_keys)),
      mask_keys_(std::move(mask_keys)),
      self_mask_seed_(self_mask_seed) {}

SecAggClient::~SecAggClient() {
  for (auto& [index, n] : neighbours_) {
    Wipe(n.mask_key_share);
    Wipe(n.self_mask_seed_share);
  }
}

absl::StatusOr<std::unique_ptr<SecAggClient>> SecAggClient::Create(
    const SecAggClientOptions& options, const SigningKey& identity, RandomSource& random) {
  COHORT_RETURN_IF_ERROR(ValidateOptions(options));
  KeyPair cipher_keys = KeyPair::Generate(random);
  KeyPair mask_keys = KeyPair::Generate(random);
  SecretKey seed;
  random.Fill(absl::MakeSpan(seed.mutable_data(), SecretKey::size()));
  return std::unique_ptr<SecAggClient>(
      new SecAggClient(options, identity, std::move(cipher_keys), std::move(mask_keys), seed));
}

std::string SecAggClient::Serialize() const {
  Writer w;
  w.Raw(kMagic);
  w.U8(kFormatVersion);
  w.Str(options_.round_id);
  w.Str(options_.plan_digest);
  w.I32(options_.self_index);
  w.I32(options_.num_participants);
  w.I32(options_.neighbour_degree);
  w.I32(options_.threshold);
  w.I32(options_.modulus_bits);
  w.U8(options_.threat_model == ThreatModel::kSemiMalicious ? 1 : 0);
  std::string secret = identity_.SeedBytes();
  w.Raw(secret);
  Wipe(secret);
  secret = cipher_keys_.private_key().ToBytes();
  w.Raw(secret);
  Wipe(secret);
  secret = mask_keys_.private_key().ToBytes();
  w.Raw(secret);
  Wipe(secret);
  secret = self_mask_seed_.ToBytes();
  w.Raw(secret);
  Wipe(secret);
  w.Str(graph_seed_);
  w.Str(roster_root_);
  w.U8(shared_keys_ ? 1 : 0);
  w.U8(received_shares_ ? 1 : 0);
  w.I32(static_cast<int32_t>(neighbours_.size()));
  for (const auto& [index, n] : neighbours_) {
    w.I32(index);
    w.Raw(n.keys.cipher_public_key.ToBytes());
    w.Raw(n.keys.mask_public_key.ToBytes());
    w.Raw(n.keys.signing_key.ToBytes());
    w.Str(n.keys.signature);
    w.Str(n.keys.credential);
    w.Str(n.outgoing_ciphertext);
    w.Str(n.outgoing_signature);
    w.U8(static_cast<uint8_t>((n.sent_shares ? 1 : 0) | (n.unopenable ? 2 : 0)));
    w.Str(n.mask_key_share);
    w.Str(n.self_mask_seed_share);
    secret = n.pairwise_seed.ToBytes();
    w.Raw(secret);
    Wipe(secret);
  }
  w.U8(signed_survivors_.has_value() ? 1 : 0);
  if (signed_survivors_.has_value()) w.List(*signed_survivors_);
  w.U8(answered_.has_value() ? 1 : 0);
  if (answered_.has_value()) {
    for (const std::vector<int32_t>& list : *answered_) w.List(list);
  }
  return w.Take();
}

absl::StatusOr<std::unique_ptr<SecAggClient>> SecAggClient::Deserialize(absl::string_view bytes) {
  const absl::Status corrupt = absl::DataLossError("corrupt serialized SecAggClient");
  Reader r(bytes);
  std::string magic;
  uint8_t version = 0;
  if (!r.Raw(kMagic.size(), magic) || magic != kMagic || !r.U8(version)) return corrupt;
  if (version != kFormatVersion) {
    return absl::DataLossError(
        absl::StrCat("serialized SecAggClient has unsupported version ", version));
  }
  SecAggClientOptions o;
  uint8_t semi = 0;
  if (!r.Str(o.round_id) || !r.Str(o.plan_digest) || !r.I32(o.self_index) ||
      !r.I32(o.num_participants) || !r.I32(o.neighbour_degree) || !r.I32(o.threshold) ||
      !r.I32(o.modulus_bits) || !r.U8(semi)) {
    return corrupt;
  }
  o.threat_model = semi != 0 ? ThreatModel::kSemiMalicious : ThreatModel::kHonestButCurious;
  COHORT_RETURN_IF_ERROR(ValidateOptions(o));
  std::string identity_seed, cipher_priv, mask_priv, seed_bytes;
  const bool read = r.Raw(32, identity_seed) && r.Raw(32, cipher_priv) && r.Raw(32, mask_priv) &&
                    r.Raw(32, seed_bytes);
  absl::StatusOr<SigningKey> identity = SigningKey::FromSeed(identity_seed);
  absl::StatusOr<PrivateKey> cp = PrivateKey::FromBytes(cipher_priv);
  absl::StatusOr<PrivateKey> mp = PrivateKey::FromBytes(mask_priv);
  absl::StatusOr<SecretKey> seed = SecretKey::FromBytes(seed_bytes);
  for (std::string* s : {&identity_seed, &cipher_priv, &mask_priv, &seed_bytes}) Wipe(*s);
  if (!read || !identity.ok() || !cp.ok() || !mp.ok() || !seed.ok()) return corrupt;
  COHORT_ASSIGN_OR_RETURN(KeyPair cipher_keys, KeyPair::FromPrivateKey(*cp));
  COHORT_ASSIGN_OR_RETURN(KeyPair mask_keys, KeyPair::FromPrivateKey(*mp));
  std::unique_ptr<SecAggClient> client(new SecAggClient(
      o, *std::move(identity), std::move(cipher_keys), std::move(mask_keys), *seed));
  uint8_t shared = 0, received = 0;
  int32_t count = 0;
  if (!r.Str(client->graph_seed_) || !r.Str(client->roster_root_) || !r.U8(shared) ||
      !r.U8(received) || !r.I32(count) || count < 0 || count > o.num_participants) {
    return corrupt;
  }
  client->shared_keys_ = shared != 0;
  client->received_shares_ = received != 0;
  if (client->shared_keys_) {
    absl::StatusOr<NeighbourGraph> graph =
        NeighbourGraph::Create(o.num_participants, o.neighbour_degree, client->graph_seed_);
    if (!graph.ok()) return corrupt;
    client->graph_.emplace(*std::move(graph));
  }
  for (int32_t i = 0; i < count; ++i) {
    Neighbour n;
    std::string cpk, mpk, spk, pairwise;
    uint8_t flags = 0;
    if (!r.I32(n.keys.index) || !r.Raw(32, cpk) || !r.Raw(32, mpk) || !r.Raw(32, spk) ||
        !r.Str(n.keys.signature) || !r.Str(n.keys.credential) || !r.Str(n.outgoing_ciphertext) ||
        !r.Str(n.outgoing_signature) || !r.U8(flags) || !r.Str(n.mask_key_share) ||
        !r.Str(n.self_mask_seed_share) || !r.Raw(32, pairwise)) {
      return corrupt;
    }
    if (!client->graph_.has_value() || !client->graph_->AreNeighbours(o.self_index, n.keys.index)) {
      return corrupt;
    }
    absl::StatusOr<PublicKey> c = PublicKey::FromBytes(cpk);
    absl::StatusOr<PublicKey> m = PublicKey::FromBytes(mpk);
    absl::StatusOr<VerifyingKey> s = VerifyingKey::FromBytes(spk);
    absl::StatusOr<SecretKey> p = SecretKey::FromBytes(pairwise);
    Wipe(pairwise);
    if (!c.ok() || !m.ok() || !s.ok() || !p.ok()) return corrupt;
    n.keys.cipher_public_key = *c;
    n.keys.mask_public_key = *m;
    n.keys.signing_key = *s;
    n.pairwise_seed = *p;
    n.sent_shares = (flags & 1) != 0;
    n.unopenable = (flags & 2) != 0;
    const int32_t index = n.keys.index;
    if (!client->neighbours_.emplace(index, std::move(n)).second) return corrupt;
  }
  uint8_t has = 0;
  if (!r.U8(has)) return corrupt;
  if (has != 0) {
    std::vector<int32_t> list;
    if (!r.List(list, o.num_participants)) return corrupt;
    client->signed_survivors_ = std::move(list);
  }
  if (!r.U8(has)) return corrupt;
  if (has != 0) {
    std::vector<std::vector<int32_t>> lists(3);
    for (std::vector<int32_t>& list : lists) {
      if (!r.List(list, o.num_participants)) return corrupt;
    }
    client->answered_ = std::move(lists);
  }
  if (!r.done()) return corrupt;
  return client;
}

absl::StatusOr<Advertisement> SecAggClient::Advertise() const {
  Advertisement a;
  a.cipher_public_key = cipher_keys_.public_key();
  a.mask_public_key = mask_keys_.public_key();
  COHORT_ASSIGN_OR_RETURN(
      a.signature, identity_.Sign(AdvertisementMessage(options_.plan_digest, options_.self_index,
                                                       a.cipher_public_key.ToBytes(),
                                                       a.mask_public_key.ToBytes())));
  return a;
}

absl::StatusOr<std::vector<EncryptedShare>> SecAggClient::ShareKeys(
    const RosterProof& roster, absl::Span<const NeighbourAdvertisement> neighbours,
    const KeyAuthenticityVerifier* verifier, absl::Time now, RandomSource& random) {
  const int32_t self = options_.self_index;
  // The graph comes from a root this device's own fresh keys are part of.
  COHORT_ASSIGN_OR_RETURN(
      std::string root,
      RootFromProof(RosterLeaf({self, cipher_keys_.public_key(), mask_keys_.public_key()}),
                    roster));
  if (shared_keys_) {
    // A resumed device may be asked again: the same neighbours, keys and roster get the same
    // bundles; fresh shares for another set could hand out extra points.
    bool same = root == roster_root_ && neighbours.size() == neighbours_.size();
    for (const NeighbourAdvertisement& n : neighbours) {
      auto it = neighbours_.find(n.index);
      same = same && it != neighbours_.end() &&
             it->second.keys.cipher_public_key == n.cipher_public_key &&
             it->second.keys.mask_public_key == n.mask_public_key &&
             it->second.keys.signing_key == n.signing_key;
    }
    if (!same) {
      return absl::FailedPreconditionError(
          "ShareKeys was already answered for a different roster or set of neighbours");
    }
    std::vector<EncryptedShare> out;
    for (const NeighbourAdvertisement& n : neighbours) {
      const Neighbour& stored = neighbours_.at(n.index);
      out.push_back({n.index, stored.outgoing_ciphertext, stored.outgoing_signature});
    }
    return out;
  }
  const std::string graph_seed = DeriveGraphSeed(options_.plan_digest, root);
  COHORT_ASSIGN_OR_RETURN(
      NeighbourGraph graph,
      NeighbourGraph::Create(options_.num_participants, options_.neighbour_degree, graph_seed));
  if (semi_malicious() && verifier == nullptr) {
    return absl::FailedPreconditionError(
        "the semi-malicious model needs a key-authenticity verifier for the neighbours' keys");
  }
  std::set<int32_t> seen;
  for (const NeighbourAdvertisement& n : neighbours) {
    if (!graph.AreNeighbours(self, n.index)) {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", n.index, " is not a neighbour of device ", self));
    }
    if (!seen.insert(n.index).second) {
      return absl::InvalidArgumentError(absl::StrCat("neighbour ", n.index, " is listed twice"));
    }
    if (absl::Status s = n.signing_key.Verify(
            AdvertisementMessage(options_.plan_digest, n.index, n.cipher_public_key.ToBytes(),
                                 n.mask_public_key.ToBytes()),
            n.signature);
        !s.ok()) {
      return absl::UnauthenticatedError(
          absl::StrCat("neighbour ", n.index, "'s keys are not signed by its key: ", s.message()));
    }
    if (semi_malicious()) {
      if (absl::Status s = verifier->Verify(n.signing_key, n.credential, now); !s.ok()) {
        return absl::UnauthenticatedError(
            absl::StrCat("neighbour ", n.index, "'s signing key is not authentic: ", s.message()));
      }
    }
  }
  if (static_cast<int32_t>(neighbours.size()) < options_.threshold) {
    return absl::FailedPreconditionError(
        absl::StrCat("only ", neighbours.size(),
                     " neighbours advertised keys, fewer than the threshold ", options_.threshold));
  }
  std::vector<int32_t> xs;
  for (const NeighbourAdvertisement& n : neighbours) xs.push_back(n.index);
  std::string mask_bytes = mask_keys_.private_key().ToBytes();
  absl::StatusOr<SecretKey> mask_secret = SecretKey::FromBytes(mask_bytes);
  Wipe(mask_bytes);
  if (!mask_secret.ok()) return mask_secret.status();
  COHORT_ASSIGN_OR_RETURN(std::vector<std::string> key_shares,
                          ShamirSplit(*mask_secret, options_.threshold, xs, random));
  absl::StatusOr<std::vector<std::string>> seed_shares =
      ShamirSplit(self_mask_seed_, options_.threshold, xs, random);
  if (!seed_shares.ok()) {
    for (std::string& s : key_shares) Wipe(s);
    return seed_shares.status();
  }
  std::map<int32_t, Neighbour> staged;
  std::vector<EncryptedShare> out;
  absl::Status failure = absl::OkStatus();
  for (size_t i = 0; i < neighbours.size(); ++i) {
    const NeighbourAdvertisement& n = neighbours[i];
    ShareBundle bundle{self, n.index, key_shares[i], (*seed_shares)[i]};
    std::string plaintext = EncodeShareBundle(bundle);
    Wipe(bundle.mask_key_share);
    Wipe(bundle.self_mask_seed_share);
    Wipe(key_shares[i]);
    Wipe((*seed_shares)[i]);
    if (!failure.ok()) {
      Wipe(plaintext);
      continue;
    }
    absl::StatusOr<SecretKey> key = DeriveShareEncryptionKey(
        cipher_keys_, self, n.cipher_public_key, n.index, options_.round_id, options_.plan_digest);
    absl::StatusOr<std::string> ct =
        key.ok() ? SealShareBundle(*key, options_.round_id, options_.plan_digest, self, n.index,
                                   plaintext, random)
                 : absl::StatusOr<std::string>(key.status());
    Wipe(plaintext);
    absl::StatusOr<std::string> sig =
        ct.ok() ? identity_.Sign(BundleMessage(options_.plan_digest, self, n.index, *ct))
                : absl::StatusOr<std::string>(ct.status());
    if (!sig.ok()) {
      failure = sig.status();
      continue;
    }
    Neighbour entry;
    entry.keys = n;
    entry.outgoing_ciphertext = *ct;
    entry.outgoing_signature = *sig;
    staged.emplace(n.index, std::move(entry));
    out.push_back({n.index, *std::move(ct), *std::move(sig)});
  }
  if (!failure.ok()) return failure;
  neighbours_ = std::move(staged);
  graph_.emplace(std::move(graph));
  graph_seed_ = graph_seed;
  roster_root_ = root;
  shared_keys_ = true;
  return out;
}

absl::StatusOr<std::vector<UnopenableShare>> SecAggClient::ReceiveShares(
    absl::Span<const EncryptedShare> incoming) {
  if (!shared_keys_) return absl::FailedPreconditionError("ReceiveShares before ShareKeys");
  const int32_t self = options_.self_index;
  std::set<int32_t> senders;
  for (const EncryptedShare& e : incoming) {
    if (neighbours_.count(e.index) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shares from device ", e.index, ", which was not given to ShareKeys as a neighbour"));
    }
    if (!senders.insert(e.index).second) {
      return absl::InvalidArgumentError(absl::StrCat("two share bundles from device ", e.index));
    }
  }
  if (received_shares_) {
    std::set<int32_t> before;
    std::vector<UnopenableShare> unopenable;
    for (const auto& [index, n] : neighbours_) {
      if (n.sent_shares) before.insert(index);
      if (n.unopenable) unopenable.push_back({index, n.pairwise_seed});
    }
    if (before != senders) {
      return absl::FailedPreconditionError(
          "ReceiveShares was already called with a different set of senders");
    }
    return unopenable;
  }
  struct Opened {
    int32_t index;
    bool ok;
    ShareBundle bundle;
    SecretKey seed;
  };
  std::vector<Opened> opened;
  int32_t good = 0;
  for (const EncryptedShare& e : incoming) {
    const Neighbour& n = neighbours_.at(e.index);
    // Only the sender can have produced a bundle its key signed: anything else was altered on
    // the way, and then this device reveals nothing about the pair.
    if (absl::Status s = n.keys.signing_key.Verify(
            BundleMessage(options_.plan_digest, e.index, self, e.ciphertext), e.signature);
        !s.ok()) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the share bundle from ", e.index, " is not signed by it (the server altered it)"));
    }
    COHORT_ASSIGN_OR_RETURN(
        SecretKey seed, DerivePairwiseMaskSeed(mask_keys_, self, n.keys.mask_public_key, e.index,
                                               options_.round_id, options_.plan_digest));
    Opened o{e.index, false, {}, seed};
    absl::StatusOr<SecretKey> key =
        DeriveShareEncryptionKey(cipher_keys_, self, n.keys.cipher_public_key, e.index,
                                 options_.round_id, options_.plan_digest);
    absl::StatusOr<std::string> plaintext =
        key.ok() ? OpenShareBundle(*key, options_.round_id, options_.plan_digest, e.index, self,
                                   e.ciphertext)
                 : absl::StatusOr<std::string>(key.status());
    if (plaintext.ok()) {
      absl::StatusOr<ShareBundle> bundle = DecodeShareBundle(*plaintext);
      Wipe(*plaintext);
      if (bundle.ok() && bundle->sender_index == e.index && bundle->recipient_index == self) {
        o.ok = true;
        o.bundle = *std::move(bundle);
        ++good;
      }
    }
    opened.push_back(std::move(o));
  }
  if (good < options_.threshold) {
    for (Opened& o : opened) {
      Wipe(o.bundle.mask_key_share);
      Wipe(o.bundle.self_mask_seed_share);
    }
    return absl::FailedPreconditionError(
        absl::StrCat("only ", good, " neighbours' share bundles open, fewer than the threshold ",
                     options_.threshold));
  }
  std::vector<UnopenableShare> unopenable;
  for (Opened& o : opened) {
    Neighbour& n = neighbours_.at(o.index);
    n.sent_shares = true;
    n.pairwise_seed = o.seed;
    if (o.ok) {
      n.mask_key_share = std::move(o.bundle.mask_key_share);
      n.self_mask_seed_share = std::move(o.bundle.self_mask_seed_share);
    } else {
      n.unopenable = true;
      unopenable.push_back({o.index, o.seed});
    }
  }
  received_shares_ = true;
  return unopenable;
}

absl::Status SecAggClient::MaskChunk(int64_t offset, absl::Span<uint64_t> values) {
  if (!received_shares_) return absl::FailedPreconditionError("MaskChunk before ReceiveShares");
  if (answered_.has_value()) {
    return absl::FailedPreconditionError("MaskChunk after the unmasking request was answered");
  }
  if (offset < 0) return absl::InvalidArgumentError(absl::StrCat("negative offset ", offset));
  uint64_t overflow = 0;
  for (uint64_t v : values) overflow |= v >> options_.modulus_bits;
  if (overflow != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("an input element does not fit in ", options_.modulus_bits, " bits"));
  }
  // Streams are rebuilt per call: key schedules are cheap next to any real chunk, and keeping
  // them would put more secret state in memory for longer.
  MaskStreams streams(options_.modulus_bits);
  COHORT_ASSIGN_OR_RETURN(MaskPrg self_prg, MaskPrg::Create(self_mask_seed_, options_.modulus_bits));
  streams.Add(std::move(self_prg));
  for (auto& [index, n] : neighbours_) {
    if (!n.sent_shares || n.unopenable) continue;
    COHORT_ASSIGN_OR_RETURN(MaskPrg prg, MaskPrg::Create(n.pairwise_seed, options_.modulus_bits));
    if (NeighbourGraph::Sign(options_.self_index, index) > 0) {
      streams.Add(std::move(prg));
    } else {
      streams.Subtract(std::move(prg));
    }
  }
  return streams.ApplyTo(offset, values);
}

absl::StatusOr<std::string> SecAggClient::SignSurvivors(absl::Span<const int32_t> survivors) {
  if (!semi_malicious()) {
    return absl::FailedPreconditionError(
        "the survivor set is signed only in the semi-malicious model");
  }
  if (!received_shares_) {
    return absl::FailedPreconditionError("SignSurvivors before ReceiveShares");
  }
  std::vector<int32_t> s = Sorted(survivors);
  if (HasDuplicates(s) || !std::binary_search(s.begin(), s.end(), options_.self_index) ||
      s.front() < 1 || s.back() > options_.num_participants) {
    return absl::FailedPreconditionError(
        "the survivor set must list distinct participants, this device among them");
  }
  if (static_cast<int32_t>(s.size()) < options_.threshold) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a survivor set of ", s.size(), " is smaller than the threshold ", options_.threshold));
  }
  if (signed_survivors_.has_value() && *signed_survivors_ != s) {
    return absl::FailedPreconditionError(
        "a different survivor set was already signed; refusing to sign another");
  }
  signed_survivors_ = s;
  return identity_.Sign(SurvivorsMessage(options_.plan_digest, graph_seed_, s));
}

absl::Status SecAggClient::CheckSurvivorSignatures(const UnmaskingRequest& request) const {
  if (!signed_survivors_.has_value()) {
    return absl::FailedPreconditionError(
        "unmasking request before this device signed the survivor set");
  }
  if (Sorted(request.survivors) != *signed_survivors_) {
    return absl::FailedPreconditionError(
        "the unmasking request names another survivor set than the one this device signed");
  }
  const std::string message =
      SurvivorsMessage(options_.plan_digest, graph_seed_, *signed_survivors_);
  std::set<int32_t> valid;
  for (const SurvivorSignature& s : request.signatures) {
    auto it = neighbours_.find(s.signer);
    if (it == neighbours_.end() ||
        !std::binary_search(signed_survivors_->begin(), signed_survivors_->end(), s.signer)) {
      continue;  // only neighbours in the set count
    }
    if (it->second.keys.signing_key.Verify(message, s.signature).ok()) valid.insert(s.signer);
  }
  if (static_cast<int32_t>(valid.size()) < options_.threshold) {
    return absl::FailedPreconditionError(absl::StrCat(
        "only ", valid.size(), " neighbours signed the survivor set, fewer than the threshold ",
        options_.threshold, "; refusing to help unmask"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<UnmaskingShare>> SecAggClient::Unmask(const UnmaskingRequest& request) {
  if (!received_shares_) {
    return absl::FailedPreconditionError("unmasking request before ReceiveShares");
  }
  std::vector<std::vector<int32_t>> lists = {Sorted(request.surviving), Sorted(request.dropped),
                                             Sorted(request.excluded)};
  std::vector<int32_t> listed;
  for (const std::vector<int32_t>& l : lists) listed.insert(listed.end(), l.begin(), l.end());
  std::sort(listed.begin(), listed.end());
  if (HasDuplicates(listed)) {
    return absl::FailedPreconditionError(
        "unmasking request lists a neighbour twice (asking for two secrets of it); refusing");
  }
  std::vector<int32_t> opened;
  for (const auto& [index, n] : neighbours_) {
    if (n.sent_shares && !n.unopenable) opened.push_back(index);
  }
  if (listed != opened) {
    return absl::FailedPreconditionError(
        absl::StrCat("unmasking request lists [", absl::StrJoin(listed, ", "),
                     "] but the neighbours whose shares this device holds are [",
                     absl::StrJoin(opened, ", "), "]"));
  }
  if (static_cast<int32_t>(lists[0].size()) < options_.threshold) {
    return absl::FailedPreconditionError(
        absl::StrCat("only ", lists[0].size(), " neighbours survived, fewer than the threshold ",
                     options_.threshold, "; refusing to help unmask"));
  }
  if (semi_malicious()) {
    COHORT_RETURN_IF_ERROR(CheckSurvivorSignatures(request));
    // Who survived follows from the signed set, not from the server's word.
    std::vector<int32_t> expected;
    std::set_intersection(opened.begin(), opened.end(), signed_survivors_->begin(),
                          signed_survivors_->end(), std::back_inserter(expected));
    if (expected != lists[0]) {
      return absl::FailedPreconditionError(
          "the surviving neighbours in the request do not follow from the signed survivor set");
    }
  }
  if (answered_.has_value() && *answered_ != lists) {
    return absl::FailedPreconditionError(
        "a different unmasking request was already answered; refusing");
  }
  answered_ = lists;
  std::vector<UnmaskingShare> out;
  out.reserve(listed.size());
  for (int32_t v : request.surviving) {
    out.push_back({v, ShareKind::kSelfMaskSeed, neighbours_.at(v).self_mask_seed_share});
  }
  for (int32_t v : request.dropped) {
    out.push_back({v, ShareKind::kMaskKey, neighbours_.at(v).mask_key_share});
  }
  for (int32_t v : request.excluded) {
    out.push_back({v, ShareKind::kPairwiseSeed, neighbours_.at(v).pairwise_seed.ToBytes()});
  }
  return out;
}

std::vector<int32_t> SecAggClient::masking_neighbours() const {
  std::vector<int32_t> out;
  for (const auto& [index, n] : neighbours_) {
    if (n.sent_shares && !n.unopenable) out.push_back(index);
  }
  return out;
}

}  // namespace cohort::secagg
