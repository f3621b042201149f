#include "server/store/postgres_store.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "server/store/migrations.h"
#include "server/store/pg_util.h"

namespace cohort::server {
namespace {

using cohort::v1::Model;
using cohort::v1::RoundSummary;
using cohort::v1::Task;

// Every statement the store runs, prepared on each new connection.
enum Statement : int {
  kInsertTask,
  kUpdateTask,
  kGetTask,
  kLockTask,
  kListTasks,
  kTaskExists,
  kInsertModel,
  kInsertBlob,
  kGetModel,
  kGetLatestModel,
  kInsertOptimizerState,
  kGetOptimizerState,
  kUpsertRound,
  kInsertPrivacyLedger,
  kListRounds,
  kLockUnfinishedRounds,
  kLastSelected,
  kAppendAudit,
  kListAudit,
  kPutCalibration,
  kGetCalibration,
  kStatementCount,
};

struct StatementDef {
  const char* name;
  const char* sql;
  std::vector<Oid> types;
};

const std::vector<StatementDef>& Statements() {
  using namespace pg;  // NOLINT: the type OIDs read better unqualified here
  static const auto* const defs = new std::vector<StatementDef>{
      {"cohort_insert_task",
       "INSERT INTO tasks (task_id, population, state, latest_model_version, rounds_committed,"
       " rounds_failed, epsilon_spent, epsilon_budget, privacy_rounds, created_at, task)"
       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, now()), $11)",
       {kText, kText, kText, kInt8, kInt8, kInt8, kFloat8, kFloat8, kInt8, kTimestamptz, kBytea}},
      {"cohort_update_task",
       "UPDATE tasks SET population = $2, state = $3, latest_model_version = $4,"
       " rounds_committed = $5, rounds_failed = $6, epsilon_spent = $7, epsilon_budget = $8,"
       " privacy_rounds = $9, task = $10, updated_at = now()"
       " WHERE task_id = $1",
       {kText, kText, kText, kInt8, kInt8, kInt8, kFloat8, kFloat8, kInt8, kBytea}},
      {"cohort_get_task", "SELECT task FROM tasks WHERE task_id = $1", {kText}},
      {"cohort_lock_task", "SELECT task FROM tasks WHERE task_id = $1 FOR UPDATE", {kText}},
      {"cohort_list_tasks", "SELECT task FROM tasks ORDER BY task_id", {}},
      {"cohort_task_exists", "SELECT 1 FROM tasks WHERE task_id = $1", {kText}},
      {"cohort_insert_model",
       "INSERT INTO model_versions (task_id, version, sha256, size_bytes, model)"
       " VALUES ($1, $2, $3, $4, $5)",
       {kText, kInt8, kBytea, kInt8, kBytea}},
      {"cohort_insert_blob",
       "INSERT INTO model_blobs (task_id, version, parameters) VALUES ($1, $2, $3)",
       {kText, kInt8, kBytea}},
      {"cohort_get_model",
       "SELECT m.model, b.parameters FROM model_versions m JOIN model_blobs b"
       " USING (task_id, version) WHERE m.task_id = $1 AND m.version = $2",
       {kText, kInt8}},
      {"cohort_get_latest_model",
       "SELECT m.model, b.parameters FROM model_versions m JOIN model_blobs b"
       " USING (task_id, version) WHERE m.task_id = $1 ORDER BY m.version DESC LIMIT 1",
       {kText}},
      {"cohort_insert_optimizer_state",
       "INSERT INTO optimizer_states (task_id, version, kind, steps, state)"
       " VALUES ($1, $2, $3, $4, $5)",
       {kText, kInt8, kText, kInt8, kBytea}},
      {"cohort_get_optimizer_state",
       "SELECT state FROM optimizer_states WHERE task_id = $1 AND version = $2",
       {kText, kInt8}},
      {"cohort_upsert_round",
       "INSERT INTO rounds (task_id, round_number, round_id, phase, failure_reason,"
       " base_model_version, new_model_version, selected, contributors, dropouts,"
       " bytes_uploaded, bytes_downloaded, started_at, ended_at, summary, epsilon_spent)"
       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
       " ON CONFLICT (task_id, round_number) DO UPDATE SET round_id = EXCLUDED.round_id,"
       " phase = EXCLUDED.phase, failure_reason = EXCLUDED.failure_reason,"
       " base_model_version = EXCLUDED.base_model_version,"
       " new_model_version = EXCLUDED.new_model_version, selected = EXCLUDED.selected,"
       " contributors = EXCLUDED.contributors, dropouts = EXCLUDED.dropouts,"
       " bytes_uploaded = EXCLUDED.bytes_uploaded, bytes_downloaded = EXCLUDED.bytes_downloaded,"
       " started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,"
       " summary = EXCLUDED.summary, epsilon_spent = EXCLUDED.epsilon_spent,"
       " updated_at = now()",
       {kText, kInt8, kText, kText, kText, kInt8, kInt8, kInt4, kInt4, kInt4, kInt8, kInt8,
        kTimestamptz, kTimestamptz, kBytea, kFloat8}},
      {"cohort_insert_privacy_ledger",
       "INSERT INTO privacy_ledger (task_id, round_number, mechanism, round_epsilon,"
       " epsilon_spent, phase) VALUES ($1, $2, $3, $4, $5, $6)"
       " ON CONFLICT (task_id, round_number) DO NOTHING",
       {kText, kInt8, kText, kFloat8, kFloat8, kText}},
      {"cohort_list_rounds",
       "SELECT summary FROM rounds WHERE task_id = $1 AND round_number < $2"
       " ORDER BY round_number DESC LIMIT $3",
       {kText, kInt8, kInt8}},
      {"cohort_lock_unfinished_rounds",
       "SELECT summary FROM rounds"
       " WHERE phase NOT IN ('ROUND_PHASE_COMMITTED', 'ROUND_PHASE_FAILED')"
       " ORDER BY task_id, round_number FOR UPDATE",
       {}},
      {"cohort_last_selected",
       "SELECT EXISTS (SELECT 1 FROM tasks WHERE task_id = $1),"
       " (SELECT max(selected_at) FROM participation"
       "  WHERE task_id = $1 AND device_pseudonym = $2)",
       {kText, kText}},
      {"cohort_append_audit",
       "INSERT INTO audit_log (time, actor, action, task_id, detail)"
       " VALUES ($1, $2, $3, $4, $5)",
       {kTimestamptz, kText, kText, kText, kText}},
      {"cohort_list_audit",
       "SELECT time, actor, action, task_id, detail FROM audit_log"
       " ORDER BY time DESC, id DESC LIMIT $1",
       {kInt8}},
      {"cohort_put_calibration",
       "INSERT INTO calibration_data (task_id, examples) VALUES ($1, $2)"
       " ON CONFLICT (task_id) DO UPDATE SET examples = EXCLUDED.examples, updated_at = now()",
       {kText, kBytea}},
      {"cohort_get_calibration",
       "SELECT EXISTS (SELECT 1 FROM tasks WHERE task_id = $1),"
       " (SELECT examples FROM calibration_data WHERE task_id = $1)",
       {kText}},
  };
  return *defs;
}

