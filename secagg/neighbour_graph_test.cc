#include "secagg/neighbour_graph.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>

namespace cohort::secagg {
namespace {

std::string Seed(char c) { return std::string(32, c); }

TEST_CASE("IndexAt_IsThePermutationTheNeighboursComeFrom") {
  const int32_t n = 12;
  const int32_t k = 4;
  auto g = NeighbourGraph::Create(n, k, Seed('r'));
  REQUIRE(g.ok());
  std::set<int32_t> seen;
  for (int32_t p = 0; p < n; ++p) seen.insert(g->IndexAt(p));
  CHECK(seen == std::set<int32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  for (int32_t p = 0; p < n; ++p) {
    std::vector<int32_t> ring_neighbours;
    for (int32_t d = 1; d <= k / 2; ++d) {
      ring_neighbours.push_back(g->IndexAt((p + d) % n));
      ring_neighbours.push_back(g->IndexAt((p - d + n) % n));
    }
    std::sort(ring_neighbours.begin(), ring_neighbours.end());
    CHECK(g->Neighbours(g->IndexAt(p)) == ring_neighbours);
  }
  CHECK(g->IndexAt(-1) == 0);
  CHECK(g->IndexAt(n) == 0);
}

TEST_CASE("Create_GivesKRegularSymmetricGraph") {
  for (auto [n, k] : {std::pair{10, 4}, {11, 6}, {100, 10}, {50, 7}, {1000, 40}, {7, 2}}) {
    auto g = NeighbourGraph::Create(n, k, Seed('a'));
    REQUIRE(g.ok());
    for (int32_t u = 1; u <= n; ++u) {
      const std::vector<int32_t> nb = g->Neighbours(u);
      INFO("n=" << n << " k=" << k << " u=" << u);
      REQUIRE(static_cast<int32_t>(nb.size()) == k);
      REQUIRE(std::set<int32_t>(nb.begin(), nb.end()).size() == nb.size());
      for (int32_t v : nb) {
        REQUIRE(v != u);
        REQUIRE(g->AreNeighbours(u, v));
        REQUIRE(g->AreNeighbours(v, u));
      }
    }
    int edges = 0;
    for (int32_t u = 1; u <= n; ++u) {
      for (int32_t v = u + 1; v <= n; ++v) edges += g->AreNeighbours(u, v) ? 1 : 0;
    }
    CHECK(edges == n * k / 2);
  }
}

TEST_CASE("Create_SameSeedSameGraphDifferentSeedDifferentGraph") {
  auto a = *NeighbourGraph::Create(200, 10, Seed('a'));
  auto b = *NeighbourGraph::Create(200, 10, Seed('a'));
  auto c = *NeighbourGraph::Create(200, 10, Seed('b'));
  bool differ = false;
  for (int32_t u = 1; u <= 200; ++u) {
    REQUIRE(a.Neighbours(u) == b.Neighbours(u));
    differ = differ || a.Neighbours(u) != c.Neighbours(u);
  }
  CHECK(differ);
}

TEST_CASE("Create_RelabelsIndicesAwayFromTheRing") {
  // Without relabelling, index 1's neighbours would be {2, 3, n-1, n}.
  auto g = *NeighbourGraph::Create(1000, 4, Seed('z'));
  CHECK(g.Neighbours(1) != std::vector<int32_t>{2, 3, 999, 1000});
}

TEST_CASE("Create_DegreeAtLeastNMinusOneGivesCompleteGraph") {
  auto g = *NeighbourGraph::Create(6, 100, Seed('c'));
  CHECK(g.is_complete());
  CHECK(g.degree() == 5);
  CHECK(g.Neighbours(3) == std::vector<int32_t>{1, 2, 4, 5, 6});
  CHECK_FALSE(g.AreNeighbours(3, 3));
  CHECK_FALSE(g.AreNeighbours(3, 7));
  CHECK(g.Neighbours(0).empty());
}

TEST_CASE("Sign_IsPositiveForSmallerIndex") {
  CHECK(NeighbourGraph::Sign(2, 5) == 1);
  CHECK(NeighbourGraph::Sign(5, 2) == -1);
}

TEST_CASE("Create_RejectsImpossibleGraphs") {
  CHECK(NeighbourGraph::Create(11, 5, Seed('a')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(NeighbourGraph::Create(1, 1, Seed('a')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(NeighbourGraph::Create(10, 0, Seed('a')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(NeighbourGraph::Create(10, 4, "short").status().code() ==
        absl::StatusCode::kInvalidArgument);
  // A damaged session or a hostile plan naming a billion participants must not allocate for
  // them (found by fuzzing the persisted session).
  CHECK(NeighbourGraph::Create(kMaxGraphParticipants + 1, 4, Seed('a')).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::secagg
