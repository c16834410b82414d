// SqlStore: Continuations: the stored snapshots (checkpoints) of roots.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/common/status.h"
#include "storage/sql/sql_store_internal.h"

namespace tasker::storage {

absl::Status SqlStore::ValidateContinuation(const v1::Continuation& c, absl::string_view field) {
  if (c.data().empty()) return absl::InvalidArgumentError(absl::StrCat(field, ".data: must not be empty"));
  if (static_cast<int64_t>(c.data().size()) > options_.limits.max_continuation_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".data: ", c.data().size(),
                                                   " bytes exceeds the limit of ",
                                                   options_.limits.max_continuation_bytes));
  }
  if (c.format_version() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".format_version: must be > 0"));
  }
  return absl::OkStatus();
}

absl::Status SqlStore::UpsertContinuation(Tx& tx, const std::string& stack_run_id, const v1::Continuation& c) {
  const int64_t now = NowMicros();
  return tx.Exec("INSERT INTO continuations (stack_run_id, data, format_version, v8_version, "
                 "checksum, raw_size, created_at, step) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                 "(stack_run_id) DO UPDATE SET data = excluded.data, format_version = "
                 "excluded.format_version, v8_version = excluded.v8_version, checksum = "
                 "excluded.checksum, raw_size = excluded.raw_size, created_at = excluded.created_at, "
                 "step = excluded.step",
                 {stack_run_id, Bytes{c.data()}, int64_t{c.format_version()}, c.v8_version(),
                  int64_t{c.checksum()}, c.raw_size(), now, int64_t{c.step()}})
      .status();
}

absl::StatusOr<std::optional<v1::Continuation>> SqlStore::FindContinuation(Tx& tx,
                                                                         const std::string& id) {
  ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT stack_run_id, data, format_version, v8_version, "
                                       "checksum, raw_size, created_at, step FROM continuations "
                                       "WHERE stack_run_id = ?",
                                       {id}));
  if (rows.empty()) return std::optional<v1::Continuation>();
  const Row& r = rows[0];
  v1::Continuation c;
  c.set_stack_run_id(r.Str(0));
  c.set_data(r.Str(1));
  c.set_format_version(static_cast<int32_t>(r.Int(2)));
  c.set_v8_version(r.Str(3));
  c.set_checksum(static_cast<uint32_t>(r.Int(4)));
  c.set_raw_size(r.Int(5));
  *c.mutable_created_at() = Ts(r.Int(6));
  c.set_step(static_cast<int32_t>(r.Int(7)));
  return std::optional<v1::Continuation>(std::move(c));
}

absl::StatusOr<v1::Continuation> SqlStore::LoadContinuation(Tx& tx, const std::string& id) {
  ASSIGN_OR_RETURN(std::optional<v1::Continuation> c, FindContinuation(tx, id));
  if (!c) return absl::NotFoundError(absl::StrCat("no continuation for stack run '", id, "'"));
  return *std::move(c);
}

absl::Status SqlStore::PutContinuation(const v1::Continuation& continuation) {
  RETURN_IF_ERROR(RequireId(continuation.stack_run_id(), "continuation.stack_run_id"));
  RETURN_IF_ERROR(ValidateContinuation(continuation, "continuation"));
  return db_->Transact(true, [&](Tx& tx) -> absl::Status {
    RETURN_IF_ERROR(LoadStackRun(tx, continuation.stack_run_id()).status());
    return UpsertContinuation(tx, continuation.stack_run_id(), continuation);
  });
}

absl::StatusOr<v1::Continuation> SqlStore::GetContinuation(const std::string& stack_run_id) {
  RETURN_IF_ERROR(RequireId(stack_run_id, "stack_run_id"));
  v1::Continuation out;
  RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(out, LoadContinuation(tx, stack_run_id));
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace tasker::storage
