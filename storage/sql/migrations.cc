#include "storage/sql/migrations.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"

namespace tasker::storage {

absl::StatusOr<int> SchemaVersion(sql::Database& db) {
  RETURN_IF_ERROR(db.ExecScript(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "name TEXT NOT NULL, applied_at BIGINT NOT NULL)"));
  int version = 0;
  RETURN_IF_ERROR(db.Transact(false, [&](sql::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    version = rows.empty() ? 0 : static_cast<int>(rows[0].Int(0));
    return absl::OkStatus();
  }));
  return version;
}

absl::Status ApplyMigrations(sql::Database& db, const std::vector<Migration>& migrations) {
  const int known = migrations.empty() ? 0 : migrations.back().version;
  RETURN_IF_ERROR(SchemaVersion(db).status());
  for (const Migration& m : migrations) {
    bool applied = false;
    absl::Status status = db.Transact(true, [&](sql::Tx& tx) -> absl::Status {
      RETURN_IF_ERROR(db.LockForMigration(tx));
      ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
      const int current = rows.empty() ? 0 : static_cast<int>(rows[0].Int(0));
      if (current > known) {
        return absl::FailedPreconditionError(absl::StrCat(
            "database schema version ", current,
            " is newer than this binary knows (", known,
            "); upgrade Tasker before using this database"));
      }
      if (current >= m.version) return absl::OkStatus();
      // Statements are separated by ';' at line ends (no procedural SQL).
      std::string statement;
      for (const char* p = m.sql; *p; ++p) {
        statement.push_back(*p);
        if (*p == ';' && (p[1] == '\n' || p[1] == '\0')) {
          RETURN_IF_ERROR(Annotate(tx.Exec(statement).status(),
                                   absl::StrCat("migration ", m.version, "_", m.name)));
          statement.clear();
        }
      }
      RETURN_IF_ERROR(tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                              {int64_t{m.version}, std::string(m.name),
                               absl::ToUnixMicros(absl::Now())})
                          .status());
      applied = true;
      return absl::OkStatus();
    });
    RETURN_IF_ERROR(status);
    if (applied) {
      LogInfo("migration applied", {{"version", std::to_string(m.version)}, {"name", m.name}});
    }
  }
  if (migrations.empty()) {
    ASSIGN_OR_RETURN(int current, SchemaVersion(db));
    if (current > 0) return absl::FailedPreconditionError("no migrations known");
  }
  return absl::OkStatus();
}

}  // namespace tasker::storage
