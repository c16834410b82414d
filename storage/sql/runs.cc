// SqlStore: Task runs: submit (idempotency key), read, list, finish, cancel, logs; task locks.
#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/common/status.h"
#include "storage/sql/sql_store_internal.h"

namespace tasker::storage {


absl::StatusOr<v1::SubmitTaskRunResponse> SqlStore::SubmitRun(const v1::SubmitTaskRunRequest& request) {
  RETURN_IF_ERROR(RequireId(request.task_identifier(), "task_identifier"));
  if (request.task_version() < 0) return absl::InvalidArgumentError("task_version: must be >= 0");
  if (request.idempotency_key().size() > 256) {
    return absl::InvalidArgumentError("idempotency_key: at most 256 characters");
  }
  RETURN_IF_ERROR(ValidPayload(request.input_json(), "input_json", options_.limits.max_payload_bytes));
  const std::string input = PayloadText(request.input_json());
  v1::SubmitTaskRunResponse out;
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    out.Clear();
    if (!request.idempotency_key().empty()) {
      ASSIGN_OR_RETURN(auto existing,
                       tx.Query(absl::StrCat("SELECT ", kTaskRunColumns,
                                             " FROM task_runs WHERE idempotency_key = ?"),
                                {request.idempotency_key()}));
      if (!existing.empty()) return ExistingRun(tx, existing[0], request, &out);
    }
    ASSIGN_OR_RETURN(v1::TaskFunction function,
                     LoadFunction(tx, request.task_identifier(), request.task_version()));
    const int64_t now = NowMicros();
    const std::string run_id = NewId("run_");
    const std::string root_id = NewId("sr_");
    Param key = request.idempotency_key().empty() ? Param(nullptr) : Param(request.idempotency_key());
    ASSIGN_OR_RETURN(int64_t inserted,
                     tx.Exec(absl::StrCat("INSERT INTO task_runs (", kTaskRunInsertColumns,
                                          ") VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?, 0, ?, ?, NULL, "
                                          "NULL) ON CONFLICT (idempotency_key) DO NOTHING"),
                             {run_id, function.identifier(), function.version(),
                              int64_t{v1::RUN_STATUS_PENDING}, input, key, root_id, now, now}));
    if (inserted == 0) {
      // A concurrent submit with the same key won the race.
      ASSIGN_OR_RETURN(auto existing,
                       tx.Query(absl::StrCat("SELECT ", kTaskRunColumns,
                                             " FROM task_runs WHERE idempotency_key = ?"),
                                {request.idempotency_key()}));
      if (existing.empty()) return absl::AbortedError("submit: idempotency key race, retry");
      return ExistingRun(tx, existing[0], request, &out);
    }
    RETURN_IF_ERROR(tx.Exec(absl::StrCat("INSERT INTO stack_runs (id, task_run_id, parent_id, kind, "
                                         "status, next_attempt_at, created_at, updated_at) VALUES "
                                         "(?, ?, NULL, ?, ?, ?, ?, ?)"),
                            {root_id, run_id, int64_t{v1::STACK_RUN_KIND_ROOT},
                             int64_t{v1::STACK_RUN_STATUS_PENDING}, now, now, now})
                        .status());
    ASSIGN_OR_RETURN(*out.mutable_run(), LoadRun(tx, run_id));
    ASSIGN_OR_RETURN(*out.mutable_root(), LoadStackRun(tx, root_id));
    out.set_created(true);
    return absl::OkStatus();
  }));
  return out;
}

absl::Status SqlStore::ExistingRun(Tx& tx, const Row& row, const v1::SubmitTaskRunRequest& request,
                                   v1::SubmitTaskRunResponse* out) {
  ASSIGN_OR_RETURN(*out->mutable_run(), ParseTaskRun(row));
  const v1::TaskRunRecord& run = out->run();
  // A retry is the same request again; anything else reusing the key is a
  // client bug, and answering with the first run would hide it (the caller
  // would believe its different input was accepted).
  std::string conflict;
  if (run.task_identifier() != request.task_identifier()) {
    conflict = absl::StrCat(" of task '", run.task_identifier(), "'");
  } else if (request.task_version() != 0 && run.task_version() != request.task_version()) {
    conflict = absl::StrCat(" of task '", run.task_identifier(), "' version ", run.task_version());
  } else if (PayloadText(run.input_json()) != PayloadText(request.input_json())) {
    conflict = " with a different input";
  }
  if (!conflict.empty()) {
    const std::string run_id = run.id();
    out->Clear();
    return absl::AlreadyExistsError(
        absl::StrCat("idempotency_key '", request.idempotency_key(), "': already used by run ", run_id, conflict));
  }
  ASSIGN_OR_RETURN(*out->mutable_root(), LoadStackRun(tx, out->run().root_stack_run_id()));
  out->set_created(false);
  return absl::OkStatus();
}

