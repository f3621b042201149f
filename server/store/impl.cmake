# Store implementations: the embedded in-memory store, the PostgreSQL store with its migrations,
# and OpenStore, which picks one from the --store value.

cohort_cc_library(
  NAME in_memory_store
  HDRS in_memory_store.h
  SRCS in_memory_store.cc
  DEPS cohort::store_interface absl::status absl::statusor absl::strings absl::synchronization
       absl::time)

# The SQL files under migrations/ are compiled into the binary (see embed_migrations.cmake).
# CONFIGURE_DEPENDS re-runs the glob when a migration is added.
file(GLOB _cohort_migration_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/migrations/*.sql)
set(_cohort_embedded_migrations ${CMAKE_CURRENT_BINARY_DIR}/embedded_migrations.cc)
add_custom_command(
  OUTPUT ${_cohort_embedded_migrations}
  COMMAND ${CMAKE_COMMAND} -DMIGRATIONS_DIR=${PROJECT_SOURCE_DIR}/migrations
          -DOUTPUT=${_cohort_embedded_migrations}
          -P ${CMAKE_CURRENT_SOURCE_DIR}/embed_migrations.cmake
  DEPENDS ${_cohort_migration_files} ${CMAKE_CURRENT_SOURCE_DIR}/embed_migrations.cmake
  COMMENT "Embedding migrations/*.sql"
  VERBATIM)

cohort_cc_library(
  NAME postgres_store
  HDRS postgres_store.h migrations.h connection_string.h pg_util.h
  SRCS postgres_store.cc migrations.cc connection_string.cc pg_util.cc
       ${_cohort_embedded_migrations}
  DEPS cohort::store_interface cohort::base absl::status absl::statusor absl::strings
       absl::synchronization absl::time absl::span absl::function_ref
  PRIVATE_DEPS PkgConfig::LIBPQ)

cohort_cc_library(
  NAME open_store
  HDRS open_store.h
  SRCS open_store.cc
  DEPS cohort::store_interface absl::status absl::statusor absl::strings
  PRIVATE_DEPS cohort::in_memory_store cohort::postgres_store)

# For tests: a Store decorator over InMemoryStore (or any store) that injects the faults a
# database gives, including a commit that lands with its acknowledgement lost.
cohort_cc_library(
  NAME store_testing
  HDRS testing/fault_injecting_store.h
  SRCS testing/fault_injecting_store.cc
  DEPS cohort::store_interface cohort::in_memory_store absl::status absl::statusor
       absl::synchronization)
