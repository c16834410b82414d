// A real Postgres 15 server for tests: initdb into a fresh temp dir, started
// on a free loopback port (as the `postgres` user when running as root, since
// the server refuses root), stopped and removed on destruction.
#ifndef TASKER_TESTS_SUPPORT_POSTGRES_H_
#define TASKER_TESTS_SUPPORT_POSTGRES_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tasker::testing {

struct PostgresServerOptions {
  // Tests trade durability for speed; benchmarks keep fsync on.
  bool fsync = false;
};

class PostgresServer {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(PostgresServerOptions options = {});
  ~PostgresServer();

  int port() const { return port_; }
  // Creates a fresh database and returns its postgres:// URL.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);
  std::string Url(const std::string& database) const;

 private:
  PostgresServer() = default;
  std::string dir_;
  int port_ = 0;
  bool as_postgres_ = false;
};

// A process-wide server started on first use (nullptr + message on failure).
PostgresServer* SharedPostgres(std::string* error);

// Picks a currently free loopback TCP port.
int FreePort();

}  // namespace tasker::testing

#endif  // TASKER_TESTS_SUPPORT_POSTGRES_H_
