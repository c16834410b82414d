#include "storage/store.h"

#include "absl/strings/str_cat.h"

namespace tasker::storage {

namespace {

template <typename Response>
void SetResult(const absl::StatusOr<Response>& outcome, v1::WriteResult* result,
               Response* (v1::WriteResult::*field)()) {
  result->set_code(static_cast<int>(outcome.status().code()));
  result->set_message(std::string(outcome.status().message()));
  if (outcome.ok()) *(result->*field)() = *outcome;
}

}  // namespace

absl::Status NoWriteInOp(int index) {
  return absl::InvalidArgumentError(
      absl::StrCat("ops[", index, "]: no write set (one of record_calls, complete_call, complete_run, fail_run)"));
}

absl::StatusOr<v1::WriteBatchResponse> Store::WriteBatch(const v1::WriteBatchRequest& request) {
  v1::WriteBatchResponse out;
  for (int i = 0; i < request.ops_size(); ++i) {
    const v1::WriteOp& op = request.ops(i);
    v1::WriteResult* result = out.add_results();
    switch (op.op_case()) {
      case v1::WriteOp::kRecordCalls:
        SetResult(RecordCalls(op.record_calls()), result, &v1::WriteResult::mutable_record_calls);
        break;
      case v1::WriteOp::kCompleteCall:
        SetResult(CompleteCall(op.complete_call()), result, &v1::WriteResult::mutable_complete_call);
        break;
      case v1::WriteOp::kCompleteRun:
        SetResult(CompleteRun(op.complete_run()), result, &v1::WriteResult::mutable_complete_run);
        break;
      case v1::WriteOp::kFailRun:
        SetResult(FailRun(op.fail_run()), result, &v1::WriteResult::mutable_fail_run);
        break;
      default: {
        const absl::Status missing = NoWriteInOp(i);
        result->set_code(static_cast<int>(missing.code()));
        result->set_message(std::string(missing.message()));
      }
    }
  }
  return out;
}

absl::StatusOr<int64_t> Store::PurgeFinishedRuns(absl::Time, int) {
  return absl::UnimplementedError("PurgeFinishedRuns: only the database's own store deletes runs");
}

}  // namespace tasker::storage
