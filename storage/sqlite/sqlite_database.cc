#include "storage/sqlite/sqlite_database.h"

#include <sqlite3.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/common/status.h"
#include "storage/sql/pool.h"

namespace tasker::storage::sql {
namespace {

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) {
  const int primary = rc & 0xff;
  std::string message = absl::StrCat("sqlite ", what, ": ", sqlite3_errmsg(db));
  if (primary == SQLITE_CONSTRAINT) {
    const int extended = sqlite3_extended_errcode(db);
    if (extended == SQLITE_CONSTRAINT_UNIQUE ||
        extended == SQLITE_CONSTRAINT_PRIMARYKEY) {
      return absl::AlreadyExistsError(message);
    }
    return absl::FailedPreconditionError(message);
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return absl::AbortedError(message);
  }
  return absl::InternalError(message);
}

class Connection {
 public:
  ~Connection() {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    if (db_) sqlite3_close_v2(db_);
  }

  static absl::StatusOr<std::unique_ptr<Connection>> Open(const SqliteOptions& options) {
    auto conn = std::unique_ptr<Connection>(new Connection());
    int rc = sqlite3_open_v2(options.path.c_str(), &conn->db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
      return absl::UnavailableError(absl::StrCat(
          "cannot open sqlite database '", options.path,
          "': ", conn->db_ ? sqlite3_errmsg(conn->db_) : "out of memory"));
    }
    sqlite3_busy_timeout(conn->db_, options.busy_timeout_ms);
    sqlite3_extended_result_codes(conn->db_, 1);
    RETURN_IF_ERROR(conn->Script(absl::StrCat(
        "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=",
        options.synchronous_full ? "FULL" : "NORMAL",
        // A page cache of up to 32 MiB per connection (the default 2 MiB
        // sends the hot rows back to the OS on every transaction).
        "; PRAGMA cache_size=-32768;")));
    return conn;
  }

  absl::Status Script(absl::string_view sql) {
    char* error = nullptr;
    std::string text(sql);
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
      absl::Status status = SqliteError(db_, rc, "exec");
      sqlite3_free(error);
      return status;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Rows> Run(absl::string_view sql, const std::vector<Param>& params,
                           int64_t* changes) {
    sqlite3_stmt* stmt = nullptr;
    std::string key(sql);
    auto it = statements_.find(key);
    if (it != statements_.end()) {
      stmt = it->second;
    } else {
      int rc = sqlite3_prepare_v3(db_, key.c_str(), static_cast<int>(key.size()),
                                  SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) return SqliteError(db_, rc, absl::StrCat("prepare [", sql, "]"));
      statements_.emplace(key, stmt);
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    for (size_t i = 0; i < params.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      const Param& p = params[i];
      int rc = SQLITE_OK;
      if (std::holds_alternative<std::nullptr_t>(p)) {
        rc = sqlite3_bind_null(stmt, index);
      } else if (const auto* v = std::get_if<int64_t>(&p)) {
        rc = sqlite3_bind_int64(stmt, index, *v);
      } else if (const auto* s = std::get_if<std::string>(&p)) {
        rc = sqlite3_bind_text64(stmt, index, s->data(), s->size(), SQLITE_STATIC, SQLITE_UTF8);
      } else if (const auto* b = std::get_if<Bytes>(&p)) {
        rc = sqlite3_bind_blob64(stmt, index, b->data.data(), b->data.size(), SQLITE_STATIC);
      }
      if (rc != SQLITE_OK) return SqliteError(db_, rc, "bind");
    }
    Rows rows;
    while (true) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        absl::Status status = SqliteError(db_, rc, "step");
        sqlite3_reset(stmt);
        return status;
      }
      const int n = sqlite3_column_count(stmt);
      std::vector<Row::Cell> cells;
      cells.reserve(n);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_NULL:
            cells.emplace_back(std::monostate{});
            break;
          case SQLITE_INTEGER:
            cells.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
            break;
          default: {
            const void* data = sqlite3_column_blob(stmt, c);
            const int size = sqlite3_column_bytes(stmt, c);
            cells.emplace_back(std::string(static_cast<const char*>(data), size));
          }
        }
      }
      rows.emplace_back(std::move(cells));
    }
    if (changes) *changes = sqlite3_changes64(db_);
    sqlite3_reset(stmt);
    return rows;
  }

 private:
  Connection() = default;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

