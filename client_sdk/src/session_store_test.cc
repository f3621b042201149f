#include "client_sdk/src/session_store.h"

#include <sys/stat.h>

#include <fstream>
#include <iterator>
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

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

TEST_CASE("SessionStore_WithAStorageKeySealsRoundInputAndIdentity") {
  cohort::testing::TempDir tmp;
  const std::string key(32, 'k');
  const std::string secret = "mask seed 0123456789";
  const std::string seed(32, 's');
  {
    auto store = SessionStore::Open(tmp.path(), key);
    REQUIRE(store.ok());
    SessionSnapshot snapshot;
    snapshot.set_session_token("tok");
    snapshot.set_secagg_session(secret);
    REQUIRE((*store)->SaveRound(snapshot).ok());
    REQUIRE((*store)->SaveInput(secret).ok());
    REQUIRE((*store)->LoadOrCreateIdentity(seed).ok());
  }
  // Nothing secret is on disk in the clear.
  for (const char* name : {"round.pb", "input.bin", "identity.key"}) {
    const std::string bytes = ReadAll(tmp.File(name));
    INFO(name);
    CHECK(bytes.rfind("CSE1", 0) == 0);
    CHECK(bytes.find(secret) == std::string::npos);
    CHECK(bytes.find(seed) == std::string::npos);
  }
  // The same key opens them again.
  auto store = SessionStore::Open(tmp.path(), key);
  REQUIRE(store.ok());
  auto loaded = (*store)->LoadRound();
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  CHECK((*loaded)->secagg_session() == secret);
  CHECK(*(*store)->LoadInput(static_cast<int64_t>(secret.size())) == secret);
  CHECK(*(*store)->LoadOrCreateIdentity(std::string(32, 'x')) == seed);
}

TEST_CASE("SessionStore_ASealedFileDoesNotOpenWithAnotherKeyOrWhenTampered") {
  cohort::testing::TempDir tmp;
  {
    auto store = SessionStore::Open(tmp.path(), std::string(32, 'k'));
    REQUIRE(store.ok());
    SessionSnapshot snapshot;
    snapshot.set_session_token("tok");
    REQUIRE((*store)->SaveRound(snapshot).ok());
    REQUIRE((*store)->SaveInput("input").ok());
  }
  {
    auto other = SessionStore::Open(tmp.path(), std::string(32, 'o'));
    REQUIRE(other.ok());
    CHECK((*other)->LoadInput(5).status().code() == absl::StatusCode::kDataLoss);
    // A round that does not open cannot be resumed: treated as absent, and removed.
    auto round = (*other)->LoadRound();
    REQUIRE(round.ok());
    CHECK_FALSE(round->has_value());
  }
  auto store = SessionStore::Open(tmp.path(), std::string(32, 'k'));
  REQUIRE(store.ok());
  REQUIRE((*store)->SaveInput("input").ok());
  std::string bytes = ReadAll(tmp.File("input.bin"));
  bytes[bytes.size() / 2] ^= 1;
  {
    std::ofstream f(tmp.File("input.bin"), std::ios::binary | std::ios::trunc);
    f << bytes;
  }
  CHECK((*store)->LoadInput(5).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("SessionStore_RejectsAStorageKeyThatIsNot32Bytes") {
  cohort::testing::TempDir tmp;
  CHECK(SessionStore::Open(tmp.path(), "short").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("SessionStore_FailedWriteLeavesTheOldFileAndReportsAnError") {
  cohort::testing::TempDir tmp;
  auto store = SessionStore::Open(tmp.path());
  REQUIRE(store.ok());
  SessionSnapshot snapshot;
  snapshot.set_session_token("old");
  REQUIRE((*store)->SaveRound(snapshot).ok());
  // A directory where the temporary file goes: the write cannot start (root-proof, unlike
  // permissions).
  REQUIRE(::mkdir(tmp.File("round.pb.tmp").c_str(), 0700) == 0);
  snapshot.set_session_token("new");
  CHECK_FALSE((*store)->SaveRound(snapshot).ok());
  ::rmdir(tmp.File("round.pb.tmp").c_str());
  CHECK((*(*store)->LoadRound())->session_token() == "old");
}

}  // namespace
}  // namespace cohort::client::internal
