#include "storage/postgres/postgres_database.h"

#include <mutex>
#include <pqxx/pqxx>
#include <unordered_map>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/common/status.h"
#include "storage/sql/pool.h"

namespace tasker::storage::sql {
namespace {

constexpr unsigned kByteaOid = 17;
constexpr unsigned kInt8Oid = 20;
constexpr unsigned kInt2Oid = 21;
constexpr unsigned kInt4Oid = 23;

// Maps libpqxx exceptions to statuses; `broken` is set when the connection
// must be discarded.
absl::Status FromException(const std::exception& e, bool* broken) {
  if (dynamic_cast<const pqxx::unique_violation*>(&e)) {
    return absl::AlreadyExistsError(absl::StrCat("postgres: ", e.what()));
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e)) {
    return absl::AbortedError(absl::StrCat("postgres: ", e.what()));
  }
  if (dynamic_cast<const pqxx::integrity_constraint_violation*>(&e)) {
    return absl::FailedPreconditionError(absl::StrCat("postgres: ", e.what()));
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    *broken = true;
    return absl::UnavailableError(absl::StrCat("postgres connection: ", e.what()));
  }
  return absl::InternalError(absl::StrCat("postgres: ", e.what()));
}

// A pooled connection and the statements prepared on it (by SQL text), so
// that the server parses and plans each statement once per connection, not
// on every execution.
struct PgConnection {
  explicit PgConnection(const std::string& url) : conn(url) {}
  pqxx::connection conn;
  std::unordered_map<std::string, std::string> prepared;  // SQL -> statement name
};

// Statements beyond this many per connection run unprepared (dynamic SQL
// such as filtered listings would otherwise grow the cache without bound).
constexpr size_t kMaxPrepared = 256;

class PostgresTx : public Tx {
 public:
  // `work` is the transaction (functions of a group share it, each behind
  // its own savepoint).
  explicit PostgresTx(pqxx::transaction_base* work, PgConnection* conn) : work_(work), conn_(conn) {}

  absl::StatusOr<Rows> Query(absl::string_view sql,
                             const std::vector<Param>& params) override {
    pqxx::result result;
    RETURN_IF_ERROR(Run(sql, params, &result));
    Rows rows;
    rows.reserve(result.size());
    const auto columns = result.columns();
    std::vector<unsigned> types(columns);
    for (pqxx::row::size_type c = 0; c < columns; ++c) types[c] = result.column_type(c);
    for (const auto& row : result) {
      std::vector<Row::Cell> cells;
      cells.reserve(columns);
      for (pqxx::row::size_type c = 0; c < columns; ++c) {
        const pqxx::field field = row[c];
        if (field.is_null()) {
          cells.emplace_back(std::monostate{});
        } else if (types[c] == kByteaOid) {
          pqxx::binarystring bytes(field);
          cells.emplace_back(bytes.str());
        } else if (types[c] == kInt8Oid || types[c] == kInt4Oid || types[c] == kInt2Oid) {
          cells.emplace_back(field.as<int64_t>());
        } else {
          cells.emplace_back(std::string(field.c_str(), field.size()));
        }
      }
      rows.emplace_back(std::move(cells));
    }
    return rows;
  }

  absl::StatusOr<int64_t> Exec(absl::string_view sql,
                               const std::vector<Param>& params) override {
    pqxx::result result;
    RETURN_IF_ERROR(Run(sql, params, &result));
    return static_cast<int64_t>(result.affected_rows());
  }

  bool broken() const { return broken_; }

 private:
  absl::Status Run(absl::string_view sql, const std::vector<Param>& params,
                   pqxx::result* result) {
    std::vector<std::string> storage;
    storage.reserve(params.size());
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const Param& p : params) {
      if (std::holds_alternative<std::nullptr_t>(p)) {
        storage.emplace_back();
        values.push_back(nullptr);
        continue;
      }
      if (const auto* v = std::get_if<int64_t>(&p)) {
        storage.push_back(std::to_string(*v));
      } else if (const auto* s = std::get_if<std::string>(&p)) {
        storage.push_back(*s);
      } else if (const auto* b = std::get_if<Bytes>(&p)) {
        // bytea text input in hex format.
        storage.push_back(absl::StrCat("\\x", absl::BytesToHexString(b->data)));
      }
      values.push_back(storage.back().c_str());
    }
    try {
      std::string key(sql);
      auto it = conn_->prepared.find(key);
      if (it == conn_->prepared.end() && conn_->prepared.size() < kMaxPrepared) {
        std::string name = absl::StrCat("tasker_", conn_->prepared.size());
        conn_->conn.prepare(name, PostgresPlaceholders(sql));
        it = conn_->prepared.emplace(std::move(key), std::move(name)).first;
      }
      if (it != conn_->prepared.end()) {
        *result = work_->exec_prepared(it->second, pqxx::prepare::make_dynamic_params(values));
      } else {
        *result = work_->exec_params(PostgresPlaceholders(sql), pqxx::prepare::make_dynamic_params(values));
      }
    } catch (const std::exception& e) {
      return FromException(e, &broken_);
    }
    return absl::OkStatus();
  }

  pqxx::transaction_base* work_;
  PgConnection* conn_;
  bool broken_ = false;
};

class PostgresDatabase : public Database {
 public:
  explicit PostgresDatabase(PostgresOptions options)
      : options_(std::move(options)), pool_(options_.pool_size, [this] { return Connect(); }) {}

  // Connects once now, so a bad URL fails at start-up.
  absl::Status Init() {
    ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
    pool_.Release(std::move(conn));
    return absl::OkStatus();
  }

