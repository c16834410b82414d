// The Store on Postgres (production): a connection pool to one database, migrations
// from storage/postgres/migrations applied on open.
#ifndef TASKER_STORAGE_POSTGRES_POSTGRES_STORE_H_
#define TASKER_STORAGE_POSTGRES_POSTGRES_STORE_H_

#include <memory>
#include <vector>

#include "storage/sql/migrations.h"
#include "storage/sql/sql_store.h"
#include "storage/postgres/postgres_database.h"

namespace tasker::storage {

// The migrations of the Postgres schema, embedded at build time.
const std::vector<Migration>& PostgresMigrations();

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const sql::PostgresOptions& database,
                                                       StoreOptions options = {});

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_POSTGRES_POSTGRES_STORE_H_
