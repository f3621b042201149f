#include "testing/postgres_cluster.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cohort::testing {
namespace {

constexpr char kInstallHint[] =
    "install PostgreSQL with `bash scripts/install-deps.sh` (Debian package `postgresql`)";

// The newest /usr/lib/postgresql/<N>/bin that has initdb and pg_ctl.
absl::StatusOr<std::string> FindBinDir() {
  namespace fs = std::filesystem;
  const fs::path root = "/usr/lib/postgresql";
  std::error_code error;
  int best_version = -1;
  std::string best;
  if (fs::is_directory(root, error)) {
    for (const fs::directory_entry& entry : fs::directory_iterator(root, error)) {
      int version = 0;
      if (!absl::SimpleAtoi(entry.path().filename().string(), &version)) continue;
      const fs::path bin = entry.path() / "bin";
      if (fs::exists(bin / "initdb") && fs::exists(bin / "pg_ctl") && version > best_version) {
        best_version = version;
        best = bin.string();
      }
    }
  }
  if (best.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: ",
        kInstallHint));
  }
  return best;
}

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  if (!ok) return absl::InternalError("cannot find a free loopback port");
  return static_cast<int>(ntohs(address.sin_port));
}

std::string RandomPassword() {
  std::random_device device;
  std::mt19937_64 generator(device());
  return absl::StrCat("pw", absl::Hex(generator(), absl::kZeroPad16),
                      absl::Hex(generator(), absl::kZeroPad16));
}

std::string FirstExisting(std::initializer_list<const char*> paths) {
  for (const char* path : paths) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultCloser {
  void operator()(PGresult* result) const { PQclear(result); }
};

absl::StatusOr<std::unique_ptr<PGresult, ResultCloser>> RunSql(const std::string& uri,
                                                               const std::string& sql) {
  std::unique_ptr<PGconn, ConnCloser> conn(PQconnectdb(uri.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to the test cluster: ", PQerrorMessage(conn.get())));
  }
  std::unique_ptr<PGresult, ResultCloser> result(PQexec(conn.get(), sql.c_str()));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return absl::InternalError(
        absl::StrCat("SQL failed: ", sql, ": ", PQresultErrorMessage(result.get())));
  }
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresSession>> PostgresSession::Open(const std::string& uri) {
  PGconn* conn = PQconnectdb(uri.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string error = PQerrorMessage(conn);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("cannot connect to the test cluster: ", error));
  }
  return std::unique_ptr<PostgresSession>(new PostgresSession(conn));
}

PostgresSession::~PostgresSession() { PQfinish(static_cast<PGconn*>(conn_)); }

absl::Status PostgresSession::Execute(const std::string& sql) {
  std::unique_ptr<PGresult, ResultCloser> result(PQexec(static_cast<PGconn*>(conn_), sql.c_str()));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return absl::InternalError(
        absl::StrCat("SQL failed: ", sql, ": ", PQresultErrorMessage(result.get())));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start() {
  std::unique_ptr<PostgresCluster> cluster(new PostgresCluster);
  absl::StatusOr<std::string> bin_dir = FindBinDir();
  if (!bin_dir.ok()) return bin_dir.status();
  cluster->bin_dir_ = *bin_dir;
  cluster->dir_ = std::make_unique<TempDir>();
  cluster->data_dir_ = cluster->dir_->File("data");
  cluster->password_ = RandomPassword();

  const std::string password_file = cluster->dir_->File("password");
  {
    std::ofstream out(password_file);
    out << cluster->password_ << "\n";
  }
  if (geteuid() == 0) {
    // initdb refuses root; the postgresql package's `postgres` user owns the cluster instead.
    const passwd* postgres = getpwnam("postgres");
    if (postgres == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "running as root, and there is no `postgres` user to run initdb as: ", kInstallHint));
    }
    for (const std::string& path : {cluster->dir_->path(), password_file}) {
      if (chown(path.c_str(), postgres->pw_uid, postgres->pw_gid) != 0) {
        return absl::InternalError(absl::StrCat("cannot chown ", path, " to postgres"));
      }
    }
    cluster->as_postgres_user_ = true;
  }

  absl::StatusOr<std::string> initdb =
      cluster->RunTool({cluster->bin_dir_ + "/initdb", "-D", cluster->data_dir_, "-U",
                        cluster->user_, "--auth=scram-sha-256", "--pwfile=" + password_file,
                        "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"});
  if (!initdb.ok()) return initdb.status();

  absl::StatusOr<int> port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  cluster->port_ = *port;
  {
    // Appending keeps the file's owner (postgres when running as root).
    std::ofstream conf(cluster->data_dir_ + "/postgresql.conf", std::ios::app);
    conf << "\n# cohort test cluster\n"
         << "port = " << cluster->port_ << "\n"
         << "listen_addresses = '127.0.0.1'\n"
         << "unix_socket_directories = '" << cluster->dir_->path() << "'\n"
         << "max_connections = 40\n"
         << "shared_buffers = 16MB\n"
         // Speed without losing acknowledged commits in an immediate stop: the OS keeps what
         // fsync would have forced to disk. synchronous_commit stays on, or the last commits
         // of a crash would be lost (the outage test catches exactly that).
         << "fsync = off\n"
         << "full_page_writes = off\n";
    if (!conf) return absl::InternalError("cannot write postgresql.conf");
  }
  if (absl::Status started = cluster->Restart(); !started.ok()) return started;
  return cluster;
}

