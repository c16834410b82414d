// SQLite backend of the SQL layer: WAL journal, busy timeout, a pool of
// connections each with its own prepared-statement cache. Write transactions
// are serialised in-process (one writer at a time, BEGIN IMMEDIATE); reads
// run in parallel on other connections. Thread-safe.
#ifndef TASKER_STORAGE_SQLITE_SQLITE_DATABASE_H_
#define TASKER_STORAGE_SQLITE_SQLITE_DATABASE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/sql/database.h"

namespace tasker::storage::sql {

struct SqliteOptions {
  std::string path;
  int max_connections = 8;
  int busy_timeout_ms = 10000;
  // PRAGMA synchronous. FULL (the default) syncs the WAL on every commit:
  // an acknowledged write survives power loss and OS crashes. NORMAL is
  // durable across process crashes in WAL mode, but an OS crash or power
  // loss can lose the last transactions.
  bool synchronous_full = true;
};

absl::StatusOr<std::unique_ptr<Database>> OpenSqlite(const SqliteOptions& options);

}  // namespace tasker::storage::sql

#endif  // TASKER_STORAGE_SQLITE_SQLITE_DATABASE_H_
