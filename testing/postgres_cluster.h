#ifndef COHORT_TESTING_POSTGRES_CLUSTER_H_
#define COHORT_TESTING_POSTGRES_CLUSTER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "testing/subprocess.h"

namespace cohort::testing {

// One connection to a test database that the test keeps open, e.g. to hold a lock inside an
// open transaction while the server under test waits on it. Closing it (the destructor) ends
// the connection, and PostgreSQL rolls back whatever it left open. Not thread-safe.
class PostgresSession {
 public:
  // UNAVAILABLE when the connection fails.
  static absl::StatusOr<std::unique_ptr<PostgresSession>> Open(const std::string& uri);
  ~PostgresSession();
  PostgresSession(const PostgresSession&) = delete;
  PostgresSession& operator=(const PostgresSession&) = delete;
  // Runs SQL (several statements allowed); INTERNAL with the server's message on failure.
  absl::Status Execute(const std::string& sql);

 private:
  explicit PostgresSession(void* conn) : conn_(conn) {}
  void* conn_;  // PGconn*, kept opaque so that tests need no libpq header
};

// A throwaway PostgreSQL cluster for integration tests: initdb into a fresh temp dir, started
// with pg_ctl on a free loopback port (listen_addresses=127.0.0.1, the Unix socket inside the
// temp dir), torn down (pg_ctl stop -m immediate, directory removed) by the destructor.
//
// The server binaries come from Debian's `postgresql` package (/usr/lib/postgresql/<N>/bin,
// highest N); scripts/install-deps.sh installs it. initdb refuses to run as root, so under root
// initdb and pg_ctl run as the `postgres` user (runuser) and the temp dir is chowned to it.
//
// The superuser is "cohort" with a random password and SCRAM authentication, so URIs carry a
// password just as production ones do (tests can check that no message leaks it). fsync and
// full_page_writes are off: acknowledged commits outlive an immediate stop (a crash), not a
// power cut, which is all a test needs.
//
// This class is not thread-safe.
class PostgresCluster {
 public:
  // FAILED_PRECONDITION naming the fix when PostgreSQL is not installed (or, under root, the
  // `postgres` user is missing); INTERNAL with the tool's output when initdb or pg_ctl fails.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start();
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  // pg_ctl stop: "fast" disconnects clients cleanly; "immediate" is a crash (recovery on start).
  absl::Status Stop(const std::string& mode = "fast");
  // Starts the stopped cluster again on the same port and data.
  absl::Status Restart();
  bool running() const { return running_; }

  int port() const { return port_; }
  const std::string& user() const { return user_; }
  const std::string& password() const { return password_; }
  // postgresql://cohort:<password>@127.0.0.1:<port>/<database>
  std::string Uri(const std::string& database) const;

  // CREATE DATABASE `name` (lower-case letters, digits and '_'); returns its URI.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);
  // Runs SQL (several statements allowed) in `database`.
  absl::Status Execute(const std::string& database, const std::string& sql);
  // The first column of the first row, as text; NOT_FOUND when there is no row.
  absl::StatusOr<std::string> QueryValue(const std::string& database, const std::string& sql);
  // A connection to `database` that stays open until the session is destroyed.
  absl::StatusOr<std::unique_ptr<PostgresSession>> OpenSession(const std::string& database) {
    return PostgresSession::Open(Uri(database));
  }

  // The server log so far, for failure messages.
  std::string Log() const;

 private:
  PostgresCluster() = default;
  // argv run as the cluster's OS user.
  absl::StatusOr<std::string> RunTool(std::vector<std::string> argv);

  std::unique_ptr<TempDir> dir_;
  std::string bin_dir_;
  std::string data_dir_;
  bool as_postgres_user_ = false;
  int port_ = 0;
  std::string user_ = "cohort";
  std::string password_;
  bool running_ = false;
};

// One cluster for the whole test process, started on first call (each ctest case is its own
// process, so this is one cluster per test case, shared by its sections) and stopped at exit.
// The status of the first start is returned on every call.
absl::StatusOr<PostgresCluster*> SharedPostgresCluster();

}  // namespace cohort::testing

#endif  // COHORT_TESTING_POSTGRES_CLUSTER_H_
