#include "secagg/client_session.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "secagg/prg.h"
#include "secagg/shamir.h"
#include "secagg/share_encryption.h"

namespace cohort::secagg {
namespace {

constexpr absl::string_view kMagic = "CSAC";
constexpr uint8_t kFormatVersion = 1;
// Elements masked per pass over all streams: 64 KiB of values stays in L2 while every
// neighbour's keystream is added, instead of streaming the whole chunk from memory per neighbour.
constexpr size_t kMaskBlock = 8192;

class Writer {
 public:
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
  bool done() const { return in_.empty(); }

 private:
  absl::string_view in_;
};

absl::Status ValidateOptions(const SecAggClientOptions& o) {
  if (o.num_participants < 2) {
    return absl::InvalidArgumentError(absl::StrCat("num_participants ", o.num_participants,
                                                   " must be >= 2"));
  }
  if (o.self_index < 1 || o.self_index > o.num_participants) {
    return absl::InvalidArgumentError(absl::StrCat("self_index ", o.self_index,
                                                   " is outside 1..", o.num_participants));
  }
  const int32_t k = std::min(o.neighbour_degree, o.num_participants - 1);
  if (o.threshold < 1 || o.threshold > k) {
    return absl::InvalidArgumentError(
        absl::StrCat("threshold ", o.threshold, " is outside 1..", k, " (the degree)"));
  }
  if (o.modulus_bits < kMinModulusBits || o.modulus_bits > kMaxModulusBits) {
    return absl::InvalidArgumentError(absl::StrCat("modulus_bits ", o.modulus_bits,
                                                   " is outside [8, 62]"));
  }
  return absl::OkStatus();
}

std::vector<int32_t> Sorted(absl::Span<const int32_t> v) {
  std::vector<int32_t> out(v.begin(), v.end());
  std::sort(out.begin(), out.end());
  return out;
}

void Wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
}

}  // namespace

SecAggClient::SecAggClient(SecAggClientOptions options, NeighbourGraph graph, KeyPair cipher_keys,
                           KeyPair mask_keys, SecretKey self_mask_seed)
    : options_(std::move(options)),
      graph_(std::move(graph)),
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
    const SecAggClientOptions& options, RandomSource& random) {
  COHORT_RETURN_IF_ERROR(ValidateOptions(options));
  COHORT_ASSIGN_OR_RETURN(NeighbourGraph graph,
                          NeighbourGraph::Create(options.num_participants,
                                                 options.neighbour_degree, options.graph_seed));
  KeyPair cipher_keys = KeyPair::Generate(random);
  KeyPair mask_keys = KeyPair::Generate(random);
  SecretKey seed;
  random.Fill(absl::MakeSpan(seed.mutable_data(), SecretKey::size()));
  return std::unique_ptr<SecAggClient>(new SecAggClient(
      options, std::move(graph), std::move(cipher_keys), std::move(mask_keys), seed));
}

