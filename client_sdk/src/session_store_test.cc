#include "client_sdk/src/session_store.h"

#include <sys/stat.h>

#include <fstream>
#include <vector>

#include <catch2/catch.hpp>

#include "testing/subprocess.h"

namespace cohort::client::internal {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

TEST_CASE("SessionStore_RoundTripsARoundAndWipesIt") {
  cohort::testing::TempDir tmp;
  auto store = SessionStore::Open(tmp.File("nested/sdk"));
  REQUIRE(store.ok());
  auto empty = (*store)->LoadRound();
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->has_value());

  SessionSnapshot snapshot;
  snapshot.set_format_version(1);
  snapshot.set_session_token("tok");
  snapshot.set_next_chunk(3);
  snapshot.set_secagg_session(std::string("\0secret", 7));
  REQUIRE((*store)->SaveRound(snapshot).ok());
  auto loaded = (*store)->LoadRound();
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  CHECK((*loaded)->session_token() == "tok");
  CHECK((*loaded)->next_chunk() == 3);
  CHECK((*loaded)->secagg_session() == std::string("\0secret", 7));

  struct stat st;
  REQUIRE(::stat(tmp.File("nested/sdk/round.pb").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);  // holds the round's secret keys
  CHECK_FALSE(Exists(tmp.File("nested/sdk/round.pb.tmp")));

  REQUIRE((*store)->SaveInput("packed input").ok());
  REQUIRE((*store)->WipeRound().ok());
  CHECK_FALSE(Exists(tmp.File("nested/sdk/round.pb")));
  CHECK_FALSE(Exists(tmp.File("nested/sdk/input.bin")));
  CHECK_FALSE((*store)->LoadRound()->has_value());
}

TEST_CASE("SessionStore_InputRoundTripsAndChecksItsLength") {
  cohort::testing::TempDir tmp;
  auto store = SessionStore::Open(tmp.path());
  REQUIRE(store.ok());
  CHECK((*store)->LoadInput(2).status().code() == absl::StatusCode::kNotFound);
  const std::string input("\0\x01\xfe\xff packed", 11);
  REQUIRE((*store)->SaveInput(input).ok());
  auto loaded = (*store)->LoadInput(11);
  REQUIRE(loaded.ok());
  CHECK(*loaded == input);
  CHECK((*store)->LoadInput(12).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("SessionStore_CorruptRoundFileIsDiscarded") {
  cohort::testing::TempDir tmp;
  {
    std::ofstream f(tmp.File("round.pb"));
    f << "\xff\xff\xff not a proto";
  }
  auto store = SessionStore::Open(tmp.path());
  REQUIRE(store.ok());
  auto loaded = (*store)->LoadRound();
  REQUIRE(loaded.ok());
  CHECK_FALSE(loaded->has_value());
  CHECK_FALSE(Exists(tmp.File("round.pb")));
}

TEST_CASE("SessionStore_NextCheckInSurvivesReopenAndRoundWipes") {
  cohort::testing::TempDir tmp;
  const absl::Time t = absl::FromUnixSeconds(1'800'000'000);
  {
    auto store = SessionStore::Open(tmp.path());
    REQUIRE(store.ok());
    CHECK(*(*store)->LoadNextCheckIn() == absl::InfinitePast());
    REQUIRE((*store)->SaveNextCheckIn(t).ok());
    REQUIRE((*store)->WipeRound().ok());
  }
  auto store = SessionStore::Open(tmp.path());
  REQUIRE(store.ok());
  CHECK(*(*store)->LoadNextCheckIn() == t);
}

TEST_CASE("SessionStore_SecondOpenOfTheSameDirFailsUntilTheFirstCloses") {
  cohort::testing::TempDir tmp;
  auto first = SessionStore::Open(tmp.path());
  REQUIRE(first.ok());
  CHECK(SessionStore::Open(tmp.path()).status().code() == absl::StatusCode::kFailedPrecondition);
  first->reset();
  CHECK(SessionStore::Open(tmp.path()).ok());
}

TEST_CASE("SessionStore_OpenRejectsAFileAsDir") {
  cohort::testing::TempDir tmp;
  {
    std::ofstream f(tmp.File("file"));
    f << "x";
  }
  CHECK_FALSE(SessionStore::Open(tmp.File("file")).ok());
  CHECK(SessionStore::Open("").status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::client::internal