std::optional<absl::Time> ToTime(const google::protobuf::Timestamp& timestamp, bool present) {
  if (!present) return std::nullopt;
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

template <typename Message>
absl::StatusOr<Message> Parse(const char* data, int size, absl::string_view what) {
  Message message;
  if (!message.ParseFromArray(data, size)) {
    return absl::InternalError(absl::StrCat("stored ", what, " does not parse"));
  }
  return message;
}

template <typename Message>
absl::StatusOr<Message> ParseField(const PGresult* result, int row, int column,
                                   absl::string_view what) {
  return Parse<Message>(PQgetvalue(result, row, column), PQgetlength(result, row, column), what);
}

absl::Status TaskNotFound(const std::string& task_id) {
  return absl::NotFoundError(absl::StrCat("task '", task_id, "' does not exist"));
}

int AffectedRows(const PGresult* result) {
  return std::atoi(PQcmdTuples(const_cast<PGresult*>(result)));
}

}  // namespace

// A fixed number of connection slots, each used by one caller at a time. A slot's connection
// (conns_[i]) is touched only by the thread holding the slot, so it needs no lock; which slots
// are taken, and the reconnect schedule, are guarded by mu_.
class PostgresConnectionPool {
 public:
  // Holds one slot; gives it back when destroyed, dropping the connection if it broke or was
  // left inside a transaction.
  class Lease {
   public:
    Lease(PostgresConnectionPool* pool, int slot) : pool_(pool), slot_(slot) {}
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), slot_(other.slot_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ != nullptr) pool_->Release(slot_);
    }
    PGconn* get() const { return pool_->conns_[slot_].get(); }

   private:
    PostgresConnectionPool* pool_;
    int slot_;
  };

  PostgresConnectionPool(PostgresStore::Options options, std::string target)
      : options_(std::move(options)),
        target_(std::move(target)),
        conns_(options_.pool_size),
        open_(options_.pool_size, false),
        in_use_(options_.pool_size, false),
        backoff_(options_.initial_backoff) {}

  absl::StatusOr<Lease> Acquire() {
    int slot = -1;
    {
      absl::MutexLock lock(&mu_);
      auto any_free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return std::find(in_use_.begin(), in_use_.end(), false) != in_use_.end();
      };
      if (!mu_.AwaitWithTimeout(absl::Condition(&any_free), options_.acquire_timeout)) {
        return absl::UnavailableError(
            absl::StrCat("all ", options_.pool_size, " connections to PostgreSQL at ", target_,
                         " stayed busy for ", absl::FormatDuration(options_.acquire_timeout)));
      }
      // Prefer a slot that already has a connection.
      for (int i = 0; i < options_.pool_size; ++i) {
        if (!in_use_[i] && (slot < 0 || (open_[i] && !open_[slot]))) slot = i;
      }
      in_use_[slot] = true;
    }
    Lease lease(this, slot);
    pg::Conn& conn = conns_[slot];
    if (conn != nullptr && !pg::IsBroken(conn.get())) return lease;
    if (conn != nullptr) {
      COHORT_LOG_WARN("lost connection to PostgreSQL target={}", target_);
      conn.reset();
    }
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = options_.clock->Now();
      if (now < next_attempt_) {
        return absl::UnavailableError(absl::StrCat(last_error_, "; next reconnect attempt in ",
                                                   absl::FormatDuration(next_attempt_ - now)));
      }
    }
    absl::StatusOr<pg::Conn> fresh = Connect();
    absl::MutexLock lock(&mu_);
    if (!fresh.ok()) {
      const absl::Duration wait = backoff_;
      next_attempt_ = options_.clock->Now() + wait;
      backoff_ = std::min(backoff_ * 2, options_.max_backoff);
      last_error_ = std::string(fresh.status().message());
      COHORT_LOG_WARN("PostgreSQL unavailable target={} retry_in={} error={}", target_,
                      absl::FormatDuration(wait), last_error_);
      const std::string message =
          absl::StrCat(last_error_, "; next reconnect attempt in ", absl::FormatDuration(wait));
      if (absl::IsUnavailable(fresh.status())) return absl::UnavailableError(message);
      return absl::Status(fresh.status().code(), message);
    }
    if (backoff_ != options_.initial_backoff || !last_error_.empty()) {
      COHORT_LOG_INFO("reconnected to PostgreSQL target={}", target_);
    }
    backoff_ = options_.initial_backoff;
    next_attempt_ = absl::InfinitePast();
    last_error_.clear();
    conn = std::move(*fresh);
    return lease;
  }

 private:
  // A new session with every statement prepared.
  absl::StatusOr<pg::Conn> Connect() {
    if (Statements().size() != kStatementCount) {
      return absl::InternalError("PostgresStore: statement table out of step with its enum");
    }
    COHORT_ASSIGN_OR_RETURN(
        pg::Conn conn, pg::Connect(options_.connection_string, target_, options_.connect_timeout));
    for (const StatementDef& def : Statements()) {
      pg::Result result(PQprepare(conn.get(), def.name, def.sql, static_cast<int>(def.types.size()),
                                  def.types.data()));
      if (result == nullptr || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
        return pg::StatusFromResult(conn.get(), result.get(), absl::StrCat("preparing ", def.name),
                                    target_);
      }
    }
    return conn;
  }

  void Release(int slot) {
    pg::Conn& conn = conns_[slot];
    if (conn != nullptr && (PQstatus(conn.get()) != CONNECTION_OK ||
                            PQtransactionStatus(conn.get()) != PQTRANS_IDLE)) {
      conn.reset();
    }
    absl::MutexLock lock(&mu_);
    open_[slot] = conn != nullptr;
    in_use_[slot] = false;
  }

  const PostgresStore::Options options_;
  const std::string target_;
  std::vector<pg::Conn> conns_;  // slot i belongs to whoever holds in_use_[i]

  absl::Mutex mu_;
  std::vector<bool> open_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> in_use_ ABSL_GUARDED_BY(mu_);
  absl::Time next_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

