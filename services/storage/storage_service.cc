#include "services/storage/storage_service.h"

#include "absl/strings/str_cat.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"
#include "runtime/common/trace.h"
#include "runtime/server/observability.h"

namespace tasker::storage {

using grpc::CallbackServerContext;
using grpc::Status;

namespace {
Status Empty(const absl::Status& status) { return ToGrpcStatus(status); }

}  // namespace

// Runs `handler` (which fills the response and returns the status) on the
// handler pool and finishes the call from there.
template <typename Handler>
grpc::ServerUnaryReactor* StorageService::Run(CallbackServerContext* context, Handler handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // `handler` is moved into the job only when it is accepted.
  auto job = std::make_shared<Handler>(std::move(handler));
  if (!pool_->TryPost([reactor, job]() mutable { reactor->Finish((*job)()); })) {
    reactor->Finish(ToGrpcStatus(absl::ResourceExhaustedError("storage: too many requests queued")));
  }
  return reactor;
}

grpc::ServerUnaryReactor* StorageService::PublishTaskFunction(CallbackServerContext* context, const v1::PublishTaskFunctionRequest* r,
                                           v1::TaskFunction* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->PublishTaskFunction(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::GetFunction(CallbackServerContext* context, const v1::GetFunctionRequest* r,
                                       v1::TaskFunction* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->GetTaskFunction(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::ListFunctions(CallbackServerContext* context, const v1::ListFunctionsRequest* r,
                                         v1::ListFunctionsResponse* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->ListTaskFunctions(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::SubmitTaskRun(CallbackServerContext* context, const v1::SubmitTaskRunRequest* r,
                                 v1::SubmitTaskRunResponse* out) {
  // The submitter's trace, when it sent one: linked to the run's own. (Only
  // here: other requests log nothing per run, and reading every request's
  // headers would cost each of them.)
  std::string client_trace_id = LogContextFromMetadata(context->client_metadata()).trace_id;
  return Run(context, [this, r, out, client_trace_id = std::move(client_trace_id)] {
    auto submitted = store_->SubmitRun(*r);
    if (submitted.ok() && submitted->created()) {
      ScopedLogContext run_context(RunLogContext(submitted->run().id(), submitted->root().id()));
      LogInfo("run stored", {{"task", r->task_identifier()},
                             {"number", std::to_string(submitted->run().number())},
                             {"client_trace_id", client_trace_id}});
    }
    return ReplyWith(std::move(submitted), out);
  });
}
grpc::ServerUnaryReactor* StorageService::GetTaskRun(CallbackServerContext* context, const v1::GetTaskRunRequest* r, v1::TaskRunRecord* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->GetTaskRun(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::ListTaskRuns(CallbackServerContext* context, const v1::ListTaskRunsRequest* r,
                                    v1::ListTaskRunsResponse* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->ListTaskRuns(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::CompleteRun(CallbackServerContext* context, const v1::CompleteRunRequest* r, v1::TaskRunRecord* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->CompleteRun(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::FailRun(CallbackServerContext* context, const v1::FailRunRequest* r, v1::TaskRunRecord* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->FailRun(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::CancelTaskRun(CallbackServerContext* context, const v1::CancelTaskRunRequest* r, v1::TaskRunRecord* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->CancelRun(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::AppendRunLogs(CallbackServerContext* context, const v1::AppendRunLogsRequest* r,
                                     v1::AppendRunLogsResponse* out) {
  return Run(context, [this, r, out] {
    auto stored = store_->AppendRunLogs(*r);
    if (stored.ok()) out->set_stored(*stored);
    return ToGrpcStatus(stored.status());
  });
}
grpc::ServerUnaryReactor* StorageService::GetStackRun(CallbackServerContext* context, const v1::GetStackRunRequest* r, v1::StackRunRecord* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->GetStackRun(r->id()), out); });
}
grpc::ServerUnaryReactor* StorageService::ListStackRuns(CallbackServerContext* context, const v1::ListStackRunsRequest* r,
                                     v1::ListStackRunsResponse* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->ListStackRuns(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::ClaimWork(CallbackServerContext* context, const v1::ClaimWorkRequest* r,
                                 v1::ClaimWorkResponse* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->ClaimWork(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::RenewLease(CallbackServerContext* context, const v1::RenewLeaseRequest* r, v1::Lease* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->RenewLease(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::ReleaseLease(CallbackServerContext* context, const v1::ReleaseLeaseRequest* r,
                                    v1::ReleaseLeaseResponse*) {
  return Run(context, [this, r] { return Empty(store_->ReleaseLease(*r)); });
}
grpc::ServerUnaryReactor* StorageService::RenewLeases(CallbackServerContext* context, const v1::RenewLeasesRequest* r,
                                                      v1::RenewLeasesResponse* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->RenewLeases(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::CompleteCall(CallbackServerContext* context, const v1::CompleteCallRequest* r,
                                    v1::CompleteCallResponse* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->CompleteCall(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::RetryCall(CallbackServerContext* context, const v1::RetryCallRequest* r, v1::StackRunRecord* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->RetryCall(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::RecordCalls(CallbackServerContext* context, const v1::RecordCallsRequest* r,
                                                      v1::RecordCallsResponse* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->RecordCalls(*r), out); });
}
// The store performs the ops (SqlStore: in one grouped transaction, one
// commit) on one pool thread.
grpc::ServerUnaryReactor* StorageService::WriteBatch(CallbackServerContext* context, const v1::WriteBatchRequest* r,
                                                     v1::WriteBatchResponse* out) {
  if (r->ops_size() > kMaxWriteBatch) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("ops: at most ", kMaxWriteBatch, " per batch, got ", r->ops_size()))));
    return reactor;
  }
  return Run(context, [this, r, out] { return ReplyWith(store_->WriteBatch(*r), out); });
}

grpc::ServerUnaryReactor* StorageService::PutCheckpoint(CallbackServerContext* context,
                                                        const v1::PutCheckpointRequest* r,
                                                        v1::PutCheckpointResponse* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->PutCheckpoint(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::GetJournal(CallbackServerContext* context, const v1::GetJournalRequest* r,
                                                     v1::Journal* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->GetJournal(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::PutContinuation(CallbackServerContext* context, const v1::PutContinuationRequest* r,
                                       v1::PutContinuationResponse*) {
  return Run(context, [this, r] { return Empty(store_->PutContinuation(r->continuation())); });
}
grpc::ServerUnaryReactor* StorageService::GetContinuation(CallbackServerContext* context, const v1::GetContinuationRequest* r,
                                       v1::Continuation* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->GetContinuation(r->stack_run_id()), out); });
}
grpc::ServerUnaryReactor* StorageService::AcquireTaskLock(CallbackServerContext* context, const v1::AcquireTaskLockRequest* r,
                                       v1::TaskLock* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->AcquireTaskLock(*r), out); });
}
grpc::ServerUnaryReactor* StorageService::ReleaseTaskLock(CallbackServerContext* context, const v1::ReleaseTaskLockRequest* r,
                                       v1::ReleaseTaskLockResponse*) {
  return Run(context, [this, r] { return Empty(store_->ReleaseTaskLock(*r)); });
}
grpc::ServerUnaryReactor* StorageService::PutKeystoreEntry(CallbackServerContext* context, const v1::PutKeystoreEntryRequest* r,
                                        v1::PutKeystoreEntryResponse*) {
  return Run(context, [this, r] { return Empty(store_->PutKeystoreEntry(r->row())); });
}
grpc::ServerUnaryReactor* StorageService::GetKeystoreEntry(CallbackServerContext* context, const v1::GetKeystoreEntryRequest* r,
                                        v1::KeystoreRow* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->GetKeystoreEntry(r->namespace_(), r->key()), out); });
}
grpc::ServerUnaryReactor* StorageService::DeleteKeystoreEntry(CallbackServerContext* context, const v1::DeleteKeystoreEntryRequest* r,
                                           v1::DeleteKeystoreEntryResponse* out) {
  return Run(context, [this, r, out] {
    auto deleted = store_->DeleteKeystoreEntry(r->namespace_(), r->key());
    if (deleted.ok()) out->set_deleted(*deleted);
    return ToGrpcStatus(deleted.status());
  });
}
grpc::ServerUnaryReactor* StorageService::ListKeystoreEntries(CallbackServerContext* context, const v1::ListKeystoreEntriesRequest* r,
                                           v1::ListKeystoreEntriesResponse* out) {
  return Run(context, [this, r, out] { return ReplyWith(store_->ListKeystoreEntries(*r), out); });
}

}  // namespace tasker::storage
