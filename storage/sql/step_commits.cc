// Idempotent step commits (migration 0003_step_commits): a holder's step
// write carrying a step token is applied once; its retry answers the first
// answer and changes nothing.
#include "absl/strings/str_cat.h"
#include "runtime/common/status.h"
#include "storage/sql/sql_store_internal.h"

namespace tasker::storage {

absl::StatusOr<sql::Database::TxFn> SqlStore::WithStepToken(const std::string& root_id,
                                                            const std::string& step_token, StepOp op,
                                                            google::protobuf::Message* response,
                                                            sql::Database::TxFn body) {
  if (step_token.empty()) return body;
  if (step_token.size() > 256) return absl::InvalidArgumentError("step_token: at most 256 characters");
  return [this, root_id, step_token, op, response, body = std::move(body)](Tx& tx) -> absl::Status {
    // The root first (Postgres): a repeat racing its original waits for it.
    // Then the lookup, in a statement of its own: under READ COMMITTED only
    // a statement begun after the lock sees what the original committed (a
    // join in the locking statement would read the step from before it).
    RETURN_IF_ERROR(
        tx.Query(absl::StrCat("SELECT id FROM stack_runs WHERE id = ?", db_->ForUpdate()), {root_id}).status());
    ASSIGN_OR_RETURN(auto done, tx.Query("SELECT response FROM step_commits WHERE root_stack_run_id = ? AND "
                                         "op = ? AND step_token = ?",
                                         {root_id, static_cast<int64_t>(op), step_token}));
    if (!done.empty() && !done[0].IsNull(0)) {
      response->Clear();
      if (!response->ParseFromString(done[0].Str(0))) {
        return absl::InternalError(absl::StrCat("step_token: the stored answer of '", step_token,
                                                "' is unreadable"));
      }
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(body(tx));
    // One row per root: the latest step replaces the one before (only it
    // can be retried), so the table stays as large as the number of roots.
    return tx.Exec("INSERT INTO step_commits (root_stack_run_id, op, step_token, response, created_at) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (root_stack_run_id) DO UPDATE SET op = excluded.op, "
                   "step_token = excluded.step_token, response = excluded.response, created_at = "
                   "excluded.created_at",
                   {root_id, static_cast<int64_t>(op), step_token, sql::Bytes{response->SerializeAsString()},
                    NowMicros()})
        .status();
  };
}

}  // namespace tasker::storage