std::string SecAggClient::Serialize() const {
  Writer w;
  w.Raw(kMagic);
  w.U8(kFormatVersion);
  w.Str(options_.round_id);
  w.I32(options_.self_index);
  w.I32(options_.num_participants);
  w.I32(options_.neighbour_degree);
  w.I32(options_.threshold);
  w.Str(options_.graph_seed);
  w.I32(options_.modulus_bits);
  w.Raw(cipher_keys_.private_key().ToBytes());
  w.Raw(mask_keys_.private_key().ToBytes());
  w.Raw(self_mask_seed_.ToBytes());
  w.U8(shared_keys_ ? 1 : 0);
  w.U8(received_shares_ ? 1 : 0);
  w.I32(static_cast<int32_t>(neighbours_.size()));
  for (const auto& [index, n] : neighbours_) {
    w.I32(index);
    w.Raw(n.keys.cipher_public_key.ToBytes());
    w.Raw(n.keys.mask_public_key.ToBytes());
    w.Str(n.outgoing_ciphertext);
    w.U8(n.sent_shares ? 1 : 0);
    w.Str(n.mask_key_share);
    w.Str(n.self_mask_seed_share);
    w.Raw(n.pairwise_seed.ToBytes());
  }
  w.U8(answered_.has_value() ? 1 : 0);
  if (answered_.has_value()) {
    for (const std::vector<int32_t>* list : {&answered_->first, &answered_->second}) {
      w.I32(static_cast<int32_t>(list->size()));
      for (int32_t i : *list) w.I32(i);
    }
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
  if (!r.Str(o.round_id) || !r.I32(o.self_index) || !r.I32(o.num_participants) ||
      !r.I32(o.neighbour_degree) || !r.I32(o.threshold) || !r.Str(o.graph_seed) ||
      !r.I32(o.modulus_bits)) {
    return corrupt;
  }
  COHORT_RETURN_IF_ERROR(ValidateOptions(o));
  COHORT_ASSIGN_OR_RETURN(
      NeighbourGraph graph,
      NeighbourGraph::Create(o.num_participants, o.neighbour_degree, o.graph_seed));
  std::string cipher_priv, mask_priv, seed_bytes;
  if (!r.Raw(32, cipher_priv) || !r.Raw(32, mask_priv) || !r.Raw(32, seed_bytes)) return corrupt;
  COHORT_ASSIGN_OR_RETURN(PrivateKey cp, PrivateKey::FromBytes(cipher_priv));
  COHORT_ASSIGN_OR_RETURN(PrivateKey mp, PrivateKey::FromBytes(mask_priv));
  COHORT_ASSIGN_OR_RETURN(SecretKey seed, SecretKey::FromBytes(seed_bytes));
  Wipe(cipher_priv);
  Wipe(mask_priv);
  Wipe(seed_bytes);
  COHORT_ASSIGN_OR_RETURN(KeyPair cipher_keys, KeyPair::FromPrivateKey(cp));
  COHORT_ASSIGN_OR_RETURN(KeyPair mask_keys, KeyPair::FromPrivateKey(mp));
  std::unique_ptr<SecAggClient> client(new SecAggClient(
      o, std::move(graph), std::move(cipher_keys), std::move(mask_keys), seed));
  uint8_t shared = 0, received = 0;
  int32_t count = 0;
  if (!r.U8(shared) || !r.U8(received) || !r.I32(count) || count < 0 ||
      count > o.num_participants) {
    return corrupt;
  }
  client->shared_keys_ = shared != 0;
  client->received_shares_ = received != 0;
  for (int32_t i = 0; i < count; ++i) {
    Neighbour n;
    std::string cpk, mpk, pairwise;
    uint8_t sent = 0;
    if (!r.I32(n.keys.index) || !r.Raw(32, cpk) || !r.Raw(32, mpk) ||
        !r.Str(n.outgoing_ciphertext) || !r.U8(sent) || !r.Str(n.mask_key_share) ||
        !r.Str(n.self_mask_seed_share) || !r.Raw(32, pairwise)) {
      return corrupt;
    }
    if (!client->graph_.AreNeighbours(o.self_index, n.keys.index)) return corrupt;
    COHORT_ASSIGN_OR_RETURN(n.keys.cipher_public_key, PublicKey::FromBytes(cpk));
    COHORT_ASSIGN_OR_RETURN(n.keys.mask_public_key, PublicKey::FromBytes(mpk));
    COHORT_ASSIGN_OR_RETURN(n.pairwise_seed, SecretKey::FromBytes(pairwise));
    Wipe(pairwise);
    n.sent_shares = sent != 0;
    const int32_t index = n.keys.index;
    client->neighbours_.emplace(index, std::move(n));
  }
  uint8_t answered = 0;
  if (!r.U8(answered)) return corrupt;
  if (answered != 0) {
    std::vector<int32_t> lists[2];
    for (std::vector<int32_t>& list : lists) {
      int32_t size = 0;
      if (!r.I32(size) || size < 0 || size > o.num_participants) return corrupt;
      list.resize(static_cast<size_t>(size));
      for (int32_t& v : list) {
        if (!r.I32(v)) return corrupt;
      }
    }
    client->answered_ = std::make_pair(std::move(lists[0]), std::move(lists[1]));
  }
  if (!r.done()) return corrupt;
  return client;
}

absl::StatusOr<std::vector<EncryptedShare>> SecAggClient::ShareKeys(
    absl::Span<const NeighbourPublicKeys> neighbours, RandomSource& random) {
  const int32_t self = options_.self_index;
  std::set<int32_t> seen;
  for (const NeighbourPublicKeys& n : neighbours) {
    if (!graph_.AreNeighbours(self, n.index)) {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", n.index, " is not a neighbour of device ", self));
    }
    if (!seen.insert(n.index).second) {
      return absl::InvalidArgumentError(absl::StrCat("neighbour ", n.index, " is listed twice"));
    }
  }
  if (shared_keys_) {
    // A resumed device may be asked again: the same neighbours and keys get the same
    // ciphertexts; fresh shares for a different set could hand out extra points.
    bool same = neighbours.size() == neighbours_.size();
    for (const NeighbourPublicKeys& n : neighbours) {
      auto it = neighbours_.find(n.index);
      same = same && it != neighbours_.end() &&
             it->second.keys.cipher_public_key == n.cipher_public_key &&
             it->second.keys.mask_public_key == n.mask_public_key;
    }
    if (!same) {
      return absl::FailedPreconditionError(
          "ShareKeys was already answered for a different set of neighbours or keys");
    }
    std::vector<EncryptedShare> out;
    for (const NeighbourPublicKeys& n : neighbours) {
      out.push_back({n.index, neighbours_.at(n.index).outgoing_ciphertext});
    }
    return out;
  }
  if (static_cast<int32_t>(neighbours.size()) < options_.threshold) {
    return absl::FailedPreconditionError(
        absl::StrCat("only ", neighbours.size(), " neighbours advertised keys, fewer than the "
                     "threshold ", options_.threshold));
  }
  std::vector<int32_t> xs;
  for (const NeighbourPublicKeys& n : neighbours) xs.push_back(n.index);
  COHORT_ASSIGN_OR_RETURN(SecretKey mask_secret,
                          SecretKey::FromBytes(mask_keys_.private_key().ToBytes()));
  COHORT_ASSIGN_OR_RETURN(std::vector<std::string> key_shares,
                          ShamirSplit(mask_secret, options_.threshold, xs, random));
  COHORT_ASSIGN_OR_RETURN(std::vector<std::string> seed_shares,
                          ShamirSplit(self_mask_seed_, options_.threshold, xs, random));
  std::map<int32_t, Neighbour> staged;
  std::vector<EncryptedShare> out;
  for (size_t i = 0; i < neighbours.size(); ++i) {
    const NeighbourPublicKeys& n = neighbours[i];
    COHORT_ASSIGN_OR_RETURN(SecretKey key,
                            DeriveShareEncryptionKey(cipher_keys_, self, n.cipher_public_key,
                                                     n.index, options_.round_id));
    ShareBundle bundle{self, n.index, key_shares[i], seed_shares[i]};
    std::string plaintext = EncodeShareBundle(bundle);
    absl::StatusOr<std::string> ct =
        SealShareBundle(key, options_.round_id, self, n.index, plaintext, random);
    Wipe(plaintext);
    Wipe(bundle.mask_key_share);
    Wipe(bundle.self_mask_seed_share);
    Wipe(key_shares[i]);
    Wipe(seed_shares[i]);
    if (!ct.ok()) return ct.status();
    Neighbour entry;
    entry.keys = n;
    entry.outgoing_ciphertext = *ct;
    staged.emplace(n.index, std::move(entry));
    out.push_back({n.index, *std::move(ct)});
  }
  neighbours_ = std::move(staged);
  shared_keys_ = true;
  return out;
}

absl::Status SecAggClient::ReceiveShares(absl::Span<const EncryptedShare> incoming) {
  if (!shared_keys_) {
    return absl::FailedPreconditionError("ReceiveShares before ShareKeys");
  }
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
    for (const auto& [index, n] : neighbours_) {
      if (n.sent_shares) before.insert(index);
    }
    if (before != senders) {
      return absl::FailedPreconditionError(
          "ReceiveShares was already called with a different set of senders");
    }
    return absl::OkStatus();
  }
  if (static_cast<int32_t>(senders.size()) < options_.threshold) {
    return absl::FailedPreconditionError(
        absl::StrCat("only ", senders.size(), " neighbours completed ShareKeys, fewer than the "
                     "threshold ", options_.threshold));
  }
  struct Opened {
    int32_t index;
    ShareBundle bundle;
    SecretKey seed;
  };
  std::vector<Opened> opened;
  for (const EncryptedShare& e : incoming) {
    const Neighbour& n = neighbours_.at(e.index);
    COHORT_ASSIGN_OR_RETURN(SecretKey key,
                            DeriveShareEncryptionKey(cipher_keys_, self, n.keys.cipher_public_key,
                                                     e.index, options_.round_id));
    COHORT_ASSIGN_OR_RETURN(std::string plaintext,
                            OpenShareBundle(key, options_.round_id, e.index, self, e.ciphertext));
    absl::StatusOr<ShareBundle> bundle = DecodeShareBundle(plaintext);
    Wipe(plaintext);
    if (!bundle.ok()) return bundle.status();
    if (bundle->sender_index != e.index || bundle->recipient_index != self) {
      return absl::DataLossError(absl::StrCat("share bundle from ", e.index,
                                              " names the wrong devices"));
    }
    COHORT_ASSIGN_OR_RETURN(SecretKey seed,
                            DerivePairwiseMaskSeed(mask_keys_, self, n.keys.mask_public_key,
                                                   e.index, options_.round_id));
    opened.push_back({e.index, *std::move(bundle), seed});
  }
  for (Opened& o : opened) {
    Neighbour& n = neighbours_.at(o.index);
    n.sent_shares = true;
    n.mask_key_share = std::move(o.bundle.mask_key_share);
    n.self_mask_seed_share = std::move(o.bundle.self_mask_seed_share);
    n.pairwise_seed = o.seed;
  }
  received_shares_ = true;
  return absl::OkStatus();
}

