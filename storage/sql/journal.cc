// SqlStore: The journal of warm runs: calls recorded before they are performed
// (RecordCalls), checkpoints and the release of a run (PutCheckpoint), and
// everything a rebuild reads (GetJournal).
#include "absl/strings/str_cat.h"
#include "runtime/common/status.h"
#include "storage/sql/sql_store_internal.h"

namespace tasker::storage {

absl::Status SqlStore::ValidateHostCalls(const google::protobuf::RepeatedPtrField<v1::HostCall>& calls,
                                         std::vector<std::string>* args_json) {
  if (calls.empty()) return absl::InvalidArgumentError("calls: at least one call is required");
  if (calls.size() > options_.limits.max_calls_per_suspension) {
    return absl::InvalidArgumentError(absl::StrCat("calls: ", calls.size(),
                                                   " calls exceeds the limit of ",
                                                   options_.limits.max_calls_per_suspension));
  }
  args_json->clear();
  for (int i = 0; i < calls.size(); ++i) {
    const auto& call = calls[i];
    if (call.service().empty() || call.service().size() > 128) {
      return absl::InvalidArgumentError(absl::StrCat("calls[", i, "].service: must be 1..128 characters"));
    }
    if (call.method().empty() || call.method().size() > 512) {
      return absl::InvalidArgumentError(absl::StrCat("calls[", i, "].method: must be 1..512 characters"));
    }
    if (call.call_id().size() > 128) {
      return absl::InvalidArgumentError(absl::StrCat("calls[", i, "].call_id: at most 128 characters"));
    }
    if (call.index() < 1) {
      return absl::InvalidArgumentError(absl::StrCat("calls[", i, "].index: must be >= 1"));
    }
    if (i > 0 && call.index() <= calls[i - 1].index()) {
      return absl::InvalidArgumentError(absl::StrCat("calls[", i, "].index: ", call.index(),
                                                     " is not greater than calls[", i - 1,
                                                     "].index ", calls[i - 1].index()));
    }
    if (call.step() < 0) {
      return absl::InvalidArgumentError(absl::StrCat("calls[", i, "].step: must be >= 0"));
    }
    if (call.delay_ms() < 0 || call.delay_ms() > kMaxCallDelayMs) {
      return absl::InvalidArgumentError(
          absl::StrCat("calls[", i, "].delay_ms: must be within 0..", kMaxCallDelayMs, " (one year)"));
    }
    RETURN_IF_ERROR(ValidPayload(call.args_json(), absl::StrCat("calls[", i, "].args_json"),
                                 options_.limits.max_payload_bytes));
    args_json->push_back(PayloadText(call.args_json()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqlStore::LastJournalSeq(Tx& tx, const std::string& root_id) {
  ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT COALESCE(MAX(seq), -1) FROM journal_steps WHERE "
                                       "root_stack_run_id = ?",
                                       {root_id}));
  return rows.empty() ? -1 : rows[0].Int(0);
}

absl::StatusOr<int64_t> SqlStore::AppendJournalSteps(
    Tx& tx, const std::string& root_id, int64_t last,
    const google::protobuf::RepeatedPtrField<v1::JournalStep>& steps) {
  if (steps.empty()) return last;
  if (steps[0].seq() != last + 1) {
    return absl::FailedPreconditionError(
        last < 0 ? absl::StrCat("steps[0].seq: ", steps[0].seq(),
                                " does not follow the journal's last step (the journal is empty; "
                                "its first step is 0)")
                 : absl::StrCat("steps[0].seq: ", steps[0].seq(),
                                " does not follow the journal's last step ", last));
  }
  for (const auto& step : steps) {
    RETURN_IF_ERROR(tx.Exec("INSERT INTO journal_steps (root_stack_run_id, seq, trigger_call_id, "
                            "clock_ms, random_seed) VALUES (?, ?, ?, ?, ?)",
                            {root_id, int64_t{step.seq()}, step.trigger_call_id(), step.clock_ms(),
                             static_cast<int64_t>(step.random_seed())})
                        .status());
  }
  return int64_t{steps[steps.size() - 1].seq()};
}

absl::StatusOr<v1::RecordCallsResponse> SqlStore::RecordCalls(const v1::RecordCallsRequest& request) {
  v1::RecordCallsResponse out;
  ASSIGN_OR_RETURN(sql::Database::TxFn body, PrepareRecordCalls(request, &out));
  RETURN_IF_ERROR(db_->Transact(true, body));
  return out;
}

absl::StatusOr<sql::Database::TxFn> SqlStore::PrepareRecordCalls(const v1::RecordCallsRequest& request,
                                                                 v1::RecordCallsResponse* response) {
  RETURN_IF_ERROR(RequireId(request.root_stack_run_id(), "root_stack_run_id"));
  std::vector<std::string> args_json;
  RETURN_IF_ERROR(ValidateHostCalls(request.calls(), &args_json));
  RETURN_IF_ERROR(ValidateJournalSteps(request.steps()));
  const bool dispatch = !request.dispatch_owner().empty();
  if (dispatch) {
    if (request.dispatch_owner().size() > 256) {
      return absl::InvalidArgumentError("dispatch_owner: must be 1..256 characters");
    }
    RETURN_IF_ERROR(RequireLeaseMs(request.dispatch_lease_ms(), "dispatch_lease_ms"));
  }
  return WithStepToken(request.root_stack_run_id(), request.step_token(), StepOp::kRecordCalls, response,
                       [this, &request, response, dispatch, args_json = std::move(args_json)](Tx& tx) -> absl::Status {
    v1::RecordCallsResponse& out = *response;
    out.Clear();
    ASSIGN_OR_RETURN(v1::StackRunRecord root, CheckHeld(tx, request.root_stack_run_id(),
                                                  request.fencing_token(), v1::STACK_RUN_KIND_ROOT));
    // The run's last call index and last journal step, in one round trip.
    ASSIGN_OR_RETURN(auto last, tx.Query("SELECT (SELECT COALESCE(MAX(call_index), 0) FROM stack_runs "
                                         "WHERE parent_id = ?), (SELECT COALESCE(MAX(seq), -1) FROM "
                                         "journal_steps WHERE root_stack_run_id = ?)",
                                         {root.id(), root.id()}));
    const int64_t last_index = last.empty() ? 0 : last[0].Int(0);
    if (request.calls(0).index() <= last_index) {
      return absl::FailedPreconditionError(absl::StrCat(
          "calls[0].index: ", request.calls(0).index(), " is not greater than the run's last call index ",
          last_index));
    }
    int64_t last_seq = last.empty() ? -1 : last[0].Int(1);
    ASSIGN_OR_RETURN(last_seq, AppendJournalSteps(tx, root.id(), last_seq, request.steps()));
    for (int i = 0; i < request.calls_size(); ++i) {
      if (request.calls(i).step() > last_seq) {
        return absl::FailedPreconditionError(
            absl::StrCat("calls[", i, "].step: ", request.calls(i).step(),
                         " is after the journal's last step ", last_seq));
      }
    }
    const int64_t now = NowMicros();
    const int suspension = root.suspension() + 1;
    const Param status = dispatch ? int64_t{v1::STACK_RUN_STATUS_RUNNING} : int64_t{v1::STACK_RUN_STATUS_PENDING};
    const Param owner = dispatch ? Param(request.dispatch_owner()) : Param(nullptr);
    const Param expires = dispatch ? Param(now + request.dispatch_lease_ms() * 1000) : Param(nullptr);
    const int64_t token = dispatch ? 1 : 0;
    // The new calls, in request (= call_index) order, come back as
    // inserted (RETURNING: no second read).
    for (int i = 0; i < request.calls_size(); ++i) {
      const auto& call = request.calls(i);
      // A delayed call (a durable timer) waits PENDING for its time, leased
      // to nobody: a processor claims it when it is due.
      const bool delayed = call.delay_ms() > 0;
      ASSIGN_OR_RETURN(auto inserted,
                       tx.Query(absl::StrCat("INSERT INTO stack_runs (id, task_run_id, parent_id, kind, status, "
                                             "service, method, args, call_index, call_id, next_attempt_at, "
                                             "lease_owner, lease_expires_at, fencing_token, attempt, suspension, "
                                             "step, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                                             "?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
                                             kStackRunColumns),
                                {NewId("sr_"), root.task_run_id(), root.id(), int64_t{v1::STACK_RUN_KIND_CALL},
                                 delayed ? Param(int64_t{v1::STACK_RUN_STATUS_PENDING}) : status, call.service(),
                                 call.method(), args_json[i], int64_t{call.index()}, call.call_id(),
                                 now + call.delay_ms() * 1000, delayed ? Param(nullptr) : owner,
                                 delayed ? Param(nullptr) : expires, delayed ? 0 : token, delayed ? 0 : token,
                                 int64_t{suspension},
                                 int64_t{call.step()}, now, now}));
      if (inserted.empty()) return absl::InternalError("calls: the insert returned no row");
      ASSIGN_OR_RETURN(*out.add_calls(), ParseStackRun(inserted[0]));
    }
    RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET waiting = waiting + ?, suspension = ?, claims = 0, updated_at = ? "
                            "WHERE id = ?",
                            {int64_t{request.calls_size()}, int64_t{suspension}, now, root.id()})
                        .status());
    // The run's status is its last durable state: waiting on host calls
    // (the root stays RUNNING under its executor's lease while warm).
    RETURN_IF_ERROR(tx.Exec("UPDATE task_runs SET status = ?, suspend_count = suspend_count + 1, "
                            "suspended_at = ?, updated_at = ? WHERE id = ?",
                            {int64_t{v1::RUN_STATUS_SUSPENDED_WAITING_CHILD}, now, now, root.task_run_id()})
                        .status());
    RETURN_IF_ERROR(AppendLogs(tx, root.task_run_id(), request.logs()).status());
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::PutCheckpointResponse> SqlStore::PutCheckpoint(const v1::PutCheckpointRequest& request) {
  RETURN_IF_ERROR(RequireId(request.root_stack_run_id(), "root_stack_run_id"));
  RETURN_IF_ERROR(ValidateJournalSteps(request.steps()));
  if (request.has_checkpoint()) {
    const v1::Continuation& c = request.checkpoint();
    RETURN_IF_ERROR(ValidateContinuation(c, "checkpoint"));
    if (c.step() < 0) return absl::InvalidArgumentError("checkpoint.step: must be >= 0");
    if (!c.stack_run_id().empty() && c.stack_run_id() != request.root_stack_run_id()) {
      return absl::InvalidArgumentError("checkpoint.stack_run_id: must be empty or root_stack_run_id");
    }
  }
  v1::PutCheckpointResponse out;
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    out.Clear();
    ASSIGN_OR_RETURN(v1::StackRunRecord root, CheckHeld(tx, request.root_stack_run_id(),
                                                  request.fencing_token(), v1::STACK_RUN_KIND_ROOT));
    ASSIGN_OR_RETURN(int64_t last_seq, LastJournalSeq(tx, root.id()));
    ASSIGN_OR_RETURN(last_seq, AppendJournalSteps(tx, root.id(), last_seq, request.steps()));
    if (request.steps_size() > 0) {  // progress: the run is not a poison pill
      RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET claims = 0 WHERE id = ?", {root.id()}).status());
    }
    RETURN_IF_ERROR(AppendLogs(tx, root.task_run_id(), request.logs()).status());
    if (request.has_checkpoint()) {
      const v1::Continuation& c = request.checkpoint();
      if (c.step() > last_seq + 1) {
        return absl::FailedPreconditionError(absl::StrCat(
            "checkpoint.step: ", c.step(), " is beyond the journal (its last step is ", last_seq, ")"));
      }
      ASSIGN_OR_RETURN(auto stored, tx.Query("SELECT step FROM continuations WHERE stack_run_id = ?",
                                             {root.id()}));
      if (!stored.empty() && c.step() < stored[0].Int(0)) {
        return absl::FailedPreconditionError(
            absl::StrCat("checkpoint.step: ", c.step(), " is older than the stored checkpoint's step ",
                         stored[0].Int(0)));
      }
      RETURN_IF_ERROR(UpsertContinuation(tx, root.id(), c));
    }
    if (!request.release()) return absl::OkStatus();
    // Results the task has not seen: finished calls minus the journal steps
    // that delivered one.
    ASSIGN_OR_RETURN(auto finished,
                     tx.Query(absl::StrCat("SELECT COUNT(*) FROM stack_runs WHERE parent_id = ? AND "
                                           "status IN (",
                                           StatusList({v1::STACK_RUN_STATUS_COMPLETED,
                                                       v1::STACK_RUN_STATUS_FAILED}),
                                           ")"),
                              {root.id()}));
    ASSIGN_OR_RETURN(auto delivered, tx.Query("SELECT COUNT(*) FROM journal_steps WHERE "
                                              "root_stack_run_id = ? AND trigger_call_id <> ''",
                                              {root.id()}));
    const int64_t undelivered = finished[0].Int(0) - delivered[0].Int(0);
    const bool ready = undelivered > 0;
    const int64_t now = NowMicros();
    RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, lease_owner = NULL, lease_expires_at = NULL, "
                            "reply_to = '', updated_at = ? WHERE id = ?",
                            {ready ? int64_t{v1::STACK_RUN_STATUS_READY_TO_RESUME}
                                   : int64_t{v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD},
                             now, root.id()})
                        .status());
    RETURN_IF_ERROR(tx.Exec("UPDATE task_runs SET status = ?, updated_at = ? WHERE id = ?",
                            {int64_t{v1::RUN_STATUS_SUSPENDED_WAITING_CHILD}, now, root.task_run_id()})
                        .status());
    out.set_ready(ready);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Journal> SqlStore::GetJournal(const v1::GetJournalRequest& request) {
  const std::string& root_id = request.root_stack_run_id();
  RETURN_IF_ERROR(RequireId(root_id, "root_stack_run_id"));
  v1::Journal out;
  RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
    out.Clear();
    ASSIGN_OR_RETURN(*out.mutable_root(), LoadStackRun(tx, root_id));
    if (out.root().kind() != v1::STACK_RUN_KIND_ROOT) {
      return absl::InvalidArgumentError(
          absl::StrCat("root_stack_run_id: '", root_id, "' is not a root stack run"));
    }
    ASSIGN_OR_RETURN(*out.mutable_run(), LoadRun(tx, out.root().task_run_id()));
    ASSIGN_OR_RETURN(std::optional<v1::Continuation> checkpoint, FindContinuation(tx, root_id));
    if (checkpoint) *out.mutable_checkpoint() = *std::move(checkpoint);
    ASSIGN_OR_RETURN(auto steps, tx.Query("SELECT seq, trigger_call_id, clock_ms, random_seed FROM "
                                          "journal_steps WHERE root_stack_run_id = ? ORDER BY seq",
                                          {root_id}));
    for (const auto& r : steps) {
      auto* step = out.add_steps();
      step->set_seq(static_cast<int32_t>(r.Int(0)));
      step->set_trigger_call_id(r.Str(1));
      step->set_clock_ms(r.Int(2));
      step->set_random_seed(static_cast<uint64_t>(r.Int(3)));
    }
    ASSIGN_OR_RETURN(auto calls, tx.Query(absl::StrCat("SELECT ", kStackRunColumns,
                                                       " FROM stack_runs WHERE parent_id = ? "
                                                       "ORDER BY call_index"),
                                          {root_id}));
    for (const auto& r : calls) {
      ASSIGN_OR_RETURN(*out.add_calls(), ParseStackRun(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace tasker::storage
