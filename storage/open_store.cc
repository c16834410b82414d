#include "storage/open_store.h"

#include "absl/strings/match.h"
#include "storage/postgres/postgres_store.h"
#include "storage/sqlite/sqlite_store.h"

namespace tasker::storage {

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url, StoreOptions options) {
  if (absl::StartsWith(url, "sqlite://")) {
    const std::string path = url.substr(strlen("sqlite://"));
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(
          "database url: sqlite URLs need an absolute path, e.g. sqlite:///var/lib/tasker/tasks.db");
    }
    return OpenSqliteStore({.path = path}, std::move(options));
  }
  if (absl::StartsWith(url, "postgres://") || absl::StartsWith(url, "postgresql://")) {
    return OpenPostgresStore({.url = url}, std::move(options));
  }
  return absl::InvalidArgumentError("database url: must start with sqlite:/// or postgres://");
}

}  // namespace tasker::storage
