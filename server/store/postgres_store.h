#ifndef COHORT_SERVER_STORE_POSTGRES_STORE_H_
#define COHORT_SERVER_STORE_POSTGRES_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/clock.h"
#include "server/store/store.h"

namespace cohort::server {

class PostgresConnectionPool;

// The production Store: PostgreSQL through libpq, on the schema of migrations/ (see
// migrations.h). Every protobuf message is stored serialized (bytea) next to the columns queries
// need; model parameters live in their own table. Steps that must be atomic run in one
// transaction: CreateTask (task + initial model), CommitRound (model version + optimizer state +
// round summary + task), FailUnfinishedRounds (rounds + their tasks' counters) and
// RecordParticipation (all records or none).
//
// Connections come from a small pool (Options::pool_size) of prepared-statement sessions. When
// the database goes away, the call that notices returns UNAVAILABLE and its connection is
// dropped; later calls reconnect, backing off exponentially between attempts (initial_backoff
// doubling up to max_backoff) and returning UNAVAILABLE immediately while waiting, so an outage
// never blocks callers for long. Messages name the server (user@host:port/dbname), never the
// password.
//
// Error codes: as store.h; in addition INVALID_ARGUMENT for a negative limit or before_round, for
// a CommitRound whose round and task name different tasks, and from Open for a malformed
// connection string; FAILED_PRECONDITION from Open when the schema is not the one this binary
// needs. UNAVAILABLE from CommitRound means the outcome is unknown only when its message says
// so (the connection dropped while committing); GetLatestModel then tells which it was.
//
// Ordering, time precision and LastSelected match InMemoryStore (see in_memory_store.h).
//
// This class is thread-safe.
class PostgresStore : public Store {
 public:
  struct Options {
    // A postgresql:// URI or a libpq key=value string. May carry a password; it is never logged.
    std::string connection_string;
    // Connections kept open at most; more concurrent calls wait for a free one.
    int pool_size = 4;
    // Per connection attempt, unless the connection string sets connect_timeout.
    absl::Duration connect_timeout = absl::Seconds(5);
    // Wait between failed reconnect attempts: initial_backoff, doubling up to max_backoff.
    absl::Duration initial_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(5);
    // How long a call waits for a free connection before UNAVAILABLE.
    absl::Duration acquire_timeout = absl::Seconds(10);
    // Reads the time for the backoff schedule. Not owned; must outlive the store.
    Clock* clock = Clock::Real();
  };

  // Connects once (UNAVAILABLE if the database cannot be reached) and checks the schema version:
  // FAILED_PRECONDITION "run `cohort-server migrate`" when the database is behind this binary,
  // FAILED_PRECONDITION naming both versions when it is ahead. INVALID_ARGUMENT for a bad
  // connection string or pool_size < 1.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(Options options);
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& connection_string);

  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // user@host:port/dbname, for logs.
  const std::string& target() const { return target_; }

  absl::Status CreateTask(const cohort::v1::Task& task,
                          const cohort::v1::Model& initial_model) override;
  absl::Status UpdateTask(const cohort::v1::Task& task) override;
  absl::StatusOr<cohort::v1::Task> GetTask(const std::string& task_id) override;
  absl::StatusOr<std::vector<cohort::v1::Task>> ListTasks() override;
  absl::StatusOr<cohort::v1::Model> GetModel(const std::string& task_id, int64_t version) override;
  absl::StatusOr<cohort::v1::Model> GetLatestModel(const std::string& task_id) override;
  absl::Status PutRound(const cohort::v1::RoundSummary& round) override;
  absl::Status CommitRound(const cohort::v1::RoundSummary& round,
                           const cohort::v1::Model& new_model, const cohort::v1::Task& task,
                           const cohort::v1::ServerOptimizerState& optimizer_state) override;
  absl::StatusOr<cohort::v1::ServerOptimizerState> GetOptimizerState(const std::string& task_id,
                                                                     int64_t version) override;
  absl::StatusOr<std::vector<cohort::v1::RoundSummary>> ListRounds(const std::string& task_id,
                                                                   int64_t before_round,
                                                                   int32_t limit) override;
  absl::StatusOr<int> FailUnfinishedRounds(const std::string& reason) override;
  absl::Status RecordParticipation(const std::vector<ParticipationRecord>& records) override;
  absl::StatusOr<std::optional<absl::Time>> LastSelected(
      const std::string& task_id, const std::string& device_pseudonym) override;
  absl::Status PutCalibrationData(const std::string& task_id,
                                  const std::string& examples) override;
  absl::StatusOr<std::string> GetCalibrationData(const std::string& task_id) override;
  absl::Status AppendAudit(const AuditEntry& entry) override;
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(int32_t limit) override;

 private:
  PostgresStore(std::string target, std::unique_ptr<PostgresConnectionPool> pool);

  const std::string target_;
  std::unique_ptr<PostgresConnectionPool> pool_;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_STORE_POSTGRES_STORE_H_
