#include "storage/open_store.h"

#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "storage/postgres/postgres_store.h"
#include "storage/sqlite/sqlite_store.h"

namespace tasker::storage {

// sqlite:///path[?synchronous=full|normal]
absl::StatusOr<sql::SqliteOptions> ParseSqliteUrl(const std::string& url) {
  if (!absl::StartsWith(url, "sqlite://")) {
    return absl::InvalidArgumentError("database url: must start with sqlite:///");
  }
  std::string rest = url.substr(strlen("sqlite://"));
  std::string query;
  if (const size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  if (rest.empty() || rest[0] != '/') {
    return absl::InvalidArgumentError(
        "database url: sqlite URLs need an absolute path, e.g. sqlite:///var/lib/tasker/tasks.db");
  }
  sql::SqliteOptions options;
  options.path = rest;
  for (absl::string_view param : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(param, absl::MaxSplits('=', 1));
    const std::string key = kv[0];
    const std::string value = kv.size() > 1 ? absl::AsciiStrToLower(kv[1]) : "";
    if (key != "synchronous") {
      return absl::InvalidArgumentError(absl::StrCat(
          "database url: unknown sqlite parameter '", key, "' (known: synchronous=full|normal)"));
    }
    if (value == "full") {
      options.synchronous_full = true;
    } else if (value == "normal") {
      options.synchronous_full = false;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "database url: synchronous must be 'full' or 'normal', not '", value, "'"));
    }
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url, StoreOptions options) {
  if (absl::StartsWith(url, "sqlite://")) {
    auto sqlite = ParseSqliteUrl(url);
    if (!sqlite.ok()) return sqlite.status();
    return OpenSqliteStore(*sqlite, std::move(options));
  }
  if (absl::StartsWith(url, "postgres://") || absl::StartsWith(url, "postgresql://")) {
    return OpenPostgresStore({.url = url}, std::move(options));
  }
  return absl::InvalidArgumentError("database url: must start with sqlite:/// or postgres://");
}

}  // namespace tasker::storage
