// SqlStore: the Store over the SQL layer, shared by the SQLite and Postgres
// backends (the same statements; what differs per backend is behind
// sql::Database). Thread-safe. Open a store with OpenStore (storage/open_store.h).
#ifndef TASKER_STORAGE_SQL_SQL_STORE_H_
#define TASKER_STORAGE_SQL_SQL_STORE_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "runtime/common/json_text.h"
#include "storage/sql/database.h"
#include "storage/sql/migrations.h"
#include "storage/store.h"

namespace tasker::storage {

struct StoreLimits {
  int64_t max_code_bytes = 1 << 20;
  // One JSON payload: a run's input or result, a call's args or result, error
  // details, function metadata.
  int64_t max_payload_bytes = int64_t{16} << 20;
  int64_t max_continuation_bytes = 64 << 20;
  int max_calls_per_suspension = 1000;
  int max_logs_per_run = 10000;
  int64_t max_keystore_value_bytes = 1 << 20;
};

struct StoreOptions {
  StoreLimits limits;
  // Injectable clock (tests expire leases without sleeping).
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // Poison pills: a run (root) or call claimed this many times without its
  // holder making progress (the holder died, or could not load, parse or
  // perform it) is failed with ATTEMPTS_EXHAUSTED at the next claim instead
  // of being handed out again. 0: no limit.
  int max_claim_attempts = 10;
};

// The SqlStore over an already opened database, after applying the
// backend's `migrations` to it.
absl::StatusOr<std::unique_ptr<Store>> NewSqlStore(std::unique_ptr<sql::Database> db,
                                                   const std::vector<Migration>& migrations,
                                                   StoreOptions options);

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_SQL_SQL_STORE_H_