absl::StatusOr<v1::TaskRunRecord> SqlStore::LoadRun(Tx& tx, const std::string& id) {
  ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT ", kTaskRunColumns,
                                                    " FROM task_runs WHERE id = ?"),
                                       {id}));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("task run '", id, "' not found"));
  return ParseTaskRun(rows[0]);
}

absl::StatusOr<v1::TaskRunRecord> SqlStore::GetTaskRun(const v1::GetTaskRunRequest& request) {
  RETURN_IF_ERROR(RequireId(request.id(), "id"));
  v1::TaskRunRecord out;
  RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
    // A run is named by its id or by its number ("17").
    int64_t number = 0;
    if (absl::SimpleAtoi(request.id(), &number) && number > 0) {
      ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT id FROM task_runs WHERE number = ?", {number}));
      if (rows.empty()) return absl::NotFoundError(absl::StrCat("task run number ", number, " not found"));
      ASSIGN_OR_RETURN(out, LoadRun(tx, rows[0].Str(0)));
    } else {
      ASSIGN_OR_RETURN(out, LoadRun(tx, request.id()));
    }
    if (request.include_logs()) {
      ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT time, level, message FROM run_logs WHERE "
                                           "task_run_id = ? ORDER BY seq",
                                           {out.id()}));
      for (const auto& r : rows) {
        auto* log = out.add_logs();
        *log->mutable_time() = Ts(r.Int(0));
        log->set_level(r.Str(1));
        log->set_message(r.Str(2));
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListTaskRunsResponse> SqlStore::ListTaskRuns(const v1::ListTaskRunsRequest& request) {
  absl::Status status;
  const int limit = PageLimit(request.page(), &status);
  RETURN_IF_ERROR(status);
  std::string sql = absl::StrCat("SELECT ", kTaskRunColumns, " FROM task_runs WHERE 1=1");
  std::vector<Param> params;
  const auto& f = request.filter();
  if (f.statuses_size() > 0) {
    std::vector<int> statuses;
    for (int s : f.statuses()) {
      if (!v1::RunStatus_IsValid(s) || s == 0) {
        return absl::InvalidArgumentError("filter.statuses: unknown status");
      }
      statuses.push_back(s);
    }
    absl::StrAppend(&sql, " AND status IN (", StatusList(statuses), ")");
  }
  if (!f.task_identifier().empty()) {
    sql += " AND task_identifier = ?";
    params.push_back(f.task_identifier());
  }
  if (f.has_created_after()) {
    sql += " AND created_at >= ?";
    params.push_back(TimeUtil::TimestampToMicroseconds(f.created_after()));
  }
  if (f.has_created_before()) {
    sql += " AND created_at < ?";
    params.push_back(TimeUtil::TimestampToMicroseconds(f.created_before()));
  }
  if (!request.page().page_token().empty()) {
    int64_t created = 0;
    std::string id;
    RETURN_IF_ERROR(DecodeToken(request.page().page_token(), &created, &id));
    sql += " AND (created_at < ? OR (created_at = ? AND id < ?))";
    params.push_back(created);
    params.push_back(created);
    params.push_back(id);
  }
  sql += " ORDER BY created_at DESC, id DESC LIMIT ?";
  params.push_back(int64_t{limit + 1});
  v1::ListTaskRunsResponse out;
  RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query(sql, params));
    for (size_t i = 0; i < rows.size() && static_cast<int>(i) < limit; ++i) {
      ASSIGN_OR_RETURN(*out.add_runs(), ParseTaskRun(rows[i]));
    }
    if (static_cast<int>(rows.size()) > limit) {
      const auto& last = out.runs(limit - 1);
      out.set_next_page_token(
          EncodeToken(TimeUtil::TimestampToMicroseconds(last.created_at()), last.id()));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<sql::Database::TxFn> SqlStore::PrepareFinishRun(const std::string& root_id, int64_t token,
                                                               const std::string* result,
                                                               const v1::ErrorInfo* error, v1::TaskRunRecord* response) {
  RETURN_IF_ERROR(RequireId(root_id, "root_stack_run_id"));
  std::string result_json, error_json;
  if (result) {
    RETURN_IF_ERROR(ValidPayload(*result, "result_json", options_.limits.max_payload_bytes));
    result_json = PayloadText(*result);
  } else {
    if (error->message().empty()) return absl::InvalidArgumentError("error.message: must not be empty");
    RETURN_IF_ERROR(ValidError(*error, "error", options_.limits.max_payload_bytes));
    error_json = ErrorToJson(*error);
  }
  const bool completed = result != nullptr;
  return [this, root_id, token, response, completed, result_json = std::move(result_json),
          error_json = std::move(error_json)](Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(v1::StackRunRecord root, CheckHeld(tx, root_id, token, v1::STACK_RUN_KIND_ROOT));
    const int64_t now = NowMicros();
    const int64_t stack_status = completed ? v1::STACK_RUN_STATUS_COMPLETED : v1::STACK_RUN_STATUS_FAILED;
    const int64_t run_status = completed ? v1::RUN_STATUS_COMPLETED : v1::RUN_STATUS_FAILED;
    Param result_param = completed ? Param(result_json) : Param(nullptr);
    Param error_param = completed ? Param(nullptr) : Param(error_json);
    RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, result = ?, error = ?, lease_owner "
                            "= NULL, lease_expires_at = NULL, reply_to = '', waiting = 0, "
                            "updated_at = ?, completed_at = ? WHERE id = ?",
                            {stack_status, result_param, error_param, now, now, root_id})
                        .status());
    // A finished run's outstanding calls are dropped: a later CompleteCall or
    // RetryCall on one is refused (FAILED_PRECONDITION).
    RETURN_IF_ERROR(tx.Exec(absl::StrCat("UPDATE stack_runs SET status = ?, lease_owner = NULL, "
                                         "lease_expires_at = NULL, updated_at = ?, completed_at = ? "
                                         "WHERE parent_id = ? AND status NOT IN (",
                                         TerminalStackStatuses(), ")"),
                            {int64_t{v1::STACK_RUN_STATUS_CANCELLED}, now, now, root_id})
                        .status());
    ASSIGN_OR_RETURN(int64_t changed,
                     tx.Exec(absl::StrCat("UPDATE task_runs SET status = ?, result = ?, error = ?, "
                                          "updated_at = ?, completed_at = ? WHERE id = ? AND "
                                          "status NOT IN (",
                                          StatusList({v1::RUN_STATUS_COMPLETED, v1::RUN_STATUS_FAILED,
                                                      v1::RUN_STATUS_CANCELLED}),
                                          ")"),
                             {run_status, result_param, error_param, now, now, root.task_run_id()}));
    if (changed != 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("task run '", root.task_run_id(), "' has already finished"));
    }
    RETURN_IF_ERROR(DeleteRunContinuations(tx, root.task_run_id()));
    ASSIGN_OR_RETURN(*response, LoadRun(tx, root.task_run_id()));
    return absl::OkStatus();
  };
}