class SqliteTx : public Tx {
 public:
  explicit SqliteTx(Connection* conn) : conn_(conn) {}
  absl::StatusOr<Rows> Query(absl::string_view sql,
                             const std::vector<Param>& params) override {
    return conn_->Run(sql, params, nullptr);
  }
  absl::StatusOr<int64_t> Exec(absl::string_view sql,
                               const std::vector<Param>& params) override {
    int64_t changes = 0;
    auto rows = conn_->Run(sql, params, &changes);
    if (!rows.ok()) return rows.status();
    return changes;
  }

 private:
  Connection* conn_;
};

class SqliteDatabase : public Database {
 public:
  explicit SqliteDatabase(SqliteOptions options)
      : options_(std::move(options)),
        pool_(options_.max_connections, [this] { return Connection::Open(options_); }) {}

  // Opens the first connection now, so a bad path fails at start-up.
  absl::Status Init() {
    ASSIGN_OR_RETURN(auto first, pool_.Acquire());
    pool_.Release(std::move(first));
    return absl::OkStatus();
  }

  // A write transaction (BEGIN IMMEDIATE) already holds the whole database.
  const char* ForUpdate() const override { return ""; }
  const char* SkipLocked() const override { return ""; }
  absl::Status LockForMigration(Tx&) override { return absl::OkStatus(); }

