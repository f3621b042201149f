#include "secagg/signed_messages.h"

namespace cohort::secagg {
namespace {

void U32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void I32(std::string& out, int32_t v) { U32(out, static_cast<uint32_t>(v)); }
void Str(std::string& out, absl::string_view s) {
  U32(out, static_cast<uint32_t>(s.size()));
  out.append(s.data(), s.size());
}

}  // namespace

std::string AdvertisementMessage(absl::string_view plan_digest, int32_t index,
                                 absl::string_view cipher_public_key,
                                 absl::string_view mask_public_key) {
  std::string m = "cohort/secagg/v1 advertise";
  m.append(plan_digest.data(), plan_digest.size());
  I32(m, index);
  m.append(cipher_public_key.data(), cipher_public_key.size());
  m.append(mask_public_key.data(), mask_public_key.size());
  return m;
}

std::string BundleMessage(absl::string_view plan_digest, int32_t sender, int32_t recipient,
                          absl::string_view ciphertext) {
  std::string m = "cohort/secagg/v1 bundle";
  m.append(plan_digest.data(), plan_digest.size());
  I32(m, sender);
  I32(m, recipient);
  Str(m, ciphertext);
  return m;
}

std::string SurvivorsMessage(absl::string_view plan_digest, absl::string_view graph_seed,
                             absl::Span<const int32_t> survivors) {
  std::string m = "cohort/secagg/v1 survivors";
  m.append(plan_digest.data(), plan_digest.size());
  m.append(graph_seed.data(), graph_seed.size());
  U32(m, static_cast<uint32_t>(survivors.size()));
  for (int32_t s : survivors) I32(m, s);
  return m;
}

std::string CheckInMessage(absl::string_view population, absl::string_view device_id) {
  std::string m = "cohort/v1 check-in";
  Str(m, population);
  Str(m, device_id);
  return m;
}

}  // namespace cohort::secagg