absl::StatusOr<sql::Database::TxFn> SqlStore::PrepareCompleteRun(const v1::CompleteRunRequest& request,
                                                                 v1::TaskRunRecord* response) {
  ASSIGN_OR_RETURN(sql::Database::TxFn body,
                   PrepareFinishRun(request.root_stack_run_id(), request.fencing_token(), &request.result_json(),
                                    nullptr, response));
  return WithStepToken(request.root_stack_run_id(), request.step_token(), StepOp::kCompleteRun, response,
                       std::move(body));
}

absl::StatusOr<sql::Database::TxFn> SqlStore::PrepareFailRun(const v1::FailRunRequest& request,
                                                             v1::TaskRunRecord* response) {
  ASSIGN_OR_RETURN(sql::Database::TxFn body, PrepareFinishRun(request.root_stack_run_id(), request.fencing_token(),
                                                              nullptr, &request.error(), response));
  return WithStepToken(request.root_stack_run_id(), request.step_token(), StepOp::kFailRun, response,
                       std::move(body));
}

absl::StatusOr<v1::TaskRunRecord> SqlStore::CompleteRun(const v1::CompleteRunRequest& request) {
  v1::TaskRunRecord out;
  ASSIGN_OR_RETURN(sql::Database::TxFn body, PrepareCompleteRun(request, &out));
  RETURN_IF_ERROR(db_->Transact(true, body));
  return out;
}

