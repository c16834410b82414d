#include "storage/remote/remote_store.h"

#include "absl/time/clock.h"
#include "runtime/client/channel.h"
#include "runtime/common/status.h"

namespace tasker::storage {

using Stub = v1::Storage::Stub;

RemoteStore::RemoteStore(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout)
    : stub_(v1::Storage::NewStub(std::move(channel))),
      timeout_(timeout),
      batcher_(std::make_unique<WriteBatcher>(stub_.get(), WriteBatcherOptions{.timeout = timeout})) {}

RemoteStore::~RemoteStore() = default;

template <typename Resp>
std::optional<absl::StatusOr<Resp>> RemoteStore::Batched(v1::WriteOp op, Resp* (v1::WriteResult::*field)()) {
  if (batch_unimplemented_.load(std::memory_order_relaxed)) return std::nullopt;
  absl::StatusOr<v1::WriteResult> result = batcher_->Write(std::move(op));
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kUnimplemented) {
      batch_unimplemented_ = true;
      return std::nullopt;
    }
    return absl::StatusOr<Resp>(result.status());
  }
  if (result->code() != 0) {
    return absl::StatusOr<Resp>(absl::Status(static_cast<absl::StatusCode>(result->code()), result->message()));
  }
  return absl::StatusOr<Resp>(std::move(*((*result).*field)()));
}

