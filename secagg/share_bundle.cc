#include "secagg/share_bundle.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "secagg/shamir.h"

namespace cohort::secagg {
namespace {

constexpr uint8_t kVersion = 1;

void AppendI32(std::string& out, int32_t v) {
  const uint32_t u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

int32_t ReadI32(absl::string_view s) {
  uint32_t u = 0;
  for (int i = 0; i < 4; ++i) u |= static_cast<uint32_t>(static_cast<uint8_t>(s[i])) << (8 * i);
  return static_cast<int32_t>(u);
}

}  // namespace

static_assert(kShareBundleSize == 1 + 4 + 4 + 2 * kShamirShareSize);

std::string EncodeShareBundle(const ShareBundle& bundle) {
  std::string out;
  out.reserve(kShareBundleSize);
  out.push_back(static_cast<char>(kVersion));
  AppendI32(out, bundle.sender_index);
  AppendI32(out, bundle.recipient_index);
  out.append(bundle.mask_key_share);
  out.append(bundle.self_mask_seed_share);
  return out;
}

absl::StatusOr<ShareBundle> DecodeShareBundle(absl::string_view bytes) {
  if (bytes.size() != kShareBundleSize) {
    return absl::DataLossError(
        absl::StrCat("share bundle is ", bytes.size(), " bytes, expected ", kShareBundleSize));
  }
  if (static_cast<uint8_t>(bytes[0]) != kVersion) {
    return absl::DataLossError(
        absl::StrCat("share bundle version ", static_cast<int>(bytes[0]), " is not supported"));
  }
  ShareBundle b;
  b.sender_index = ReadI32(bytes.substr(1, 4));
  b.recipient_index = ReadI32(bytes.substr(5, 4));
  b.mask_key_share = std::string(bytes.substr(9, kShamirShareSize));
  b.self_mask_seed_share = std::string(bytes.substr(9 + kShamirShareSize, kShamirShareSize));
  return b;
}

}  // namespace cohort::secagg