absl::StatusOr<v1::TaskRunRecord> SqlStore::FailRun(const v1::FailRunRequest& request) {
  v1::TaskRunRecord out;
  ASSIGN_OR_RETURN(sql::Database::TxFn body, PrepareFailRun(request, &out));
  RETURN_IF_ERROR(db_->Transact(true, body));
  return out;
}

// The ops run in one grouped transaction (one commit), each in its own
// savepoint. Where the database locks rows (Postgres), they run in the order
// of the root each one locks first, so that two batches touching the same
// roots lock them in the same order and cannot deadlock.
absl::StatusOr<v1::WriteBatchResponse> SqlStore::WriteBatch(const v1::WriteBatchRequest& request) {
  v1::WriteBatchResponse out;
  std::vector<sql::Database::TxFn> bodies;
  std::vector<int> body_op;  // the op of each body
  for (int i = 0; i < request.ops_size(); ++i) {
    const v1::WriteOp& op = request.ops(i);
    v1::WriteResult* result = out.add_results();
    absl::StatusOr<sql::Database::TxFn> body;
    switch (op.op_case()) {
      case v1::WriteOp::kRecordCalls:
        body = PrepareRecordCalls(op.record_calls(), result->mutable_record_calls());
        break;
      case v1::WriteOp::kCompleteCall:
        body = PrepareCompleteCall(op.complete_call(), result->mutable_complete_call());
        break;
      case v1::WriteOp::kCompleteRun:
        body = PrepareCompleteRun(op.complete_run(), result->mutable_complete_run());
        break;
      case v1::WriteOp::kFailRun:
        body = PrepareFailRun(op.fail_run(), result->mutable_fail_run());
        break;
      default:
        body = NoWriteInOp(i);
    }
    if (!body.ok()) {
      result->Clear();
      result->set_code(static_cast<int>(body.status().code()));
      result->set_message(std::string(body.status().message()));
      continue;
    }
    bodies.push_back(std::move(*body));
    body_op.push_back(i);
  }
  std::vector<size_t> order(bodies.size());
  for (size_t b = 0; b < order.size(); ++b) order[b] = b;
  if (*db_->ForUpdate() != '\0' && bodies.size() > 1) {
    ASSIGN_OR_RETURN(std::vector<std::string> roots, LockOrder(request, body_op));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return roots[a] < roots[b]; });
  }
  std::vector<sql::Database::TxFn> ordered;
  ordered.reserve(bodies.size());
  for (size_t b : order) ordered.push_back(std::move(bodies[b]));
  const std::vector<absl::Status> statuses = db_->TransactGroup(ordered);
  for (size_t k = 0; k < statuses.size(); ++k) {
    const size_t b = order[k];
    v1::WriteResult* result = out.mutable_results(body_op[b]);
    if (!statuses[k].ok()) {
      result->Clear();
      result->set_code(static_cast<int>(statuses[k].code()));
      result->set_message(std::string(statuses[k].message()));
    }
  }
  return out;
}

