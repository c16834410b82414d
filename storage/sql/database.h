// A minimal SQL layer under SqlStore: parameterised statements, typed result
// cells, and transactions with retry of transient conflicts. One
// implementation per backend (SQLite, Postgres); the SQL text is shared,
// written with `?` placeholders, and adapted per dialect.
#ifndef TASKER_STORAGE_SQL_DATABASE_H_
#define TASKER_STORAGE_SQL_DATABASE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tasker::storage::sql {

// Binary data (BLOB / BYTEA), distinct from text.
struct Bytes {
  std::string data;
};

// A statement parameter: NULL, integer, text, or bytes.
using Param = std::variant<std::nullptr_t, int64_t, std::string, Bytes>;

// One result row; cells are NULL, integer or text/bytes (as std::string).
class Row {
 public:
  using Cell = std::variant<std::monostate, int64_t, std::string>;
  explicit Row(std::vector<Cell> cells) : cells_(std::move(cells)) {}

  size_t size() const { return cells_.size(); }
  bool IsNull(size_t i) const;
  // Integer value (text cells are parsed); 0 for NULL.
  int64_t Int(size_t i) const;
  // Text or bytes; "" for NULL.
  std::string Str(size_t i) const;

 private:
  std::vector<Cell> cells_;
};

using Rows = std::vector<Row>;

// Statement execution inside one transaction.
class Tx {
 public:
  virtual ~Tx() = default;
  // Runs one statement. Errors: ALREADY_EXISTS for a unique-constraint
  // violation, ABORTED for a serialization failure or deadlock (the whole
  // transaction is retried by Transact), INTERNAL otherwise.
  virtual absl::StatusOr<Rows> Query(absl::string_view sql,
                                     const std::vector<Param>& params = {}) = 0;
  // Like Query, returning the number of rows changed.
  virtual absl::StatusOr<int64_t> Exec(absl::string_view sql,
                                       const std::vector<Param>& params = {}) = 0;
};

class Database {
 public:
  virtual ~Database() = default;

  // Runs `fn` in one transaction: committed when it returns OK, rolled back
  // otherwise. `write` transactions on SQLite take the write lock up front.
  // Transient conflicts (ABORTED from the database) retry `fn` a few times.
  virtual absl::Status Transact(bool write,
                                const std::function<absl::Status(Tx&)>& fn) = 0;

  // Runs several write transactions so that they share one commit where the
  // backend can (SQLite and Postgres both do); each `fn` is its own unit
  // (rolled back alone when it fails) and gets its own status, in order.
  // This default runs each `fn` as its own Transact.
  using TxFn = std::function<absl::Status(Tx&)>;
  virtual std::vector<absl::Status> TransactGroup(const std::vector<TxFn>& fns) {
    std::vector<absl::Status> statuses;
    statuses.reserve(fns.size());
    for (const auto& fn : fns) statuses.push_back(Transact(true, fn));
    return statuses;
  }

  // Runs DDL / a script outside any caller transaction (migrations).
  virtual absl::Status ExecScript(absl::string_view sql) = 0;

  // Row-lock clauses appended to a SELECT in a write transaction:
  // " FOR UPDATE" / " FOR UPDATE SKIP LOCKED" where the backend locks rows
  // (Postgres), "" where a write transaction holds the whole database
  // (SQLite).
  virtual const char* ForUpdate() const = 0;
  virtual const char* SkipLocked() const = 0;

  // Run first in each migration transaction: one migrator at a time across
  // processes.
  virtual absl::Status LockForMigration(Tx& tx) = 0;
};

}  // namespace tasker::storage::sql

#endif  // TASKER_STORAGE_SQL_DATABASE_H_
