// Postgres backend of the SQL layer over libpqxx: a fixed-size connection
// pool (a connection serves one transaction at a time), READ COMMITTED
// transactions, `?` placeholders rewritten to `$n`, broken connections
// replaced on next use, serialization failures and deadlocks retried.
#ifndef TASKER_STORAGE_POSTGRES_POSTGRES_DATABASE_H_
#define TASKER_STORAGE_POSTGRES_POSTGRES_DATABASE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/sql/database.h"

namespace tasker::storage::sql {

struct PostgresOptions {
  // libpq connection URI: postgres://user[:password]@host:port/dbname
  std::string url;
  int pool_size = 8;
};

absl::StatusOr<std::unique_ptr<Database>> OpenPostgres(const PostgresOptions& options);

// "?" -> "$1", "$2", ... outside quoted strings.
std::string PostgresPlaceholders(absl::string_view sql);

}  // namespace tasker::storage::sql

#endif  // TASKER_STORAGE_POSTGRES_POSTGRES_DATABASE_H_