absl::StatusOr<v1::TaskRunRecord> SqlStore::CancelRun(const v1::CancelTaskRunRequest& request) {
  RETURN_IF_ERROR(RequireId(request.id(), "id"));
  if (request.reason().size() > 1024) return absl::InvalidArgumentError("reason: at most 1024 characters");
  v1::TaskRunRecord out;
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    // The run's root is locked first (Postgres), as FinishRun and
    // CompleteCall take it: a CompleteRun/FailRun in flight finishes before
    // the status below is read, so a run that has just finished is refused
    // rather than overwritten.
    RETURN_IF_ERROR(tx.Query(absl::StrCat("SELECT id FROM stack_runs WHERE task_run_id = ? AND kind = ",
                                          v1::STACK_RUN_KIND_ROOT, " ORDER BY id", db_->ForUpdate()),
                             {request.id()})
                        .status());
    ASSIGN_OR_RETURN(v1::TaskRunRecord run, LoadRun(tx, request.id()));
    auto finished = [&](v1::RunStatus status) {
      return WithErrorReason(absl::FailedPreconditionError(absl::StrCat("task run '", request.id(), "' is already ",
                                                                        v1::RunStatus_Name(status))),
                             "RUN_ALREADY_FINISHED", {{"run", request.id()}, {"status", v1::RunStatus_Name(status)}});
    };
    if (IsTerminalRun(run.status())) return finished(run.status());
    const int64_t now = NowMicros();
    v1::ErrorInfo error;
    error.set_code("CANCELLED");
    error.set_message(request.reason().empty() ? "cancelled" : request.reason());
    // Only a run that is still unfinished is changed (whatever the backend's
    // isolation lets through between the read and this write).
    ASSIGN_OR_RETURN(int64_t changed,
                     tx.Exec(absl::StrCat("UPDATE task_runs SET status = ?, error = ?, updated_at = ?, "
                                          "completed_at = ? WHERE id = ? AND status NOT IN (",
                                          StatusList({v1::RUN_STATUS_COMPLETED, v1::RUN_STATUS_FAILED,
                                                      v1::RUN_STATUS_CANCELLED}),
                                          ")"),
                             {int64_t{v1::RUN_STATUS_CANCELLED}, ErrorToJson(error), now, now, request.id()}));
    if (changed != 1) {
      ASSIGN_OR_RETURN(v1::TaskRunRecord now_run, LoadRun(tx, request.id()));
      return finished(now_run.status());
    }
    RETURN_IF_ERROR(tx.Exec(absl::StrCat("UPDATE stack_runs SET status = ?, lease_owner = NULL, "
                                         "lease_expires_at = NULL, reply_to = '', updated_at = ?, "
                                         "completed_at = ? WHERE task_run_id = ? AND status NOT IN (",
                                         TerminalStackStatuses(), ")"),
                            {int64_t{v1::STACK_RUN_STATUS_CANCELLED}, now, now, request.id()})
                        .status());
    RETURN_IF_ERROR(DeleteRunContinuations(tx, request.id()));
    ASSIGN_OR_RETURN(out, LoadRun(tx, request.id()));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int> SqlStore::AppendLogs(Tx& tx, const std::string& task_run_id,
                                         const google::protobuf::RepeatedPtrField<v1::LogEntry>& logs) {
  if (logs.empty()) return 0;
  ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT COALESCE(MAX(seq), 0) FROM run_logs WHERE "
                                       "task_run_id = ?",
                                       {task_run_id}));
  int64_t seq = rows[0].Int(0);
  int stored = 0;
  for (const auto& log : logs) {
    if (seq >= options_.limits.max_logs_per_run) break;  // bounded; extra lines dropped
    RETURN_IF_ERROR(tx.Exec("INSERT INTO run_logs (task_run_id, seq, time, level, message) "
                            "VALUES (?, ?, ?, ?, ?)",
                            {task_run_id, ++seq,
                             log.has_time() ? TimeUtil::TimestampToMicroseconds(log.time())
                                            : NowMicros(),
                             log.level().empty() ? std::string("log") : log.level(),
                             log.message().substr(0, 64 * 1024)})
                        .status());
    ++stored;
  }
  return stored;
}

absl::StatusOr<int> SqlStore::AppendRunLogs(const v1::AppendRunLogsRequest& request) {
  RETURN_IF_ERROR(RequireId(request.task_run_id(), "task_run_id"));
  RETURN_IF_ERROR(RequireId(request.root_stack_run_id(), "root_stack_run_id"));
  int stored = 0;
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    RETURN_IF_ERROR(LoadRun(tx, request.task_run_id()).status());
    // Only the root's current holder writes its logs (as every fenced write).
    ASSIGN_OR_RETURN(v1::StackRunRecord root, CheckHeld(tx, request.root_stack_run_id(), request.fencing_token(),
                                                  v1::STACK_RUN_KIND_ROOT));
    if (root.task_run_id() != request.task_run_id()) {
      return absl::InvalidArgumentError(absl::StrCat("root_stack_run_id: '", root.id(),
                                                     "' is not the root of task run '", request.task_run_id(), "'"));
    }
    ASSIGN_OR_RETURN(stored, AppendLogs(tx, request.task_run_id(), request.logs()));
    return absl::OkStatus();
  }));
  return stored;
}


