#include "server/store/pg_util.h"

#include <endian.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/logging.h"
#include "server/store/connection_string.h"

namespace cohort::server::pg {
namespace {

// PostgreSQL's binary timestamps count microseconds from 2000-01-01 00:00:00 UTC.
constexpr int64_t kPostgresEpochUnixMicros = 946684800LL * 1000000LL;

// libpq messages end in a newline and may span lines ("...\n\tIs the server running...");
// one line reads better inside a status message or a log line.
std::string Trim(const char* message) {
  return absl::StrReplaceAll(absl::StripAsciiWhitespace(message == nullptr ? "" : message),
                             {{"\n\t", " "}, {"\n", " "}});
}

struct ConninfoDeleter {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};

}  // namespace

absl::StatusOr<std::string> DescribeTarget(const std::string& conninfo) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoDeleter> options(
      PQconninfoParse(conninfo.c_str(), &error));
  if (options == nullptr) {
    std::string message = Trim(error);
    PQfreemem(error);
    // libpq quotes the offending part, which may be (part of) the password: keep its words,
    // drop what it quotes, unless the string carries no password at all.
    const std::string redacted = RedactConnectionString(conninfo);
    if (redacted != conninfo && message.find('"') != std::string::npos) {
      message =
          absl::StrCat(absl::StripTrailingAsciiWhitespace(message.substr(0, message.find('"'))),
                       " (the rest is withheld: it may quote the password)");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid PostgreSQL connection string '", redacted, "': ", message));
  }
  std::string host, hostaddr, port, dbname, user;
  for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    const absl::string_view keyword = option->keyword;
    if (keyword == "host") host = option->val;
    if (keyword == "hostaddr") hostaddr = option->val;
    if (keyword == "port") port = option->val;
    if (keyword == "dbname") dbname = option->val;
    if (keyword == "user") user = option->val;
  }
  if (host.empty()) host = hostaddr.empty() ? "localhost" : hostaddr;
  if (port.empty()) port = "5432";
  return absl::StrCat(user.empty() ? "" : absl::StrCat(user, "@"), host, ":", port, "/",
                      dbname.empty() ? "(default database)" : dbname);
}

absl::StatusOr<Conn> Connect(const std::string& conninfo, const std::string& target,
                             absl::Duration connect_timeout) {
  const std::string timeout_seconds =
      absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(connect_timeout)));
  // With expand_dbname, later entries override earlier ones: the defaults come first so that
  // anything in the caller's conninfo wins.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {timeout_seconds.c_str(), "cohort-server", conninfo.c_str(), nullptr};
  Conn conn(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL at ", target, ": ",
                                               Trim(PQerrorMessage(conn.get()))));
  }
  // libpq prints notices (and the server's "terminating connection") to stderr by default;
  // route them through the project's log instead.
  PQsetNoticeProcessor(
      conn.get(),
      [](void*, [[maybe_unused]] const char* message) {
        COHORT_LOG_DEBUG("PostgreSQL notice text={}", Trim(message));
      },
      nullptr);
  return conn;
}

bool IsBroken(PGconn* conn) {
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) return true;
  // libpq keeps its socket non-blocking, so this only reads what already arrived: a server
  // that closed the connection leaves an error message and EOF, which mark it CONNECTION_BAD.
  if (PQconsumeInput(conn) == 0) return true;
  return PQstatus(conn) != CONNECTION_OK;
}

Params& Params::Add(Oid type, std::optional<absl::string_view> value) {
  types_.push_back(type);
  views_.push_back(value);
  return *this;
}

Params& Params::AddOwned(Oid type, std::string bytes) {
  owned_.push_back(std::move(bytes));
  return Add(type, absl::string_view(owned_.back()));
}

Params& Params::Int64(int64_t value) {
  const uint64_t big = htobe64(static_cast<uint64_t>(value));
  return AddOwned(kInt8, std::string(reinterpret_cast<const char*>(&big), sizeof(big)));
}

Params& Params::Int32(int32_t value) {
  const uint32_t big = htobe32(static_cast<uint32_t>(value));
  return AddOwned(kInt4, std::string(reinterpret_cast<const char*>(&big), sizeof(big)));
}

Params& Params::Bool(bool value) { return AddOwned(kBool, std::string(1, value ? 1 : 0)); }

Params& Params::Float64(double value) {
  const uint64_t big = htobe64(std::bit_cast<uint64_t>(value));
  return AddOwned(kFloat8, std::string(reinterpret_cast<const char*>(&big), sizeof(big)));
}

Params& Params::OptionalFloat64(std::optional<double> value) {
  if (!value.has_value()) return Add(kFloat8, std::nullopt);
  return Float64(*value);
}

Params& Params::Text(absl::string_view value) { return Add(kText, value); }