  absl::Status Transact(bool write,
                        const std::function<absl::Status(Tx&)>& fn) override {
    if (write) return Write(fn);
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Acquire());
    absl::Status status;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      status = conn->Script("BEGIN");
      if (status.ok()) {
        SqliteTx tx(conn.get());
        status = fn(tx);
        if (status.ok()) {
          status = conn->Script("COMMIT");
          if (!status.ok()) conn->Script("ROLLBACK").IgnoreError();
        } else {
          conn->Script("ROLLBACK").IgnoreError();
        }
      }
      if (!Transient(status)) break;
    }
    Release(std::move(conn));
    return status;
  }

  std::vector<absl::Status> TransactGroup(const std::vector<TxFn>& fns) override {
    std::vector<WriteJob> jobs;
    jobs.reserve(fns.size());
    for (const auto& fn : fns) jobs.push_back(WriteJob{&fn});
    std::vector<WriteJob*> pointers;
    for (auto& job : jobs) pointers.push_back(&job);
    WaitFor(pointers.data(), pointers.size());
    std::vector<absl::Status> statuses;
    for (auto& job : jobs) statuses.push_back(std::move(job.status));
    return statuses;
  }

  absl::Status ExecScript(absl::string_view sql) override {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Acquire());
    absl::Status status = conn->Script(sql);
    Release(std::move(conn));
    return status;
  }

 private:
  static constexpr int kAttempts = 5;
  static constexpr size_t kMaxBatch = 256;

  // A thread waiting for its write transactions: woken when they are done,
  // or when one of them is first in line and it may lead the next group
  // (not every waiting thread on every commit).
  struct Waiter {
    std::condition_variable cv;
  };
  // A write transaction waiting for the group commit.
  struct WriteJob {
    const std::function<absl::Status(Tx&)>* fn;
    Waiter* waiter = nullptr;
    absl::Status status;
    bool done = false;
  };

  // SQLITE_BUSY/LOCKED (another process holds the database): worth a retry.
  static bool Transient(const absl::Status& status) {
    return status.code() == absl::StatusCode::kAborted && absl::StartsWith(status.message(), "sqlite");
  }

  // Group commit: concurrent write transactions queue here; one thread at a
  // time (the leader) takes everything queued, runs each in its own
  // SAVEPOINT inside one BEGIN IMMEDIATE ... COMMIT, and so pays one commit
  // (one WAL sync with synchronous=FULL) for the whole batch. A transaction
  // that fails rolls back to its savepoint and leaves the others alone; a
  // failed COMMIT fails the whole batch (nothing of it is durable). Each
  // caller returns only after the commit that holds its writes.
  absl::Status Write(const std::function<absl::Status(Tx&)>& fn) {
    WriteJob job{&fn, nullptr};
    WriteJob* jobs[] = {&job};
    WaitFor(jobs, 1);
    return job.status;
  }

  // Queues `jobs` together (so that they land in one group when the queue
  // allows) and returns when all are done.
  void WaitFor(WriteJob* const* jobs, size_t n) {
    Waiter waiter;
    std::unique_lock<std::mutex> lock(batch_mu_);
    for (size_t i = 0; i < n; ++i) {
      jobs[i]->waiter = &waiter;
      queue_.push_back(jobs[i]);
    }
    auto all_done = [&] {
      for (size_t i = 0; i < n; ++i) {
        if (!jobs[i]->done) return false;
      }
      return true;
    };
    while (!all_done()) {
      if (leader_ || queue_.empty()) {
        waiter.cv.wait(lock);
        continue;
      }
      leader_ = true;
      std::vector<WriteJob*> batch;
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
      lock.unlock();
      RunBatch(batch);
      lock.lock();
      for (WriteJob* done : batch) {
        done->done = true;
        if (done->waiter != &waiter) done->waiter->cv.notify_one();
      }
      leader_ = false;
      // The first in line leads the next group.
      if (!queue_.empty() && queue_.front()->waiter != &waiter) queue_.front()->waiter->cv.notify_one();
    }
  }

  void RunBatch(const std::vector<WriteJob*>& batch) {
    if (batch.empty()) return;
    std::lock_guard<std::mutex> write_lock(write_mu_);
    auto conn = Acquire();
    if (!conn.ok()) {
      for (WriteJob* job : batch) job->status = conn.status();
      return;
    }
    std::vector<WriteJob*> pending = batch;
    for (int attempt = 0; attempt < kAttempts && !pending.empty(); ++attempt) {
      RunOnce(conn->get(), pending);
      std::vector<WriteJob*> again;
      for (WriteJob* job : pending) {
        if (Transient(job->status)) again.push_back(job);
      }
      pending = std::move(again);
    }
    Release(std::move(*conn));
  }

  // One transaction over `jobs`; sets each job's status.
  static void RunOnce(Connection* conn, const std::vector<WriteJob*>& jobs) {
    absl::Status begun = conn->Script("BEGIN IMMEDIATE");
    if (!begun.ok()) {
      for (WriteJob* job : jobs) job->status = begun;
      return;
    }
    const bool alone = jobs.size() == 1;
    for (size_t i = 0; i < jobs.size(); ++i) {
      WriteJob* job = jobs[i];
      if (!alone) {
        if (absl::Status s = conn->Script("SAVEPOINT tasker_job"); !s.ok()) {
          // The transaction is unusable: nothing of it commits.
          conn->Script("ROLLBACK").IgnoreError();
          for (WriteJob* j : jobs) j->status = s;
          return;
        }
      }
      SqliteTx tx(conn);
      job->status = (*job->fn)(tx);
      if (alone) break;
      absl::Status closed = job->status.ok()
                                ? conn->Script("RELEASE tasker_job")
                                : conn->Script("ROLLBACK TO tasker_job; RELEASE tasker_job");
      if (!closed.ok()) {
        conn->Script("ROLLBACK").IgnoreError();
        for (WriteJob* j : jobs) j->status = closed;
        return;
      }
    }
    if (alone && !jobs[0]->status.ok()) {
      conn->Script("ROLLBACK").IgnoreError();
      return;
    }
    absl::Status committed = conn->Script("COMMIT");
    if (!committed.ok()) {
      conn->Script("ROLLBACK").IgnoreError();
      for (WriteJob* job : jobs) {
        if (job->status.ok()) job->status = committed;
      }
    }
  }

  absl::StatusOr<std::unique_ptr<Connection>> Acquire() { return pool_.Acquire(); }
  void Release(std::unique_ptr<Connection> conn) { pool_.Release(std::move(conn)); }

  std::mutex batch_mu_;
  std::deque<WriteJob*> queue_;
  bool leader_ = false;
  SqliteOptions options_;
  std::mutex write_mu_;
  Pool<Connection> pool_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> OpenSqlite(const SqliteOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("sqlite path is empty");
  auto db = std::make_unique<SqliteDatabase>(options);
  RETURN_IF_ERROR(db->Init());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace tasker::storage::sql