namespace {

using Lease = PostgresConnectionPool::Lease;

absl::StatusOr<pg::Result> Run(const Lease& conn, Statement statement, const pg::Params& params,
                               absl::string_view what, const std::string& target) {
  return pg::ExecPrepared(conn.get(), Statements()[statement].name, params, what, target);
}

// Runs `body` between BEGIN and COMMIT; any error rolls back. A connection lost at COMMIT leaves
// the outcome unknown, and the message says so.
absl::Status InTransaction(const Lease& conn, absl::string_view what, const std::string& target,
                           absl::FunctionRef<absl::Status()> body) {
  COHORT_RETURN_IF_ERROR(pg::ExecSimple(conn.get(), "BEGIN", what, target).status());
  absl::Status status = body();
  if (!status.ok()) {
    if (PQstatus(conn.get()) == CONNECTION_OK) {
      (void)pg::ExecSimple(conn.get(), "ROLLBACK", what, target);
    }
    return status;
  }
  absl::StatusOr<pg::Result> commit = pg::ExecSimple(conn.get(), "COMMIT", what, target);
  if (!commit.ok() && absl::IsUnavailable(commit.status())) {
    return absl::UnavailableError(
        absl::StrCat(commit.status().message(), " (outcome of the commit unknown)"));
  }
  return commit.status();
}

pg::Params TaskParams(const Task& task) {
  pg::Params params;
  const bool dp = task.privacy().epsilon_budget() > 0;
  params.Text(task.task_id())
      .Text(task.config().population())
      .Text(cohort::v1::TaskState_Name(task.state()))
      .Int64(task.latest_model_version())
      .Int64(task.rounds_committed())
      .Int64(task.rounds_failed())
      .Float64(task.privacy().epsilon_spent())
      .OptionalFloat64(dp ? std::optional<double>(task.privacy().epsilon_budget()) : std::nullopt)
      .Int64(task.privacy().rounds_charged());
  return params;
}

// Inserts a model version and its parameters.
absl::Status InsertModel(const Lease& conn, const std::string& task_id, const Model& model,
                         absl::string_view what, const std::string& target) {
  Model metadata = model;
  metadata.clear_parameters();
  const std::string serialized = metadata.SerializeAsString();
  absl::Status inserted = Run(conn, kInsertModel,
                              pg::Params()
                                  .Text(task_id)
                                  .Int64(model.version())
                                  .Bytes(model.sha256())
                                  .Int64(static_cast<int64_t>(model.parameters().size()))
                                  .Bytes(serialized),
                              what, target)
                              .status();
  if (absl::IsAlreadyExists(inserted)) {
    return absl::AlreadyExistsError(
        absl::StrCat("model version ", model.version(), " of task '", task_id, "' already exists"));
  }
  if (absl::IsNotFound(inserted)) return TaskNotFound(task_id);
  COHORT_RETURN_IF_ERROR(inserted);
  return Run(conn, kInsertBlob,
             pg::Params().Text(task_id).Int64(model.version()).Bytes(model.parameters()), what,
             target)
      .status();
}

absl::Status UpsertRound(const Lease& conn, const RoundSummary& round, absl::string_view what,
                         const std::string& target) {
  const std::string serialized = round.SerializeAsString();
  pg::Params params;
  params.Text(round.task_id())
      .Int64(round.round_number())
      .Text(round.round_id())
      .Text(cohort::v1::RoundPhase_Name(round.phase()))
      .Text(round.failure_reason())
      .Int64(round.base_model_version())
      .Int64(round.new_model_version())
      .Int32(round.selected())
      .Int32(round.contributors())
      .Int32(round.dropouts())
      .Int64(round.bytes_uploaded())
      .Int64(round.bytes_downloaded())
      .OptionalTime(ToTime(round.started_at(), round.has_started_at()))
      .OptionalTime(ToTime(round.ended_at(), round.has_ended_at()))
      .Bytes(serialized);
  const bool charged = round.privacy().charged();
  params.OptionalFloat64(charged ? std::optional<double>(round.privacy().epsilon_spent())
                                 : std::nullopt);
  absl::Status status = Run(conn, kUpsertRound, params, what, target).status();
  if (absl::IsNotFound(status)) return TaskNotFound(round.task_id());
  if (!status.ok() || !charged) return status;
  pg::Params ledger;
  ledger.Text(round.task_id())
      .Int64(round.round_number())
      .Text(cohort::v1::DpMechanism_Name(round.privacy().mechanism()))
      .Float64(round.privacy().round_epsilon())
      .Float64(round.privacy().epsilon_spent())
      .Text(cohort::v1::RoundPhase_Name(round.phase()));
  return Run(conn, kInsertPrivacyLedger, ledger, what, target).status();
}

absl::StatusOr<Model> ReadModel(const PGresult* result) {
  COHORT_ASSIGN_OR_RETURN(Model model, ParseField<Model>(result, 0, 0, "model"));
  model.mutable_parameters()->assign(PQgetvalue(result, 0, 1),
                                     static_cast<size_t>(PQgetlength(result, 0, 1)));
  return model;
}

absl::StatusOr<bool> TaskExists(const Lease& conn, const std::string& task_id,
                                const std::string& target) {
  COHORT_ASSIGN_OR_RETURN(pg::Result result, Run(conn, kTaskExists, pg::Params().Text(task_id),
                                                 "checking a task", target));
  return PQntuples(result.get()) > 0;
}

constexpr size_t kParticipationBatch = 1000;  // 7 parameters each, under libpq's 65535

}  // namespace