PostgresCluster::~PostgresCluster() {
  if (running_) (void)Stop("immediate");
}

absl::StatusOr<std::string> PostgresCluster::RunTool(std::vector<std::string> argv) {
  if (as_postgres_user_) {
    const std::string runuser = FirstExisting({"/usr/sbin/runuser", "/sbin/runuser"});
    if (runuser.empty()) return absl::FailedPreconditionError("runuser (util-linux) not found");
    argv.insert(argv.begin(), {runuser, "-u", "postgres", "--"});
  }
  absl::StatusOr<std::pair<int, std::string>> run = RunToCompletion(argv, absl::Seconds(90));
  if (!run.ok()) return run.status();
  if (run->first != 0) {
    return absl::InternalError(absl::StrCat("`", absl::StrJoin(argv, " "), "` exited with ",
                                            run->first, ":\n", run->second, "\nserver log:\n",
                                            Log()));
  }
  return run->second;
}

absl::Status PostgresCluster::Stop(const std::string& mode) {
  absl::StatusOr<std::string> stopped =
      RunTool({bin_dir_ + "/pg_ctl", "-D", data_dir_, "-m", mode, "-w", "-t", "60", "stop"});
  if (!stopped.ok()) return stopped.status();
  running_ = false;
  return absl::OkStatus();
}

absl::Status PostgresCluster::Restart() {
  absl::StatusOr<std::string> started =
      RunTool({bin_dir_ + "/pg_ctl", "-D", data_dir_, "-l", dir_->File("server.log"), "-w", "-t",
               "60", "start"});
  if (!started.ok()) return started.status();
  running_ = true;
  return absl::OkStatus();
}

std::string PostgresCluster::Uri(const std::string& database) const {
  return absl::StrCat("postgresql://", user_, ":", password_, "@127.0.0.1:", port_, "/", database);
}

absl::StatusOr<std::string> PostgresCluster::CreateDatabase(const std::string& name) {
  const bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_';
  });
  if (!valid) return absl::InvalidArgumentError(absl::StrCat("bad database name '", name, "'"));
  // FILE_COPY skips WAL-logging the template's blocks, the slow part for a tiny database.
  absl::Status created =
      Execute("postgres", absl::StrCat("CREATE DATABASE ", name, " STRATEGY = FILE_COPY"));
  if (!created.ok()) return created;
  return Uri(name);
}

absl::Status PostgresCluster::Execute(const std::string& database, const std::string& sql) {
  return RunSql(Uri(database), sql).status();
}

absl::StatusOr<std::string> PostgresCluster::QueryValue(const std::string& database,
                                                        const std::string& sql) {
  auto result = RunSql(Uri(database), sql);
  if (!result.ok()) return result.status();
  if (PQntuples(result->get()) == 0 || PQnfields(result->get()) == 0) {
    return absl::NotFoundError(absl::StrCat("no row from: ", sql));
  }
  return std::string(PQgetvalue(result->get(), 0, 0));
}

std::string PostgresCluster::Log() const {
  std::ifstream in(dir_->File("server.log"));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<PostgresCluster*> SharedPostgresCluster() {
  // A function-local static: started once, destroyed (cluster stopped, files removed) at exit.
  static const absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster = PostgresCluster::Start();
  if (!cluster.ok()) return cluster.status();
  return cluster->get();
}

}  // namespace cohort::testing
