#ifndef COHORT_SERVER_STORE_OPEN_STORE_H_
#define COHORT_SERVER_STORE_OPEN_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/store/store.h"

namespace cohort::server {

// True for a postgresql:// or postgres:// URI (the specs OpenStore hands to PostgreSQL).
bool IsPostgresSpec(absl::string_view spec);

// The Store named by --store / $COHORT_STORE:
//   ""  or "memory"                      -> InMemoryStore (the embedded default; nothing survives
//                                           a restart)
//   "postgresql://..." or "postgres://..." -> PostgresStore::Open with default pool options
// INVALID_ARGUMENT for anything else, naming the value with any password masked; otherwise the
// codes of PostgresStore::Open (UNAVAILABLE, FAILED_PRECONDITION when the schema needs
// `cohort-server migrate`).
absl::StatusOr<std::unique_ptr<Store>> OpenStore(absl::string_view spec);

// `spec` with any password replaced by "***" (see RedactConnectionString), for messages and
// logs, e.g. `COHORT_LOG_INFO("store={}", RedactStoreSpec(spec))`.
std::string RedactStoreSpec(absl::string_view spec);

}  // namespace cohort::server

#endif  // COHORT_SERVER_STORE_OPEN_STORE_H_
