#include "privacy/hadamard.h"

#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "secagg/testing/fake_random_source.h"

namespace cohort::privacy {
namespace {

std::string Seed(uint64_t n) {
  std::string seed(32, '\0');
  secagg::FakeRandomSource source(n);
  source.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(seed.data()), seed.size()));
  return seed;
}

double Norm(absl::Span<const double> v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

TEST_CASE("PaddedDimension_RoundsUpToAPowerOfTwo") {
  CHECK(PaddedDimension(1) == 1);
  CHECK(PaddedDimension(2) == 2);
  CHECK(PaddedDimension(3) == 4);
  CHECK(PaddedDimension(7850) == 8192);
  CHECK(PaddedDimension(8192) == 8192);
  CHECK(PaddedDimension(8193) == 16384);
}

TEST_CASE("FastWalshHadamard_MatchesTheSylvesterMatrix") {
  // H_4 = [[1,1,1,1],[1,-1,1,-1],[1,1,-1,-1],[1,-1,-1,1]]; H_4 * (1, 2, 3, 4).
  std::vector<double> v = {1, 2, 3, 4};
  REQUIRE(FastWalshHadamard(absl::MakeSpan(v)));
  CHECK(v == std::vector<double>{10, -2, -4, 0});
  // H H = n I.
  REQUIRE(FastWalshHadamard(absl::MakeSpan(v)));
  CHECK(v == std::vector<double>{4, 8, 12, 16});
  std::vector<double> odd = {1, 2, 3};
  CHECK_FALSE(FastWalshHadamard(absl::MakeSpan(odd)));
}

TEST_CASE("RandomizedHadamard_PreservesTheNormAndInvertsExactly") {
  for (int64_t d : {1, 5, 100, 1000, 4096}) {
    auto rotation = RandomizedHadamard::Create(d, Seed(static_cast<uint64_t>(d)));
    REQUIRE(rotation.ok());
    REQUIRE(rotation->padded_dimension() == PaddedDimension(d));
    secagg::FakeRandomSource source(static_cast<uint64_t>(d) + 1);
    std::vector<double> x(static_cast<size_t>(d));
    for (double& v : x) v = static_cast<double>(source.NextU64() % 2001) / 1000.0 - 1.0;
    std::vector<double> y(static_cast<size_t>(rotation->padded_dimension()));
    REQUIRE(rotation->Rotate(x, absl::MakeSpan(y)).ok());
    CHECK(Norm(y) == Approx(Norm(x)).epsilon(1e-12));
    REQUIRE(rotation->Unrotate(absl::MakeSpan(y)).ok());
    for (size_t i = 0; i < x.size(); ++i) CHECK(std::abs(y[i] - x[i]) < 1e-12);
    for (size_t i = x.size(); i < y.size(); ++i) CHECK(std::abs(y[i]) < 1e-12);
  }
}

TEST_CASE("RandomizedHadamard_SpreadsASpikeEvenlyOverAllCoordinates") {
  // The point of the rotation: a vector with all its mass in one coordinate becomes one with
  // |y_j| = ||x|| / sqrt(d') everywhere, so a narrow per-coordinate ring holds it.
  auto rotation = RandomizedHadamard::Create(1000, Seed(5));
  REQUIRE(rotation.ok());
  std::vector<double> x(1000, 0.0);
  x[417] = 3.0;
  std::vector<double> y(1024);
  REQUIRE(rotation->Rotate(x, absl::MakeSpan(y)).ok());
  for (double v : y) CHECK(std::abs(v) == Approx(3.0 / 32));
}

TEST_CASE("RandomizedHadamard_SignsDependOnTheSeedOnly") {
  auto a = RandomizedHadamard::Create(300, Seed(1));
  auto b = RandomizedHadamard::Create(300, Seed(1));
  auto c = RandomizedHadamard::Create(300, Seed(2));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  // A dense vector sees every sign: the same seed gives the same rotation, another seed a
  // different one in most coordinates.
  std::vector<double> ones(300, 1.0);
  std::vector<double> ya(512), yb(512), yc(512);
  REQUIRE(a->Rotate(ones, absl::MakeSpan(ya)).ok());
  REQUIRE(b->Rotate(ones, absl::MakeSpan(yb)).ok());
  REQUIRE(c->Rotate(ones, absl::MakeSpan(yc)).ok());
  CHECK(ya == yb);
  int same = 0;
  for (size_t i = 0; i < ya.size(); ++i) same += ya[i] == yc[i] ? 1 : 0;
  CHECK(same < 50);
}

TEST_CASE("RandomizedHadamard_RefusesBadArguments") {
  CHECK(RandomizedHadamard::Create(0, Seed(1)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(RandomizedHadamard::Create(10, "short").status().code() ==
        absl::StatusCode::kInvalidArgument);
  auto r = RandomizedHadamard::Create(10, Seed(1));
  REQUIRE(r.ok());
  std::vector<double> x(9), y(16);
  CHECK(r->Rotate(x, absl::MakeSpan(y)).code() == absl::StatusCode::kInvalidArgument);
  std::vector<double> z(15);
  CHECK(r->Unrotate(absl::MakeSpan(z)).code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::privacy
