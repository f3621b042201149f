#ifndef COHORT_SERVER_STORE_MIGRATIONS_H_
#define COHORT_SERVER_STORE_MIGRATIONS_H_

// The PostgreSQL schema and its forward-only migrations. The SQL files under migrations/ are
// compiled into the binary (server/store/embed_migrations.cmake), so a cohort-server always
// knows exactly which schema it needs and never reads SQL from disk.
//
//   cohort-server migrate --store=postgresql://...   ->  Migrate(uri)
//   PostgresStore::Open(...)                          ->  refuses a database that is behind

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cohort::server {

// One numbered SQL file, migrations/NNNN_name.sql.
struct Migration {
  int version = 0;
  absl::string_view name;
  absl::string_view sql;
};

// Every migration the binary carries, in version order 1, 2, ... (generated at build time).
absl::Span<const Migration> EmbeddedMigrations();

// The schema version this binary needs: the highest embedded migration.
int LatestSchemaVersion();

struct MigrationReport {
  // The database's version before and after.
  int from_version = 0;
  int to_version = 0;
  // What was applied, e.g. "0002_add_index"; empty when the database was already current.
  std::vector<std::string> applied;
};

// Brings the database at `connection_string` (a postgresql:// URI or key=value string) to the
// latest embedded version. Each missing migration runs in its own transaction together with its
// row in schema_migrations(version, name, applied_at); a session advisory lock makes a second
// migrator (another replica starting with --migrate_on_start) wait instead of racing. A no-op when
// the database is current.
//
// Returns INVALID_ARGUMENT for a malformed connection string, UNAVAILABLE when the database
// cannot be reached, FAILED_PRECONDITION when the database's version is newer than this binary
// knows (the message names both versions), INTERNAL when a migration fails (the message names it;
// that migration is rolled back, earlier ones stay applied). Messages never contain the password.
absl::StatusOr<MigrationReport> Migrate(const std::string& connection_string);
// As above with an explicit migration list (tests); `migrations` must be numbered 1, 2, ...
absl::StatusOr<MigrationReport> Migrate(const std::string& connection_string,
                                        absl::Span<const Migration> migrations);

// The highest applied migration; 0 for a database that was never migrated. INVALID_ARGUMENT or
// UNAVAILABLE as for Migrate.
absl::StatusOr<int> SchemaVersion(const std::string& connection_string);

// OK when a database at `database_version` suits a binary that needs `binary_version`.
// FAILED_PRECONDITION otherwise, telling the operator what to do: run `cohort-server migrate`
// when the database is behind, deploy a newer binary when it is ahead.
absl::Status CheckSchemaVersion(int database_version, int binary_version);

}  // namespace cohort::server

#endif  // COHORT_SERVER_STORE_MIGRATIONS_H_