Params& Params::Bytes(absl::string_view value) { return Add(kBytea, value); }

Params& Params::Time(absl::Time value) {
  const uint64_t big =
      htobe64(static_cast<uint64_t>(absl::ToUnixMicros(value) - kPostgresEpochUnixMicros));
  return AddOwned(kTimestamptz, std::string(reinterpret_cast<const char*>(&big), sizeof(big)));
}

Params& Params::OptionalTime(std::optional<absl::Time> value) {
  if (value.has_value()) return Time(*value);
  return Add(kTimestamptz, std::nullopt);
}

Params::Arrays Params::ToArrays() const {
  Arrays arrays;
  for (const std::optional<absl::string_view>& view : views_) {
    // An empty string must still be a non-null pointer, or PostgreSQL reads NULL.
    arrays.values.push_back(view.has_value() ? (view->empty() ? "" : view->data()) : nullptr);
    arrays.lengths.push_back(view.has_value() ? static_cast<int>(view->size()) : 0);
    arrays.formats.push_back(1);
  }
  return arrays;
}

absl::Status StatusFromResult(PGconn* conn, const PGresult* result, absl::string_view what,
                              const std::string& target) {
  std::string message =
      Trim(result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr);
  if (message.empty()) message = Trim(PQerrorMessage(conn));
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state == nullptr ? "" : state;
  const std::string text = absl::StrCat(what, ": ", message);
  if (PQstatus(conn) != CONNECTION_OK || absl::StartsWith(sqlstate, "08") || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03" || sqlstate == "53300") {
    return absl::UnavailableError(
        absl::StrCat("PostgreSQL at ", target, " is unavailable: ", text));
  }
  // Serialization failures and deadlocks leave nothing behind; retrying is the remedy.
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::UnavailableError(text);
  if (sqlstate == "23505") return absl::AlreadyExistsError(text);
  if (sqlstate == "23503") return absl::NotFoundError(text);
  if (sqlstate == "23514") return absl::FailedPreconditionError(text);
  return absl::InternalError(
      absl::StrCat(text, sqlstate.empty() ? "" : absl::StrCat(" (SQLSTATE ", sqlstate, ")")));
}

namespace {

absl::StatusOr<Result> Check(PGconn* conn, Result result, absl::string_view what,
                             const std::string& target) {
  if (result != nullptr) {
    const ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  }
  return StatusFromResult(conn, result.get(), what, target);
}

}  // namespace

absl::StatusOr<Result> ExecSimple(PGconn* conn, const std::string& sql, absl::string_view what,
                                  const std::string& target) {
  return Check(conn, Result(PQexec(conn, sql.c_str())), what, target);
}

absl::StatusOr<Result> ExecPrepared(PGconn* conn, const char* name, const Params& params,
                                    absl::string_view what, const std::string& target) {
  const Params::Arrays arrays = params.ToArrays();
  return Check(conn,
               Result(PQexecPrepared(conn, name, params.size(), arrays.values.data(),
                                     arrays.lengths.data(), arrays.formats.data(),
                                     /*resultFormat=*/1)),
               what, target);
}

absl::StatusOr<Result> ExecParams(PGconn* conn, const std::string& sql, const Params& params,
                                  absl::string_view what, const std::string& target) {
  const Params::Arrays arrays = params.ToArrays();
  return Check(conn,
               Result(PQexecParams(conn, sql.c_str(), params.size(), params.types().data(),
                                   arrays.values.data(), arrays.lengths.data(),
                                   arrays.formats.data(), /*resultFormat=*/1)),
               what, target);
}

bool IsNull(const PGresult* result, int row, int column) {
  return PQgetisnull(result, row, column) != 0;
}

int64_t GetInt64(const PGresult* result, int row, int column) {
  if (PQgetlength(result, row, column) != 8) return 0;
  uint64_t big = 0;
  std::memcpy(&big, PQgetvalue(result, row, column), sizeof(big));
  return static_cast<int64_t>(be64toh(big));
}

int32_t GetInt32(const PGresult* result, int row, int column) {
  if (PQgetlength(result, row, column) != 4) return 0;
  uint32_t big = 0;
  std::memcpy(&big, PQgetvalue(result, row, column), sizeof(big));
  return static_cast<int32_t>(be32toh(big));
}

bool GetBool(const PGresult* result, int row, int column) {
  return PQgetlength(result, row, column) == 1 && PQgetvalue(result, row, column)[0] != 0;
}

std::string GetBytes(const PGresult* result, int row, int column) {
  return std::string(PQgetvalue(result, row, column),
                     static_cast<size_t>(PQgetlength(result, row, column)));
}

absl::Time GetTime(const PGresult* result, int row, int column) {
  return absl::FromUnixMicros(GetInt64(result, row, column) + kPostgresEpochUnixMicros);
}

}  // namespace cohort::server::pg