  const char* ForUpdate() const override { return " FOR UPDATE"; }
  const char* SkipLocked() const override { return " FOR UPDATE SKIP LOCKED"; }
  absl::Status LockForMigration(Tx& tx) override {
    // Held until commit.
    return tx.Query("SELECT pg_advisory_xact_lock(7463281)").status();
  }

  absl::Status Transact(bool /*write*/,
                        const std::function<absl::Status(Tx&)>& fn) override {
    absl::Status status;
    for (int attempt = 0; attempt < 8; ++attempt) {
      ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, Acquire());
      bool broken = false;
      try {
        pqxx::work work(conn->conn);
        PostgresTx tx(&work, conn.get());
        status = fn(tx);
        broken = tx.broken();
        if (status.ok()) {
          work.commit();
        } else {
          work.abort();
        }
      } catch (const std::exception& e) {
        status = FromException(e, &broken);
      }
      Release(std::move(conn), broken);
      if (!Transient(status)) break;
    }
    return status;
  }

  // One transaction for the group: one commit, one WAL flush, for all. The
  // functions run back to back; when one fails, the transaction is rolled
  // back and the group runs again with each function behind its own
  // savepoint, so that a failing one is rolled back alone (savepoints cost
  // two round trips a function, so only groups with a failure pay them).
  // Functions that meet a transient conflict (deadlock, serialization
  // failure) run again in a later transaction, after the others committed.
  std::vector<absl::Status> TransactGroup(const std::vector<TxFn>& fns) override {
    std::vector<absl::Status> statuses(fns.size(), absl::UnknownError("not run"));
    std::vector<size_t> pending(fns.size());
    for (size_t i = 0; i < fns.size(); ++i) pending[i] = i;
    bool savepoints = false;
    for (int attempt = 0; attempt < 8 && !pending.empty(); ++attempt) {
      auto conn = Acquire();
      if (!conn.ok()) {
        for (size_t i : pending) statuses[i] = conn.status();
        return statuses;
      }
      // A function this attempt does not reach (the transaction broke
      // first) is run again by the next one.
      for (size_t i : pending) statuses[i] = absl::UnavailableError("postgres: not run (the group was interrupted)");
      bool broken = false;
      bool failed = false;
      bool redo = false;
      try {
        pqxx::work work((*conn)->conn);
        for (size_t i : pending) {
          // Savepoints by hand: after a failed statement the server accepts
          // ROLLBACK TO SAVEPOINT, and libpqxx does not track that state.
          if (savepoints) work.exec0("SAVEPOINT tasker_op");
          PostgresTx tx(&work, conn->get());
          statuses[i] = fns[i](tx);
          if (tx.broken()) throw pqxx::broken_connection("connection lost in a grouped transaction");
          if (savepoints) {
            work.exec0(statuses[i].ok() ? "RELEASE SAVEPOINT tasker_op" : "ROLLBACK TO SAVEPOINT tasker_op");
          } else if (!statuses[i].ok()) {
            // Without savepoints a failure spoils the whole transaction.
            failed = true;
            redo = pending.size() > 1;
            break;
          }
        }
        if (failed) {
          work.abort();
        } else {
          work.commit();
        }
      } catch (const std::exception& e) {
        // Nothing of this transaction is durable.
        const absl::Status lost = FromException(e, &broken);
        for (size_t i : pending) {
          if (statuses[i].ok() || Transient(statuses[i])) statuses[i] = lost;
        }
      }
      Release(std::move(*conn), broken);
      if (redo && !broken) {
        savepoints = true;  // the whole group again, each behind a savepoint
        continue;
      }
      std::vector<size_t> again;
      for (size_t i : pending) {
        if (Transient(statuses[i])) again.push_back(i);
      }
      pending = std::move(again);
    }
    return statuses;
  }

  absl::Status ExecScript(absl::string_view sql) override {
    ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, Acquire());
    bool broken = false;
    absl::Status status;
    try {
      pqxx::nontransaction work(conn->conn);
      work.exec(std::string(sql));
    } catch (const std::exception& e) {
      status = FromException(e, &broken);
    }
    Release(std::move(conn), broken);
    return status;
  }

 private:
  // A conflict or lost connection the database reported: worth another try.
  static bool Transient(const absl::Status& status) {
    return (status.code() == absl::StatusCode::kAborted || status.code() == absl::StatusCode::kUnavailable) &&
           absl::StartsWith(status.message(), "postgres");
  }

  absl::StatusOr<std::unique_ptr<PgConnection>> Connect() {
    try {
      return std::make_unique<PgConnection>(options_.url);
    } catch (const std::exception& e) {
      // The URL may hold a password: never echo it.
      return absl::UnavailableError(
          absl::StrCat("cannot connect to postgres: ", e.what()));
    }
  }

  absl::StatusOr<std::unique_ptr<PgConnection>> Acquire() { return pool_.Acquire(); }

  void Release(std::unique_ptr<PgConnection> conn, bool broken) {
    if (broken || !conn->conn.is_open()) {
      conn.reset();
      pool_.Discard();
    } else {
      pool_.Release(std::move(conn));
    }
  }

  PostgresOptions options_;
  Pool<PgConnection> pool_;
};

}  // namespace

std::string PostgresPlaceholders(absl::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  bool in_quote = false;
  for (char c : sql) {
    if (c == '\'') in_quote = !in_quote;
    if (c == '?' && !in_quote) {
      absl::StrAppend(&out, "$", ++n);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Database>> OpenPostgres(const PostgresOptions& options) {
  if (options.url.empty()) return absl::InvalidArgumentError("postgres url is empty");
  if (options.pool_size < 1) return absl::InvalidArgumentError("pool_size must be >= 1");
  auto db = std::make_unique<PostgresDatabase>(options);
  RETURN_IF_ERROR(db->Init());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace tasker::storage::sql