absl::Status SecAggClient::MaskChunk(int64_t offset, absl::Span<uint64_t> values) {
  if (!received_shares_) {
    return absl::FailedPreconditionError("MaskChunk before ReceiveShares");
  }
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
  COHORT_ASSIGN_OR_RETURN(MaskPrg self_prg, MaskPrg::Create(self_mask_seed_, options_.modulus_bits));
  std::vector<std::pair<MaskPrg, int>> streams;
  for (auto& [index, n] : neighbours_) {
    if (!n.sent_shares) continue;
    COHORT_ASSIGN_OR_RETURN(MaskPrg prg, MaskPrg::Create(n.pairwise_seed, options_.modulus_bits));
    streams.emplace_back(std::move(prg), NeighbourGraph::Sign(options_.self_index, index));
  }
  for (size_t start = 0; start < values.size(); start += kMaskBlock) {
    const size_t len = std::min(kMaskBlock, values.size() - start);
    absl::Span<uint64_t> block = values.subspan(start, len);
    const int64_t at = offset + static_cast<int64_t>(start);
    COHORT_RETURN_IF_ERROR(self_prg.AddTo(at, block));
    for (auto& [prg, sign] : streams) {
      COHORT_RETURN_IF_ERROR(sign > 0 ? prg.AddTo(at, block) : prg.SubtractFrom(at, block));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<UnmaskingShare>> SecAggClient::Unmask(
    absl::Span<const int32_t> surviving, absl::Span<const int32_t> dropped) {
  if (!received_shares_) {
    return absl::FailedPreconditionError("unmasking request before ReceiveShares");
  }
  std::vector<int32_t> s = Sorted(surviving);
  std::vector<int32_t> d = Sorted(dropped);
  if (std::adjacent_find(s.begin(), s.end()) != s.end() ||
      std::adjacent_find(d.begin(), d.end()) != d.end()) {
    return absl::FailedPreconditionError("unmasking request lists a neighbour twice");
  }
  std::vector<int32_t> both;
  std::set_intersection(s.begin(), s.end(), d.begin(), d.end(), std::back_inserter(both));
  if (!both.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("unmasking request asks for both shares of device(s) ",
                     absl::StrJoin(both, ", "), "; refusing"));
  }
  std::vector<int32_t> listed;
  std::merge(s.begin(), s.end(), d.begin(), d.end(), std::back_inserter(listed));
  std::vector<int32_t> senders;
  for (const auto& [index, n] : neighbours_) {
    if (n.sent_shares) senders.push_back(index);
  }
  if (listed != senders) {
    return absl::FailedPreconditionError(absl::StrCat(
        "unmasking request lists [", absl::StrJoin(listed, ", "),
        "] but the neighbours that sent shares are [", absl::StrJoin(senders, ", "), "]"));
  }
  if (static_cast<int32_t>(s.size()) < options_.threshold) {
    return absl::FailedPreconditionError(
        absl::StrCat("only ", s.size(), " neighbours survived, fewer than the threshold ",
                     options_.threshold, "; refusing to help unmask"));
  }
  if (answered_.has_value() && (answered_->first != s || answered_->second != d)) {
    return absl::FailedPreconditionError(
        "a different unmasking request was already answered; refusing");
  }
  answered_ = std::make_pair(s, d);
  std::vector<UnmaskingShare> out;
  out.reserve(listed.size());
  for (int32_t v : surviving) {
    out.push_back({v, ShareKind::kSelfMaskSeed, neighbours_.at(v).self_mask_seed_share});
  }
  for (int32_t v : dropped) {
    out.push_back({v, ShareKind::kMaskKey, neighbours_.at(v).mask_key_share});
  }
  return out;
}

std::vector<int32_t> SecAggClient::masking_neighbours() const {
  std::vector<int32_t> out;
  for (const auto& [index, n] : neighbours_) {
    if (n.sent_shares) out.push_back(index);
  }
  return out;
}

}  // namespace cohort::secagg
