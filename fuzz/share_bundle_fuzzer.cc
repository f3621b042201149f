// A device's decoding of a neighbour's share bundle once it opened (secagg/share_bundle.h): the
// neighbour sealed the plaintext itself, so every byte is its choice. Properties: whatever
// decodes encodes back to the same bytes; and read as a bundle's fields (i32 sender, i32
// recipient, 40-byte shares), the input encodes to kShareBundleSize bytes that decode to those
// fields.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz/fuzz_input.h"
#include "secagg/share_bundle.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  cohort::secagg::ShareBundle b{.sender_index = 3,
                                .recipient_index = 7,
                                .mask_key_share = std::string(40, '\x11'),
                                .self_mask_seed_share = std::string(40, '\x22')};
  cohort::fuzz::MaybeWriteSeeds(*argc, *argv, {cohort::secagg::EncodeShareBundle(b)});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<cohort::secagg::ShareBundle> bundle = cohort::secagg::DecodeShareBundle(bytes);
  if (bundle.ok() && cohort::secagg::EncodeShareBundle(*bundle) != bytes) std::abort();

  cohort::fuzz::Input in(data, size);
  cohort::secagg::ShareBundle fields;
  fields.sender_index = static_cast<int32_t>(in.U64(4));
  fields.recipient_index = static_cast<int32_t>(in.U64(4));
  fields.mask_key_share = in.Bytes(40);
  fields.mask_key_share.resize(40);
  fields.self_mask_seed_share = in.Bytes(40);
  fields.self_mask_seed_share.resize(40);
  const std::string encoded = cohort::secagg::EncodeShareBundle(fields);
  if (encoded.size() != cohort::secagg::kShareBundleSize) std::abort();
  absl::StatusOr<cohort::secagg::ShareBundle> back = cohort::secagg::DecodeShareBundle(encoded);
  if (!back.ok() || back->sender_index != fields.sender_index ||
      back->recipient_index != fields.recipient_index ||
      back->mask_key_share != fields.mask_key_share ||
      back->self_mask_seed_share != fields.self_mask_seed_share) {
    std::abort();
  }
  return 0;
}