absl::StatusOr<v1::TaskLock> SqlStore::AcquireTaskLock(const v1::AcquireTaskLockRequest& request) {
  RETURN_IF_ERROR(RequireId(request.task_run_id(), "task_run_id"));
  RETURN_IF_ERROR(RequireOwner(request.owner()));
  if (request.ttl_ms() < 100 || request.ttl_ms() > 3600000) {
    return absl::InvalidArgumentError("ttl_ms: must be within 100..3600000");
  }
  v1::TaskLock out;
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    const int64_t now = NowMicros();
    const int64_t expires = now + request.ttl_ms() * 1000;
    ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT owner, expires_at, fencing_token FROM "
                                                      "task_locks WHERE task_run_id = ?",
                                                      db_->ForUpdate()),
                                         {request.task_run_id()}));
    int64_t token = 1;
    if (rows.empty()) {
      RETURN_IF_ERROR(tx.Exec("INSERT INTO task_locks (task_run_id, owner, expires_at, fencing_token) "
                              "VALUES (?, ?, ?, 1)",
                              {request.task_run_id(), request.owner(), expires})
                          .status());
    } else {
      const std::string holder = rows[0].Str(0);
      if (holder != request.owner() && rows[0].Int(1) > now) {
        return absl::FailedPreconditionError(absl::StrCat(
            "task run '", request.task_run_id(), "' is locked by '", holder, "'"));
      }
      // Re-acquiring one's own live lock keeps the token; a takeover bumps it.
      token = holder == request.owner() && rows[0].Int(1) > now ? rows[0].Int(2) : rows[0].Int(2) + 1;
      RETURN_IF_ERROR(tx.Exec("UPDATE task_locks SET owner = ?, expires_at = ?, fencing_token = ? "
                              "WHERE task_run_id = ?",
                              {request.owner(), expires, token, request.task_run_id()})
                          .status());
    }
    out.set_task_run_id(request.task_run_id());
    out.set_owner(request.owner());
    *out.mutable_expires_at() = Ts(expires);
    out.set_fencing_token(token);
    return absl::OkStatus();
  }));
  return out;
}

absl::Status SqlStore::ReleaseTaskLock(const v1::ReleaseTaskLockRequest& request) {
  RETURN_IF_ERROR(RequireId(request.task_run_id(), "task_run_id"));
  RETURN_IF_ERROR(RequireOwner(request.owner()));
  return db_->Transact(true, [&](Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM task_locks WHERE task_run_id = ? AND owner = ? "
                                        "AND fencing_token = ?",
                                        {request.task_run_id(), request.owner(),
                                         request.fencing_token()}));
    if (n == 0) {
      return absl::AbortedError(absl::StrCat("task lock on '", request.task_run_id(),
                                             "' is not held by '", request.owner(),
                                             "' with fencing_token ", request.fencing_token()));
    }
    return absl::OkStatus();
  });
}

// The root each op locks first: its root stack run, or for a call's result
// the call's parent (looked up; an unknown call sorts first and fails alone).
absl::StatusOr<std::vector<std::string>> SqlStore::LockOrder(const v1::WriteBatchRequest& request,
                                                            const std::vector<int>& ops) {
  std::vector<std::string> roots(ops.size());
  std::vector<std::string> call_ids;
  for (size_t b = 0; b < ops.size(); ++b) {
    const v1::WriteOp& op = request.ops(ops[b]);
    switch (op.op_case()) {
      case v1::WriteOp::kRecordCalls:
        roots[b] = op.record_calls().root_stack_run_id();
        break;
      case v1::WriteOp::kCompleteRun:
        roots[b] = op.complete_run().root_stack_run_id();
        break;
      case v1::WriteOp::kFailRun:
        roots[b] = op.fail_run().root_stack_run_id();
        break;
      case v1::WriteOp::kCompleteCall:
        call_ids.push_back(op.complete_call().stack_run_id());
        break;
      default:
        break;
    }
  }
  if (call_ids.empty()) return roots;
  std::map<std::string, std::string> parent_of;
  RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
    for (size_t start = 0; start < call_ids.size(); start += kInChunk) {
      const size_t n = std::min(kInChunk, call_ids.size() - start);
      const size_t padded = PaddedSize(n);
      std::vector<Param> params;
      for (size_t i = 0; i < padded; ++i) params.push_back(call_ids[start + std::min(i, n - 1)]);
      ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT id, parent_id FROM stack_runs WHERE id IN (",
                                                        Placeholders(padded), ")"),
                                           params));
      for (const auto& row : rows) parent_of[row.Str(0)] = row.Str(1);
    }
    return absl::OkStatus();
  }));
  for (size_t b = 0; b < ops.size(); ++b) {
    const v1::WriteOp& op = request.ops(ops[b]);
    if (op.op_case() == v1::WriteOp::kCompleteCall) roots[b] = parent_of[op.complete_call().stack_run_id()];
  }
  return roots;
}

}  // namespace tasker::storage
