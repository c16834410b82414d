#include "storage/sql/sql_store.h"

#include "runtime/common/status.h"
#include "storage/sql/migrations.h"
#include "storage/sql/sql_store_internal.h"

namespace tasker::storage {

absl::StatusOr<std::unique_ptr<Store>> NewSqlStore(std::unique_ptr<sql::Database> db,
                                                   const std::vector<Migration>& migrations,
                                                   StoreOptions options) {
  RETURN_IF_ERROR(ApplyMigrations(*db, migrations));
  return std::unique_ptr<Store>(new SqlStore(std::move(db), std::move(options)));
}

}  // namespace tasker::storage
