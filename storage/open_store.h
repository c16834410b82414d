// The one factory of stores: the backend is chosen by the database URL.
#ifndef TASKER_STORAGE_OPEN_STORE_H_
#define TASKER_STORAGE_OPEN_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/sql/sql_store.h"
#include "storage/sqlite/sqlite_database.h"
#include "storage/store.h"

namespace tasker::storage {

// Opens a store by URL, applying the backend's migrations:
//   sqlite:///abs/path/tasks.db               SQLite (storage/sqlite), synchronous=FULL
//   sqlite:///abs/path/tasks.db?synchronous=normal   ... with synchronous=NORMAL (or =full)
//   postgres://user:pw@host:port/db           Postgres (storage/postgres; also postgresql://)
// INVALID_ARGUMENT naming "database url" for any other URL (and for an
// unknown sqlite parameter or value); UNAVAILABLE when the database cannot be
// opened or reached.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url, StoreOptions options = {});

// The SQLite options a sqlite:/// URL names (path, synchronous).
absl::StatusOr<sql::SqliteOptions> ParseSqliteUrl(const std::string& url);

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_OPEN_STORE_H_
