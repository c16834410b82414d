#include "storage/sqlite/sqlite_store.h"

#include "runtime/common/status.h"

namespace tasker::storage {

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const sql::SqliteOptions& database,
                                                       StoreOptions options) {
  ASSIGN_OR_RETURN(auto db, sql::OpenSqlite(database));
  return NewSqlStore(std::move(db), SqliteMigrations(), std::move(options));
}

}  // namespace tasker::storage
