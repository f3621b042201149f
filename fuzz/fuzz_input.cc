#include "fuzz/fuzz_input.h"

#include <cstdlib>
#include <fstream>
#include <vector>

namespace cohort::fuzz {

void MaybeWriteSeeds(int argc, char** argv, const std::vector<std::string>& seeds) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) != "--write-seeds") continue;
    for (size_t s = 0; s < seeds.size(); ++s) {
      std::ofstream(std::string(argv[i + 1]) + "/seed_" + std::to_string(s), std::ios::binary)
          << seeds[s];
    }
    std::exit(0);
  }
}

}  // namespace cohort::fuzz