PostgresStore::PostgresStore(std::string target, std::unique_ptr<PostgresConnectionPool> pool)
    : target_(std::move(target)), pool_(std::move(pool)) {}

PostgresStore::~PostgresStore() = default;

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(
    const std::string& connection_string) {
  Options options;
  options.connection_string = connection_string;
  return Open(std::move(options));
}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(Options options) {
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("PostgreSQL pool_size must be >= 1, got ", options.pool_size));
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  COHORT_ASSIGN_OR_RETURN(std::string target, pg::DescribeTarget(options.connection_string));
  COHORT_ASSIGN_OR_RETURN(const int version, SchemaVersion(options.connection_string));
  COHORT_RETURN_IF_ERROR(CheckSchemaVersion(version, LatestSchemaVersion()));
  auto pool = std::make_unique<PostgresConnectionPool>(std::move(options), target);
  // One connection up front, so a store that opened has proven it can prepare its statements.
  COHORT_ASSIGN_OR_RETURN(Lease lease, pool->Acquire());
  (void)lease;
  COHORT_LOG_INFO("opened PostgreSQL store target={} schema_version={}", target, version);
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(target), std::move(pool)));
}

absl::Status PostgresStore::CreateTask(const Task& task, const Model& initial_model) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  const std::string serialized = task.SerializeAsString();
  return InTransaction(conn, "CreateTask", target_, [&]() -> absl::Status {
    pg::Params params = TaskParams(task);
    params.OptionalTime(ToTime(task.created_at(), task.has_created_at())).Bytes(serialized);
    absl::Status inserted = Run(conn, kInsertTask, params, "CreateTask", target_).status();
    if (absl::IsAlreadyExists(inserted)) {
      return absl::AlreadyExistsError(absl::StrCat("task '", task.task_id(), "' already exists"));
    }
    COHORT_RETURN_IF_ERROR(inserted);
    return InsertModel(conn, task.task_id(), initial_model, "CreateTask", target_);
  });
}

