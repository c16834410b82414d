// Numbered schema migrations and the code that applies them. Each backend
// embeds its own from storage/<backend>/migrations/NNNN_name.sql
// (embed_migrations.sh).
#ifndef TASKER_STORAGE_SQL_MIGRATIONS_H_
#define TASKER_STORAGE_SQL_MIGRATIONS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "storage/sql/database.h"

namespace tasker::storage {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Applies every migration newer than the database's recorded version, each in
// its own transaction with a row in schema_migrations. An up-to-date database
// is left unchanged. A database whose version is newer than the newest known
// migration is refused with FAILED_PRECONDITION. Concurrent callers on
// Postgres serialise on an advisory lock.
absl::Status ApplyMigrations(sql::Database& db, const std::vector<Migration>& migrations);

// The highest applied version (0 for an empty database).
absl::StatusOr<int> SchemaVersion(sql::Database& db);

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_SQL_MIGRATIONS_H_
