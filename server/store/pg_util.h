#ifndef COHORT_SERVER_STORE_PG_UTIL_H_
#define COHORT_SERVER_STORE_PG_UTIL_H_

// Small libpq helpers shared by PostgresStore and the migrator; internal to server/store (the
// rest of the server never includes libpq). Parameters and results travel in PostgreSQL's binary
// format, so bytea needs no escaping and integers and timestamps no parsing.

#include <libpq-fe.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cohort::server::pg {

// Type OIDs of the parameters we send (pg_type.dat; stable across PostgreSQL versions).
inline constexpr Oid kBool = 16;
inline constexpr Oid kBytea = 17;
inline constexpr Oid kInt8 = 20;
inline constexpr Oid kInt4 = 23;
inline constexpr Oid kText = 25;
inline constexpr Oid kFloat8 = 701;
inline constexpr Oid kTimestamptz = 1184;

struct ConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// "host:port/dbname" for messages and logs, from a libpq URI or key=value string. Never contains
// the password. INVALID_ARGUMENT if libpq cannot parse `conninfo` (the message names no secret).
absl::StatusOr<std::string> DescribeTarget(const std::string& conninfo);

// Opens a connection. `connect_timeout` and application_name are defaults that the conninfo may
// override. UNAVAILABLE naming `target` (see DescribeTarget) when the server cannot be reached or
// refuses the login.
absl::StatusOr<Conn> Connect(const std::string& conninfo, const std::string& target,
                             absl::Duration connect_timeout);

// True when the connection is unusable: libpq already knows, or the server closed it while it
// sat idle (restart, idle timeout). Reads pending input without blocking.
bool IsBroken(PGconn* conn);

// Parameters of one statement, in binary format. Text and Bytes keep a view of the caller's
// data, which must outlive the Exec call; numbers are copied.
class Params {
 public:
  Params& Int64(int64_t value);
  Params& Int32(int32_t value);
  Params& Bool(bool value);
  Params& Float64(double value);
  // NULL when absent.
  Params& OptionalFloat64(std::optional<double> value);
  Params& Text(absl::string_view value);
  Params& Bytes(absl::string_view value);
  Params& Time(absl::Time value);
  // NULL when absent.
  Params& OptionalTime(std::optional<absl::Time> value);

  int size() const { return static_cast<int>(views_.size()); }
  const std::vector<Oid>& types() const { return types_; }

  // The arrays libpq wants; valid while this object lives and is not changed.
  struct Arrays {
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
  };
  Arrays ToArrays() const;

 private:
  Params& Add(Oid type, std::optional<absl::string_view> value);
  Params& AddOwned(Oid type, std::string bytes);

  std::deque<std::string> owned_;  // a deque: growing it keeps earlier views valid
  std::vector<std::optional<absl::string_view>> views_;
  std::vector<Oid> types_;
};

// The status for a failed statement. UNAVAILABLE when the connection is lost or the server is
// shutting down, starting up or out of connections (the caller may retry); ALREADY_EXISTS for a
// unique violation; NOT_FOUND for a foreign-key violation (a row names an unknown task);
// FAILED_PRECONDITION for a check violation (a constraint or trigger refused the row, e.g. a
// privacy budget overspent); INTERNAL otherwise. `what` names the operation.
absl::Status StatusFromResult(PGconn* conn, const PGresult* result, absl::string_view what,
                              const std::string& target);

// Runs SQL with the simple protocol (several statements allowed, no parameters; BEGIN, COMMIT,
// DDL). Errors as StatusFromResult.
absl::StatusOr<Result> ExecSimple(PGconn* conn, const std::string& sql, absl::string_view what,
                                  const std::string& target);
// Runs a prepared statement; binary results.
absl::StatusOr<Result> ExecPrepared(PGconn* conn, const char* name, const Params& params,
                                    absl::string_view what, const std::string& target);
// Runs SQL with parameters typed from `params`; binary results.
absl::StatusOr<Result> ExecParams(PGconn* conn, const std::string& sql, const Params& params,
                                  absl::string_view what, const std::string& target);

// Readers for binary-format result fields (check IsNull first for nullable columns).
bool IsNull(const PGresult* result, int row, int column);
int64_t GetInt64(const PGresult* result, int row, int column);
int32_t GetInt32(const PGresult* result, int row, int column);
bool GetBool(const PGresult* result, int row, int column);
// text and bytea alike.
std::string GetBytes(const PGresult* result, int row, int column);
absl::Time GetTime(const PGresult* result, int row, int column);

}  // namespace cohort::server::pg

#endif  // COHORT_SERVER_STORE_PG_UTIL_H_