absl::Status PostgresStore::UpdateTask(const Task& task) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  const std::string serialized = task.SerializeAsString();
  pg::Params params = TaskParams(task);
  params.Bytes(serialized);
  COHORT_ASSIGN_OR_RETURN(pg::Result result, Run(conn, kUpdateTask, params, "UpdateTask", target_));
  if (AffectedRows(result.get()) == 0) return TaskNotFound(task.task_id());
  return absl::OkStatus();
}

absl::StatusOr<Task> PostgresStore::GetTask(const std::string& task_id) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  COHORT_ASSIGN_OR_RETURN(pg::Result result,
                          Run(conn, kGetTask, pg::Params().Text(task_id), "GetTask", target_));
  if (PQntuples(result.get()) == 0) return TaskNotFound(task_id);
  return ParseField<Task>(result.get(), 0, 0, "task");
}

absl::StatusOr<std::vector<Task>> PostgresStore::ListTasks() {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  COHORT_ASSIGN_OR_RETURN(pg::Result result,
                          Run(conn, kListTasks, pg::Params(), "ListTasks", target_));
  std::vector<Task> tasks;
  tasks.reserve(static_cast<size_t>(PQntuples(result.get())));
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    COHORT_ASSIGN_OR_RETURN(Task task, ParseField<Task>(result.get(), row, 0, "task"));
    tasks.push_back(std::move(task));
  }
  return tasks;
}

