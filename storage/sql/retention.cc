// What a finished run leaves behind: its checkpoints go when it ends, the
// rest with the storage service's retention sweep (PurgeFinishedRuns).
#include "absl/strings/str_cat.h"
#include "runtime/common/status.h"
#include "storage/sql/sql_store_internal.h"

namespace tasker::storage {

absl::Status SqlStore::DeleteRunContinuations(Tx& tx, const std::string& task_run_id) {
  return tx.Exec("DELETE FROM continuations WHERE stack_run_id IN (SELECT id FROM stack_runs WHERE "
                 "task_run_id = ?)",
                 {task_run_id})
      .status();
}

absl::StatusOr<int64_t> SqlStore::PurgeFinishedRuns(absl::Time finished_before, int limit) {
  if (limit < 1 || limit > 10000) return absl::InvalidArgumentError("limit: must be within 1..10000");
  const int64_t before = absl::ToUnixMicros(finished_before);
  int64_t purged = 0;
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    purged = 0;
    ASSIGN_OR_RETURN(auto runs, tx.Query(absl::StrCat("SELECT id FROM task_runs WHERE status IN (",
                                                      StatusList({v1::RUN_STATUS_COMPLETED, v1::RUN_STATUS_FAILED,
                                                                  v1::RUN_STATUS_CANCELLED}),
                                                      ") AND completed_at < ? ORDER BY completed_at LIMIT ?",
                                                      db_->SkipLocked()),
                                         {before, int64_t{limit}}));
    for (const auto& row : runs) {
      const std::string id = row.Str(0);
      const std::string roots = "SELECT id FROM stack_runs WHERE task_run_id = ?";
      for (const char* table : {"step_commits", "journal_steps"}) {
        RETURN_IF_ERROR(
            tx.Exec(absl::StrCat("DELETE FROM ", table, " WHERE root_stack_run_id IN (", roots, ")"), {id})
                .status());
      }
      RETURN_IF_ERROR(DeleteRunContinuations(tx, id));
      RETURN_IF_ERROR(tx.Exec("DELETE FROM run_logs WHERE task_run_id = ?", {id}).status());
      RETURN_IF_ERROR(tx.Exec("DELETE FROM task_locks WHERE task_run_id = ?", {id}).status());
      RETURN_IF_ERROR(tx.Exec("DELETE FROM stack_runs WHERE task_run_id = ?", {id}).status());
      ASSIGN_OR_RETURN(int64_t gone, tx.Exec("DELETE FROM task_runs WHERE id = ?", {id}));
      purged += gone;
    }
    return absl::OkStatus();
  }));
  return purged;
}

}  // namespace tasker::storage
