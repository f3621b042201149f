#include "server/store/migrations.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "server/store/pg_util.h"

namespace cohort::server {
namespace {

// Session advisory-lock key shared by every cohort-server migrator ("cohort" in ASCII).
constexpr int64_t kMigrationLockKey = 0x636f686f7274;
constexpr absl::Duration kConnectTimeout = absl::Seconds(10);

std::string FileName(const Migration& migration) {
  char number[16];
  std::snprintf(number, sizeof(number), "%04d", migration.version);
  return absl::StrCat(number, "_", migration.name);
}

absl::StatusOr<int> ReadVersion(PGconn* conn, const std::string& target) {
  // to_regclass is NULL when the table does not exist: a database never migrated.
  absl::StatusOr<pg::Result> exists =
      pg::ExecParams(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL", pg::Params(),
                     "reading the schema version", target);
  if (!exists.ok()) return exists.status();
  if (!pg::GetBool(exists->get(), 0, 0)) return 0;
  absl::StatusOr<pg::Result> version =
      pg::ExecParams(conn, "SELECT COALESCE(max(version), 0)::int4 FROM schema_migrations",
                     pg::Params(), "reading the schema version", target);
  if (!version.ok()) return version.status();
  return pg::GetInt32(version->get(), 0, 0);
}

absl::Status CheckNumbering(absl::Span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return absl::InternalError(absl::StrCat("migration ", migrations[i].name, " has version ",
                                              migrations[i].version, ", expected ", i + 1));
    }
  }
  return absl::OkStatus();
}

// Runs with the advisory lock held.
absl::StatusOr<MigrationReport> MigrateLocked(PGconn* conn, const std::string& target,
                                              absl::Span<const Migration> migrations) {
  absl::StatusOr<pg::Result> created =
      pg::ExecSimple(conn,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "  version integer PRIMARY KEY,"
                     "  name text NOT NULL,"
                     "  applied_at timestamptz NOT NULL DEFAULT now())",
                     "creating schema_migrations", target);
  if (!created.ok()) return created.status();
  absl::StatusOr<int> current = ReadVersion(conn, target);
  if (!current.ok()) return current.status();

  MigrationReport report;
  report.from_version = *current;
  report.to_version = *current;
  const int latest = static_cast<int>(migrations.size());
  if (*current > latest) return CheckSchemaVersion(*current, latest);

  for (const Migration& migration : migrations.subspan(static_cast<size_t>(*current))) {
    const std::string name = FileName(migration);
    const std::string what = absl::StrCat("applying migration ", name);
    absl::Status status = pg::ExecSimple(conn, "BEGIN", what, target).status();
    if (status.ok())
      status = pg::ExecSimple(conn, std::string(migration.sql), what, target).status();
    if (status.ok()) {
      status = pg::ExecParams(
                   conn, "INSERT INTO schema_migrations (version, name) VALUES ($1::int4, $2)",
                   pg::Params().Int32(migration.version).Text(migration.name), what, target)
                   .status();
    }
    if (status.ok()) status = pg::ExecSimple(conn, "COMMIT", what, target).status();
    if (!status.ok()) {
      // Best effort: a lost connection has rolled back already.
      (void)pg::ExecSimple(conn, "ROLLBACK", what, target);
      return status;
    }
    COHORT_LOG_INFO("applied migration name={} target={}", name, target);
    report.applied.push_back(name);
    report.to_version = migration.version;
  }
  return report;
}

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(EmbeddedMigrations().size()); }

absl::Status CheckSchemaVersion(int database_version, int binary_version) {
  if (database_version < binary_version) {
    return absl::FailedPreconditionError(
        absl::StrCat("the database schema is at version ", database_version,
                     " but this cohort-server needs ", binary_version,
                     ": run `cohort-server migrate --store=...` first (or start with "
                     "--migrate_on_start)"));
  }
  if (database_version > binary_version) {
    return absl::FailedPreconditionError(
        absl::StrCat("the database schema is at version ", database_version,
                     ", newer than this cohort-server knows (", binary_version,
                     "): it was migrated by a newer release; deploy that release or newer"));
  }
  return absl::OkStatus();
}

absl::StatusOr<MigrationReport> Migrate(const std::string& connection_string) {
  return Migrate(connection_string, EmbeddedMigrations());
}

absl::StatusOr<MigrationReport> Migrate(const std::string& connection_string,
                                        absl::Span<const Migration> migrations) {
  if (absl::Status numbering = CheckNumbering(migrations); !numbering.ok()) return numbering;
  absl::StatusOr<std::string> target = pg::DescribeTarget(connection_string);
  if (!target.ok()) return target.status();
  absl::StatusOr<pg::Conn> conn = pg::Connect(connection_string, *target, kConnectTimeout);
  if (!conn.ok()) return conn.status();
  PGconn* c = conn->get();

  absl::StatusOr<pg::Result> try_lock =
      pg::ExecParams(c, "SELECT pg_try_advisory_lock($1)", pg::Params().Int64(kMigrationLockKey),
                     "taking the migration lock", *target);
  if (!try_lock.ok()) return try_lock.status();
  if (!pg::GetBool(try_lock->get(), 0, 0)) {
    COHORT_LOG_INFO("another migrator holds the lock; waiting target={}", *target);
    absl::StatusOr<pg::Result> lock =
        pg::ExecParams(c, "SELECT pg_advisory_lock($1)", pg::Params().Int64(kMigrationLockKey),
                       "waiting for the migration lock", *target);
    if (!lock.ok()) return lock.status();
  }
  absl::StatusOr<MigrationReport> report = MigrateLocked(c, *target, migrations);
  // Closing the session would release the lock too; unlocking keeps the intent visible.
  (void)pg::ExecParams(c, "SELECT pg_advisory_unlock($1)", pg::Params().Int64(kMigrationLockKey),
                       "releasing the migration lock", *target);
  return report;
}

absl::StatusOr<int> SchemaVersion(const std::string& connection_string) {
  absl::StatusOr<std::string> target = pg::DescribeTarget(connection_string);
  if (!target.ok()) return target.status();
  absl::StatusOr<pg::Conn> conn = pg::Connect(connection_string, *target, kConnectTimeout);
  if (!conn.ok()) return conn.status();
  return ReadVersion(conn->get(), *target);
}

}  // namespace cohort::server
