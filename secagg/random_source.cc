#include "secagg/random_source.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <limits>


namespace cohort::secagg {
namespace {

class OsRandomSource : public RandomSource {
 public:
  void Fill(absl::Span<uint8_t> out) override {
    while (!out.empty()) {
      const size_t n = std::min<size_t>(out.size(), std::numeric_limits<int>::max());
      if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) std::abort();
      out.remove_prefix(n);
    }
  }
};

}  // namespace

RandomSource* OsRandom() {
  static OsRandomSource* const kSource = new OsRandomSource();
  return kSource;
}

}  // namespace cohort::secagg