absl::StatusOr<Model> PostgresStore::GetModel(const std::string& task_id, int64_t version) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  COHORT_ASSIGN_OR_RETURN(
      pg::Result result,
      Run(conn, kGetModel, pg::Params().Text(task_id).Int64(version), "GetModel", target_));
  if (PQntuples(result.get()) == 0) {
    COHORT_ASSIGN_OR_RETURN(const bool exists, TaskExists(conn, task_id, target_));
    if (!exists) return TaskNotFound(task_id);
    return absl::NotFoundError(
        absl::StrCat("model version ", version, " of task '", task_id, "' does not exist"));
  }
  return ReadModel(result.get());
}

absl::StatusOr<Model> PostgresStore::GetLatestModel(const std::string& task_id) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  COHORT_ASSIGN_OR_RETURN(pg::Result result, Run(conn, kGetLatestModel, pg::Params().Text(task_id),
                                                 "GetLatestModel", target_));
  if (PQntuples(result.get()) == 0) {
    COHORT_ASSIGN_OR_RETURN(const bool exists, TaskExists(conn, task_id, target_));
    if (!exists) return TaskNotFound(task_id);
    return absl::NotFoundError(absl::StrCat("task '", task_id, "' has no model"));
  }
  return ReadModel(result.get());
}

absl::Status PostgresStore::PutRound(const RoundSummary& round) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  return UpsertRound(conn, round, "PutRound", target_);
}

absl::Status PostgresStore::CommitRound(const RoundSummary& round, const Model& new_model,
                                        const Task& task,
                                        const cohort::v1::ServerOptimizerState& optimizer_state) {
  if (round.task_id() != task.task_id()) {
    return absl::InvalidArgumentError(absl::StrCat("round of task '", round.task_id(),
                                                   "' committed with task '", task.task_id(), "'"));
  }
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  const std::string serialized = task.SerializeAsString();
  const std::string state = optimizer_state.SerializeAsString();
  return InTransaction(conn, "CommitRound", target_, [&]() -> absl::Status {
    // The task row first: its lock orders concurrent commits of one task, so the second sees
    // the first's model version and is refused.
    pg::Params params = TaskParams(task);
    params.Bytes(serialized);
    COHORT_ASSIGN_OR_RETURN(pg::Result updated,
                            Run(conn, kUpdateTask, params, "CommitRound", target_));
    if (AffectedRows(updated.get()) == 0) return TaskNotFound(task.task_id());
    COHORT_RETURN_IF_ERROR(InsertModel(conn, task.task_id(), new_model, "CommitRound", target_));
    COHORT_RETURN_IF_ERROR(
        Run(conn, kInsertOptimizerState,
            pg::Params()
                .Text(task.task_id())
                .Int64(new_model.version())
                .Text(cohort::v1::ServerOptimizerConfig::Kind_Name(optimizer_state.kind()))
                .Int64(optimizer_state.steps())
                .Bytes(state),
            "CommitRound", target_)
            .status());
    return UpsertRound(conn, round, "CommitRound", target_);
  });
}

absl::StatusOr<cohort::v1::ServerOptimizerState> PostgresStore::GetOptimizerState(
    const std::string& task_id, int64_t version) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  COHORT_ASSIGN_OR_RETURN(pg::Result result,
                          Run(conn, kGetOptimizerState, pg::Params().Text(task_id).Int64(version),
                              "GetOptimizerState", target_));
  if (PQntuples(result.get()) == 0) {
    COHORT_ASSIGN_OR_RETURN(const bool exists, TaskExists(conn, task_id, target_));
    if (!exists) return TaskNotFound(task_id);
    return absl::NotFoundError(absl::StrCat("no optimizer state is stored with model version ",
                                            version, " of task '", task_id, "'"));
  }
  return ParseField<cohort::v1::ServerOptimizerState>(result.get(), 0, 0, "optimizer state");
}

