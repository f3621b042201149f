// A device's decoding of a neighbour's share bundle once it opened (secagg/share_bundle.h): the
// neighbour sealed the plaintext itself, so every byte is its choice. Property: whatever decodes
// encodes back to the same bytes.

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
  if (!bundle.ok()) return 0;
  if (cohort::secagg::EncodeShareBundle(*bundle) != bytes) std::abort();
  return 0;
}
