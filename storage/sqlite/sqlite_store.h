// The Store on SQLite (the embedded default): a database file, migrations
// from storage/sqlite/migrations applied on open.
#ifndef TASKER_STORAGE_SQLITE_SQLITE_STORE_H_
#define TASKER_STORAGE_SQLITE_SQLITE_STORE_H_

#include <memory>
#include <vector>

#include "storage/sql/migrations.h"
#include "storage/sql/sql_store.h"
#include "storage/sqlite/sqlite_database.h"

namespace tasker::storage {

// The migrations of the SQLite schema, embedded at build time.
const std::vector<Migration>& SqliteMigrations();

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const sql::SqliteOptions& database,
                                                       StoreOptions options = {});

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_SQLITE_SQLITE_STORE_H_
