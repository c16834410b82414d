// SqlStore: the Store over the SQL layer, shared by the SQLite and Postgres
// backends (the same statements, adapted per dialect). Thread-safe.
#ifndef TASKER_STORAGE_SQL_STORE_H_
#define TASKER_STORAGE_SQL_STORE_H_

#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "storage/sql/database.h"
#include "storage/store.h"

namespace tasker::storage {

struct StoreLimits {
  int64_t max_code_bytes = 1 << 20;
  int64_t max_input_bytes = 1 << 20;
  int64_t max_result_bytes = 8 << 20;
  int64_t max_continuation_bytes = 64 << 20;
  int max_calls_per_suspension = 1000;
  int max_logs_per_run = 10000;
  int64_t max_keystore_value_bytes = 1 << 20;
};

struct StoreOptions {
  StoreLimits limits;
  // Injectable clock (tests expire leases without sleeping).
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

class SqlStore;

// Opens a store by URL: "sqlite:///abs/path/tasks.db" or
// "postgres://user@host:port/db" (also "postgresql://"), applying migrations.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url,
                                                 StoreOptions options = {});

// The SqlStore over an already opened database (migrations applied here).
absl::StatusOr<std::unique_ptr<Store>> NewSqlStore(std::unique_ptr<sql::Database> db,
                                                   StoreOptions options);

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_SQL_STORE_H_
