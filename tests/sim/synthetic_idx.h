#ifndef COHORT_TESTS_SIM_SYNTHETIC_IDX_H_
#define COHORT_TESTS_SIM_SYNTHETIC_IDX_H_

// A small Fashion-MNIST-shaped data set for cohort-sim tests, in the dataset's own gzipped IDX
// files, so the tests need no package data.

#include <cstdint>
#include <string>

namespace cohort::sim_test {

// Writes `dir`/`split`-images-idx3-ubyte.gz and -labels-idx1-ubyte.gz with `n` 28x28 images
// whose class is a bright horizontal band (rows 2c..2c+3) over faint noise: easy to learn, so a
// few rounds reach high accuracy. Fails the running Catch2 test if a file cannot be written.
void WriteSplit(const std::string& dir, const std::string& split, int n, uint32_t seed);

}  // namespace cohort::sim_test

#endif  // COHORT_TESTS_SIM_SYNTHETIC_IDX_H_