absl::StatusOr<std::vector<RoundSummary>> PostgresStore::ListRounds(const std::string& task_id,
                                                                    int64_t before_round,
                                                                    int32_t limit) {
  if (before_round < 0 || limit < 0) {
    return absl::InvalidArgumentError(absl::StrCat("ListRounds: before_round ", before_round,
                                                   " and limit ", limit, " must be >= 0"));
  }
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  const int64_t bound = before_round == 0 ? std::numeric_limits<int64_t>::max() : before_round;
  COHORT_ASSIGN_OR_RETURN(
      pg::Result result,
      Run(conn, kListRounds, pg::Params().Text(task_id).Int64(bound).Int64(limit), "ListRounds",
          target_));
  const int rows = PQntuples(result.get());
  if (rows == 0) {
    COHORT_ASSIGN_OR_RETURN(const bool exists, TaskExists(conn, task_id, target_));
    if (!exists) return TaskNotFound(task_id);
  }
  std::vector<RoundSummary> rounds;
  rounds.reserve(static_cast<size_t>(rows));
  for (int row = 0; row < rows; ++row) {
    COHORT_ASSIGN_OR_RETURN(RoundSummary round,
                            ParseField<RoundSummary>(result.get(), row, 0, "round summary"));
    rounds.push_back(std::move(round));
  }
  return rounds;
}

absl::StatusOr<int> PostgresStore::FailUnfinishedRounds(const std::string& reason) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  int failed = 0;
  std::map<std::string, int64_t> failed_in;  // task id -> rounds failed here
  COHORT_RETURN_IF_ERROR(
      InTransaction(conn, "FailUnfinishedRounds", target_, [&]() -> absl::Status {
        COHORT_ASSIGN_OR_RETURN(pg::Result result, Run(conn, kLockUnfinishedRounds, pg::Params(),
                                                       "FailUnfinishedRounds", target_));
        for (int row = 0; row < PQntuples(result.get()); ++row) {
          COHORT_ASSIGN_OR_RETURN(RoundSummary round,
                                  ParseField<RoundSummary>(result.get(), row, 0, "round summary"));
          // The serialized summary is the source of truth, so it changes with the columns.
          round.set_phase(cohort::v1::ROUND_PHASE_FAILED);
          round.set_failure_reason(reason);
          COHORT_RETURN_IF_ERROR(UpsertRound(conn, round, "FailUnfinishedRounds", target_));
          ++failed_in[round.task_id()];
          ++failed;
        }
        // Each task counts its failed rounds as run, in the same transaction.
        for (const auto& [task_id, count] : failed_in) {
          COHORT_ASSIGN_OR_RETURN(
              pg::Result locked,
              Run(conn, kLockTask, pg::Params().Text(task_id), "FailUnfinishedRounds", target_));
          if (PQntuples(locked.get()) == 0) continue;  // the round outlived its task
          COHORT_ASSIGN_OR_RETURN(Task task, ParseField<Task>(locked.get(), 0, 0, "task"));
          task.set_rounds_failed(task.rounds_failed() + count);
          if (!task.continuous()) {
            task.set_rounds_remaining(std::max<int64_t>(0, task.rounds_remaining() - count));
          }
          const std::string serialized = task.SerializeAsString();  // Params keeps a view
          pg::Params params = TaskParams(task);
          params.Bytes(serialized);
          COHORT_RETURN_IF_ERROR(
              Run(conn, kUpdateTask, params, "FailUnfinishedRounds", target_).status());
        }
        return absl::OkStatus();
      }));
  return failed;
}

