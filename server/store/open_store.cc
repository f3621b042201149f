#include "server/store/open_store.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/store/connection_string.h"
#include "server/store/in_memory_store.h"
#include "server/store/postgres_store.h"

namespace cohort::server {

bool IsPostgresSpec(absl::string_view spec) {
  return absl::StartsWith(spec, "postgresql://") || absl::StartsWith(spec, "postgres://");
}

std::string RedactStoreSpec(absl::string_view spec) { return RedactConnectionString(spec); }

absl::StatusOr<std::unique_ptr<Store>> OpenStore(absl::string_view spec) {
  if (spec.empty() || spec == "memory") return std::make_unique<InMemoryStore>();
  if (IsPostgresSpec(spec)) {
    absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(std::string(spec));
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(std::move(*store));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--store: expected 'memory' or a postgresql:// URI, got '", RedactStoreSpec(spec), "'"));
}

}  // namespace cohort::server
