#include "storage/postgres/postgres_store.h"

#include "runtime/common/status.h"

namespace tasker::storage {

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const sql::PostgresOptions& database,
                                                       StoreOptions options) {
  ASSIGN_OR_RETURN(auto db, sql::OpenPostgres(database));
  return NewSqlStore(std::move(db), PostgresMigrations(), std::move(options));
}

}  // namespace tasker::storage