absl::Status PostgresStore::RecordParticipation(const std::vector<ParticipationRecord>& records) {
  if (records.empty()) return absl::OkStatus();
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  return InTransaction(conn, "RecordParticipation", target_, [&]() -> absl::Status {
    // Multi-row INSERTs: one round trip per batch instead of one per device.
    for (size_t begin = 0; begin < records.size(); begin += kParticipationBatch) {
      const size_t end = std::min(records.size(), begin + kParticipationBatch);
      std::string sql =
          "INSERT INTO participation (task_id, round_number, device_pseudonym, "
          "participant_index, last_completed_phase, contributed, selected_at) VALUES ";
      pg::Params params;
      for (size_t i = begin; i < end; ++i) {
        const int base = static_cast<int>(7 * (i - begin));
        absl::StrAppend(&sql, i == begin ? "" : ", ", "($", base + 1, ", $", base + 2, ", $",
                        base + 3, ", $", base + 4, ", $", base + 5, ", $", base + 6, ", $",
                        base + 7, ")");
      }
      for (size_t i = begin; i < end; ++i) {
        const ParticipationRecord& r = records[i];
        params.Text(r.task_id)
            .Int64(r.round_number)
            .Text(r.device_pseudonym)
            .Int32(r.participant_index)
            .Text(cohort::v1::RoundPhase_Name(r.last_completed_phase))
            .Bool(r.contributed)
            .Time(r.selected_at);
      }
      absl::Status inserted =
          pg::ExecParams(conn.get(), sql, params, "RecordParticipation", target_).status();
      if (absl::IsNotFound(inserted)) {
        return absl::NotFoundError(
            absl::StrCat("RecordParticipation: a record names a task that does not exist (",
                         inserted.message(), ")"));
      }
      COHORT_RETURN_IF_ERROR(inserted);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<absl::Time>> PostgresStore::LastSelected(
    const std::string& task_id, const std::string& device_pseudonym) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  COHORT_ASSIGN_OR_RETURN(
      pg::Result result, Run(conn, kLastSelected, pg::Params().Text(task_id).Text(device_pseudonym),
                             "LastSelected", target_));
  if (!pg::GetBool(result.get(), 0, 0)) return TaskNotFound(task_id);
  if (pg::IsNull(result.get(), 0, 1)) return std::optional<absl::Time>();
  return std::optional<absl::Time>(pg::GetTime(result.get(), 0, 1));
}

absl::Status PostgresStore::PutCalibrationData(const std::string& task_id,
                                               const std::string& examples) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  COHORT_ASSIGN_OR_RETURN(const bool exists, TaskExists(conn, task_id, target_));
  if (!exists) return TaskNotFound(task_id);
  return Run(conn, kPutCalibration, pg::Params().Text(task_id).Bytes(examples),
             "PutCalibrationData", target_)
      .status();
}

absl::StatusOr<std::string> PostgresStore::GetCalibrationData(const std::string& task_id) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  COHORT_ASSIGN_OR_RETURN(pg::Result result, Run(conn, kGetCalibration, pg::Params().Text(task_id),
                                                 "GetCalibrationData", target_));
  if (!pg::GetBool(result.get(), 0, 0)) return TaskNotFound(task_id);
  if (PQgetisnull(result.get(), 0, 1)) return std::string();
  return pg::GetBytes(result.get(), 0, 1);
}

absl::Status PostgresStore::AppendAudit(const AuditEntry& entry) {
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  return Run(conn, kAppendAudit,
             pg::Params()
                 .Time(entry.time)
                 .Text(entry.actor)
                 .Text(entry.action)
                 .Text(entry.task_id)
                 .Text(entry.detail),
             "AppendAudit", target_)
      .status();
}

absl::StatusOr<std::vector<AuditEntry>> PostgresStore::ListAudit(int32_t limit) {
  if (limit < 0) {
    return absl::InvalidArgumentError(absl::StrCat("ListAudit: limit ", limit, " must be >= 0"));
  }
  COHORT_ASSIGN_OR_RETURN(Lease conn, pool_->Acquire());
  COHORT_ASSIGN_OR_RETURN(pg::Result result,
                          Run(conn, kListAudit, pg::Params().Int64(limit), "ListAudit", target_));
  std::vector<AuditEntry> entries;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    AuditEntry entry;
    entry.time = pg::GetTime(result.get(), row, 0);
    entry.actor = pg::GetBytes(result.get(), row, 1);
    entry.action = pg::GetBytes(result.get(), row, 2);
    entry.task_id = pg::GetBytes(result.get(), row, 3);
    entry.detail = pg::GetBytes(result.get(), row, 4);
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace cohort::server
