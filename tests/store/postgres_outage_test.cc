// PostgreSQL going away under a PostgresStore and coming back: calls fail fast with UNAVAILABLE
// while it is down, the store reconnects (with backoff) when it is up, and every version that was
// acknowledged as committed is there exactly once.

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/store/migrations.h"
#include "server/store/postgres_store.h"
#include "testing/postgres_cluster.h"
#include "tests/store/store_contract.h"

namespace cohort::server {
namespace {

using cohort::testing::PostgresCluster;
using test_util::MakeModel;
using test_util::MakeOptimizerState;
using test_util::MakeRound;
using test_util::MakeTask;

// Commits version after version, as a task runner would, until told to stop. After an error it
// asks the store for the latest version before going on, because a commit cut off by the outage
// may or may not have landed.
class Committer {
 public:
  explicit Committer(Store* store) : store_(store), thread_([this] { Run(); }) {}
  ~Committer() { Stop(); }

  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::vector<int64_t> acked() {
    absl::MutexLock lock(&mu_);
    return acked_;
  }
  int unavailable() { return unavailable_.load(); }
  std::vector<std::string> other_errors() {
    absl::MutexLock lock(&mu_);
    return other_errors_;
  }

 private:
  void Run() {
    int64_t next = 1;
    while (!stop_.load()) {
      cohort::v1::Task task = MakeTask("t1");
      task.set_latest_model_version(next);
      const absl::Status status =
          store_->CommitRound(MakeRound("t1", next, cohort::v1::ROUND_PHASE_COMMITTED),
                              MakeModel(next), task, MakeOptimizerState(next));
      if (status.ok()) {
        absl::MutexLock lock(&mu_);
        acked_.push_back(next++);
      } else {
        if (absl::IsUnavailable(status)) {
          unavailable_.fetch_add(1);
        } else {
          absl::MutexLock lock(&mu_);
          other_errors_.push_back(status.ToString());
        }
        absl::StatusOr<cohort::v1::Model> latest = store_->GetLatestModel("t1");
        if (latest.ok()) next = latest->version() + 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  Store* const store_;
  std::atomic<bool> stop_{false};
  std::atomic<int> unavailable_{0};
  absl::Mutex mu_;
  std::vector<int64_t> acked_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> other_errors_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

bool WaitFor(absl::Duration timeout, const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

TEST_CASE("PostgresStore_SurvivesADatabaseOutage") {
  absl::StatusOr<PostgresCluster*> shared = cohort::testing::SharedPostgresCluster();
  INFO(shared.status().ToString());
  REQUIRE(shared.ok());
  PostgresCluster& cluster = **shared;
  REQUIRE(cluster.running());

  // A crash (immediate) and a clean shutdown (fast) look different to the client: the first
  // just drops connections, the second sends "terminating connection" first.
  std::string mode;
  SECTION("Outage_ServerCrash") { mode = "immediate"; }
  SECTION("Outage_CleanShutdown") { mode = "fast"; }
  static int databases = 0;
  const std::string db = absl::StrCat("outage_", ++databases);
  absl::StatusOr<std::string> uri = cluster.CreateDatabase(db);
  REQUIRE(uri.ok());
  REQUIRE(Migrate(*uri).ok());

  PostgresStore::Options options;
  options.connection_string = *uri;
  options.pool_size = 3;
  options.initial_backoff = absl::Milliseconds(50);
  options.max_backoff = absl::Milliseconds(400);
  absl::StatusOr<std::unique_ptr<PostgresStore>> opened = PostgresStore::Open(options);
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  PostgresStore& store = **opened;
  REQUIRE(store.CreateTask(MakeTask("t1"), MakeModel(0)).ok());

  Committer committer(&store);
  REQUIRE(WaitFor(absl::Seconds(10), [&] { return committer.acked().size() >= 3; }));

  REQUIRE(cluster.Stop(mode).ok());
  const size_t acked_before_restart = committer.acked().size();

  // While the database is down, calls fail at once with UNAVAILABLE naming the server.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const absl::Time start = absl::Now();
    absl::StatusOr<cohort::v1::Model> latest = store.GetLatestModel("t1");
    const absl::Duration took = absl::Now() - start;
    INFO("attempt " << attempt << ": " << latest.status().ToString() << " in " << took);
    REQUIRE(latest.status().code() == absl::StatusCode::kUnavailable);
    CHECK(absl::StrContains(latest.status().message(), absl::StrCat("127.0.0.1:", cluster.port())));
    CHECK_FALSE(absl::StrContains(latest.status().message(), cluster.password()));
    CHECK(took < absl::Seconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  absl::Status during = store.AppendAudit({absl::Now(), "admin", "Probe", "t1", ""});
  CHECK(absl::IsUnavailable(during));

  REQUIRE(cluster.Restart().ok());
  // Reconnects within the backoff (at most 400 ms here) and goes on committing.
  const bool resumed = WaitFor(
      absl::Seconds(10), [&] { return committer.acked().size() >= acked_before_restart + 3; });
  committer.Stop();
  INFO("other errors: " << committer.other_errors().size()
                        << " unavailable: " << committer.unavailable());
  REQUIRE(resumed);
  CHECK(committer.unavailable() > 0);
  for (const std::string& error : committer.other_errors()) {
    // A commit cut off at COMMIT may have landed; its retry is then refused as a duplicate.
    INFO(error);
    CHECK(absl::StrContains(error, "ALREADY_EXISTS"));
  }

  // Nothing acknowledged is lost, nothing is duplicated, and versions have no gaps.
  const std::vector<int64_t> acked = committer.acked();
  for (int64_t version : acked) {
    absl::StatusOr<cohort::v1::Model> model = store.GetModel("t1", version);
    INFO("version " << version << ": " << model.status().ToString());
    REQUIRE(model.ok());
    CHECK(test_util::SameMessage(*model, MakeModel(version)));
  }
  absl::StatusOr<cohort::v1::Model> latest = store.GetLatestModel("t1");
  REQUIRE(latest.ok());
  CHECK(latest->version() == acked.back());
  absl::StatusOr<std::string> shape =
      cluster.QueryValue(db,
                         "SELECT count(*) || ' ' || count(DISTINCT version) || ' ' || max(version) "
                         "FROM model_versions WHERE task_id = 't1'");
  REQUIRE(shape.ok());
  CHECK(*shape ==
        absl::StrCat(latest->version() + 1, " ", latest->version() + 1, " ", latest->version()));
  absl::StatusOr<std::vector<cohort::v1::RoundSummary>> rounds = store.ListRounds("t1", 0, 1000);
  REQUIRE(rounds.ok());
  CHECK(static_cast<int64_t>(rounds->size()) == latest->version());
}

}  // namespace
}  // namespace cohort::server