template <typename Req, typename Resp>
absl::StatusOr<Resp> RemoteStore::Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                                       const Req& request) {
  auto context = MakeWaitingContext(timeout_);
  Resp response;
  grpc::Status status = (stub_.get()->*method)(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::TaskFunction> RemoteStore::PublishTaskFunction(const v1::PublishTaskFunctionRequest& r) {
  return Call(&Stub::PublishTaskFunction, r);
}
absl::StatusOr<v1::TaskFunction> RemoteStore::GetTaskFunction(const v1::GetFunctionRequest& r) {
  return Call(&Stub::GetFunction, r);
}
absl::StatusOr<v1::ListFunctionsResponse> RemoteStore::ListTaskFunctions(
    const v1::ListFunctionsRequest& r) {
  return Call(&Stub::ListFunctions, r);
}
absl::StatusOr<v1::SubmitTaskRunResponse> RemoteStore::SubmitRun(const v1::SubmitTaskRunRequest& r) {
  return Call(&Stub::SubmitTaskRun, r);
}
absl::StatusOr<v1::TaskRunRecord> RemoteStore::GetTaskRun(const v1::GetTaskRunRequest& r) {
  return Call(&Stub::GetTaskRun, r);
}
absl::StatusOr<v1::ListTaskRunsResponse> RemoteStore::ListTaskRuns(const v1::ListTaskRunsRequest& r) {
  return Call(&Stub::ListTaskRuns, r);
}
namespace {

// A step write carrying a step token may be sent again when its answer was
// lost (UNAVAILABLE, DEADLINE_EXCEEDED: applied or not, nobody knows):
// storage answers a repeat of an applied one as it answered the first. A few
// tries over about a second and a half; without a token, one.
template <typename F>
auto SendStepWrite(bool tokened, F send) -> decltype(send()) {
  absl::Duration backoff = absl::Milliseconds(50);
  for (int attempt = 1;; ++attempt) {
    auto result = send();
    const absl::StatusCode code = result.status().code();
    if (!tokened || attempt >= 5 ||
        (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded)) {
      return result;
    }
    absl::SleepFor(backoff);
    backoff *= 2;
  }
}

}  // namespace

absl::StatusOr<v1::TaskRunRecord> RemoteStore::CompleteRun(const v1::CompleteRunRequest& r) {
  return SendStepWrite(!r.step_token().empty(), [&]() -> absl::StatusOr<v1::TaskRunRecord> {
    v1::WriteOp op;
    *op.mutable_complete_run() = r;
    if (auto batched = Batched(std::move(op), &v1::WriteResult::mutable_complete_run)) return *std::move(batched);
    return Call(&Stub::CompleteRun, r);
  });
}
absl::StatusOr<v1::TaskRunRecord> RemoteStore::FailRun(const v1::FailRunRequest& r) {
  return SendStepWrite(!r.step_token().empty(), [&]() -> absl::StatusOr<v1::TaskRunRecord> {
    v1::WriteOp op;
    *op.mutable_fail_run() = r;
    if (auto batched = Batched(std::move(op), &v1::WriteResult::mutable_fail_run)) return *std::move(batched);
    return Call(&Stub::FailRun, r);
  });
}
absl::StatusOr<v1::TaskRunRecord> RemoteStore::CancelRun(const v1::CancelTaskRunRequest& r) {
  return Call(&Stub::CancelTaskRun, r);
}
absl::StatusOr<int> RemoteStore::AppendRunLogs(const v1::AppendRunLogsRequest& r) {
  ASSIGN_OR_RETURN(auto response, Call(&Stub::AppendRunLogs, r));
  return response.stored();
}
absl::StatusOr<v1::StackRunRecord> RemoteStore::GetStackRun(const std::string& id) {
  v1::GetStackRunRequest r;
  r.set_id(id);
  return Call(&Stub::GetStackRun, r);
}
absl::StatusOr<v1::ListStackRunsResponse> RemoteStore::ListStackRuns(const v1::ListStackRunsRequest& r) {
  return Call(&Stub::ListStackRuns, r);
}
absl::StatusOr<v1::ClaimWorkResponse> RemoteStore::ClaimWork(const v1::ClaimWorkRequest& r) {
  return Call(&Stub::ClaimWork, r);
}
absl::StatusOr<v1::Lease> RemoteStore::RenewLease(const v1::RenewLeaseRequest& r) {
  return Call(&Stub::RenewLease, r);
}
absl::Status RemoteStore::ReleaseLease(const v1::ReleaseLeaseRequest& r) {
  return Call(&Stub::ReleaseLease, r).status();
}
absl::StatusOr<v1::RenewLeasesResponse> RemoteStore::RenewLeases(const v1::RenewLeasesRequest& r) {
  return Call(&Stub::RenewLeases, r);
}
absl::StatusOr<v1::CompleteCallResponse> RemoteStore::CompleteCall(const v1::CompleteCallRequest& r) {
  v1::WriteOp op;
  *op.mutable_complete_call() = r;
  if (auto batched = Batched(std::move(op), &v1::WriteResult::mutable_complete_call)) return *std::move(batched);
  return Call(&Stub::CompleteCall, r);
}
absl::StatusOr<v1::StackRunRecord> RemoteStore::RetryCall(const v1::RetryCallRequest& r) {
  return Call(&Stub::RetryCall, r);
}
absl::StatusOr<v1::RecordCallsResponse> RemoteStore::RecordCalls(const v1::RecordCallsRequest& r) {
  v1::WriteOp op;
  *op.mutable_record_calls() = r;
  if (auto batched = Batched(std::move(op), &v1::WriteResult::mutable_record_calls)) return *std::move(batched);
  return Call(&Stub::RecordCalls, r);
}
absl::StatusOr<v1::PutCheckpointResponse> RemoteStore::PutCheckpoint(const v1::PutCheckpointRequest& r) {
  return Call(&Stub::PutCheckpoint, r);
}
absl::StatusOr<v1::Journal> RemoteStore::GetJournal(const v1::GetJournalRequest& r) {
  return Call(&Stub::GetJournal, r);
}
absl::Status RemoteStore::PutContinuation(const v1::Continuation& c) {
  v1::PutContinuationRequest r;
  *r.mutable_continuation() = c;
  return Call(&Stub::PutContinuation, r).status();
}
absl::StatusOr<v1::Continuation> RemoteStore::GetContinuation(const std::string& stack_run_id) {
  v1::GetContinuationRequest r;
  r.set_stack_run_id(stack_run_id);
  return Call(&Stub::GetContinuation, r);
}
absl::StatusOr<v1::TaskLock> RemoteStore::AcquireTaskLock(const v1::AcquireTaskLockRequest& r) {
  return Call(&Stub::AcquireTaskLock, r);
}
absl::Status RemoteStore::ReleaseTaskLock(const v1::ReleaseTaskLockRequest& r) {
  return Call(&Stub::ReleaseTaskLock, r).status();
}
absl::Status RemoteStore::PutKeystoreEntry(const v1::KeystoreRow& row) {
  v1::PutKeystoreEntryRequest r;
  *r.mutable_row() = row;
  return Call(&Stub::PutKeystoreEntry, r).status();
}
absl::StatusOr<v1::KeystoreRow> RemoteStore::GetKeystoreEntry(const std::string& ns, const std::string& key) {
  v1::GetKeystoreEntryRequest r;
  r.set_namespace_(ns);
  r.set_key(key);
  return Call(&Stub::GetKeystoreEntry, r);
}
absl::StatusOr<bool> RemoteStore::DeleteKeystoreEntry(const std::string& ns, const std::string& key) {
  v1::DeleteKeystoreEntryRequest r;
  r.set_namespace_(ns);
  r.set_key(key);
  ASSIGN_OR_RETURN(auto response, Call(&Stub::DeleteKeystoreEntry, r));
  return response.deleted();
}
absl::StatusOr<v1::ListKeystoreEntriesResponse> RemoteStore::ListKeystoreEntries(
    const v1::ListKeystoreEntriesRequest& r) {
  return Call(&Stub::ListKeystoreEntries, r);
}

absl::StatusOr<v1::WriteBatchResponse> RemoteStore::WriteBatch(const v1::WriteBatchRequest& r) {
  return Call(&Stub::WriteBatch, r);
}

}  // namespace tasker::storage
