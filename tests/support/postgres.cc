#include "tests/support/postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/support/process.h"

namespace tasker::testing {
namespace {
constexpr char kBin[] = "/usr/lib/postgresql/15/bin";
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(PostgresServerOptions options) {
  auto server = std::unique_ptr<PostgresServer>(new PostgresServer());
  char templ[] = "/tmp/tasker-pg-XXXXXX";
  if (!mkdtemp(templ)) return absl::InternalError("mkdtemp failed");
  server->dir_ = templ;
  server->as_postgres_ = getuid() == 0;
  std::string prefix;
  if (server->as_postgres_) {
    struct passwd* pw = getpwnam("postgres");
    if (!pw) return absl::FailedPreconditionError("no 'postgres' user: run tools/setup");
    if (chown(templ, pw->pw_uid, pw->pw_gid) != 0) return absl::InternalError("chown failed");
    prefix = "/usr/sbin/runuser -u postgres -- ";
  }
  auto [init_code, init_out] = RunCommand(absl::StrCat(
      prefix, kBin, "/initdb -D ", server->dir_, "/data -A trust -U tasker -E UTF8 --no-sync"));
  if (init_code != 0) return absl::InternalError("initdb failed: " + init_out);
  for (int attempt = 0; attempt < 5; ++attempt) {
    server->port_ = FreePort();
    auto [code, out] = RunCommand(absl::StrCat(
        prefix, kBin, "/pg_ctl -D ", server->dir_, "/data -l ", server->dir_,
        "/server.log -w -t 60 -o \"-p ", server->port_, " -k ", server->dir_,
        " -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=",
        options.fsync ? "on" : "off", "\" start"));
    if (code == 0) return server;
  }
  auto [c, log] = RunCommand("cat " + server->dir_ + "/server.log");
  return absl::InternalError("postgres did not start: " + log);
}

PostgresServer::~PostgresServer() {
  if (port_ != 0) {
    RunCommand(absl::StrCat(as_postgres_ ? "/usr/sbin/runuser -u postgres -- " : "", kBin, "/pg_ctl -D ",
                            dir_, "/data -m immediate -w stop"));
  }
  if (!dir_.empty()) RunCommand("rm -rf " + dir_);
}

std::string PostgresServer::Url(const std::string& database) const {
  return absl::StrCat("postgres://tasker@127.0.0.1:", port_, "/", database);
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase(const std::string& name) {
  try {
    pqxx::connection conn(Url("postgres"));
    pqxx::nontransaction tx(conn);
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("CREATE DATABASE ", name, ": ", e.what()));
  }
  return Url(name);
}

PostgresServer* SharedPostgres(std::string* error) {
  static std::mutex mu;
  static std::unique_ptr<PostgresServer> server;
  static std::string start_error;
  static bool tried = false;
  std::lock_guard<std::mutex> lock(mu);
  if (!tried) {
    tried = true;
    auto started = PostgresServer::Start();
    if (started.ok()) {
      server = std::move(*started);
      // Stopped at exit (static destruction).
    } else {
      start_error = started.status().ToString();
    }
  }
  if (!server && error) *error = start_error;
  return server.get();
}

}  // namespace tasker::testing
