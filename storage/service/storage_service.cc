#include "storage/service/storage_service.h"

#include "runtime/common/status.h"

namespace tasker::storage {

using grpc::ServerContext;
using grpc::Status;

namespace {
Status Empty(const absl::Status& status) { return ToGrpcStatus(status); }
}  // namespace

Status StorageService::PublishTaskFunction(ServerContext*, const v1::PublishTaskFunctionRequest* r,
                                           v1::TaskFunction* out) {
  return ReplyWith(store_->PublishTaskFunction(*r), out);
}
Status StorageService::GetTaskFunction(ServerContext*, const v1::GetTaskFunctionRequest* r,
                                       v1::TaskFunction* out) {
  return ReplyWith(store_->GetTaskFunction(*r), out);
}
Status StorageService::ListTaskFunctions(ServerContext*, const v1::ListTaskFunctionsRequest* r,
                                         v1::ListTaskFunctionsResponse* out) {
  return ReplyWith(store_->ListTaskFunctions(*r), out);
}
Status StorageService::SubmitRun(ServerContext*, const v1::SubmitRunRequest* r,
                                 v1::SubmitRunResponse* out) {
  return ReplyWith(store_->SubmitRun(*r), out);
}
Status StorageService::GetTaskRun(ServerContext*, const v1::GetTaskRunRequest* r, v1::TaskRun* out) {
  return ReplyWith(store_->GetTaskRun(*r), out);
}
Status StorageService::ListTaskRuns(ServerContext*, const v1::ListTaskRunsRequest* r,
                                    v1::ListTaskRunsResponse* out) {
  return ReplyWith(store_->ListTaskRuns(*r), out);
}
Status StorageService::CompleteRun(ServerContext*, const v1::CompleteRunRequest* r, v1::TaskRun* out) {
  return ReplyWith(store_->CompleteRun(*r), out);
}
Status StorageService::FailRun(ServerContext*, const v1::FailRunRequest* r, v1::TaskRun* out) {
  return ReplyWith(store_->FailRun(*r), out);
}
Status StorageService::CancelRun(ServerContext*, const v1::CancelRunRequest* r, v1::TaskRun* out) {
  return ReplyWith(store_->CancelRun(*r), out);
}
Status StorageService::AppendRunLogs(ServerContext*, const v1::AppendRunLogsRequest* r,
                                     v1::AppendRunLogsResponse* out) {
  auto stored = store_->AppendRunLogs(*r);
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  out->set_stored(*stored);
  return Status::OK;
}
Status StorageService::GetStackRun(ServerContext*, const v1::GetStackRunRequest* r, v1::StackRun* out) {
  return ReplyWith(store_->GetStackRun(r->id()), out);
}
Status StorageService::ListStackRuns(ServerContext*, const v1::ListStackRunsRequest* r,
                                     v1::ListStackRunsResponse* out) {
  return ReplyWith(store_->ListStackRuns(*r), out);
}
Status StorageService::ClaimWork(ServerContext*, const v1::ClaimWorkRequest* r,
                                 v1::ClaimWorkResponse* out) {
  return ReplyWith(store_->ClaimWork(*r), out);
}
Status StorageService::RenewLease(ServerContext*, const v1::RenewLeaseRequest* r, v1::Lease* out) {
  return ReplyWith(store_->RenewLease(*r), out);
}
Status StorageService::ReleaseLease(ServerContext*, const v1::ReleaseLeaseRequest* r,
                                    v1::ReleaseLeaseResponse*) {
  return Empty(store_->ReleaseLease(*r));
}
Status StorageService::SuspendRoot(ServerContext*, const v1::SuspendRootRequest* r,
                                   v1::SuspendRootResponse* out) {
  return ReplyWith(store_->SuspendRoot(*r), out);
}
Status StorageService::CompleteCall(ServerContext*, const v1::CompleteCallRequest* r,
                                    v1::CompleteCallResponse* out) {
  return ReplyWith(store_->CompleteCall(*r), out);
}
Status StorageService::RetryCall(ServerContext*, const v1::RetryCallRequest* r, v1::StackRun* out) {
  return ReplyWith(store_->RetryCall(*r), out);
}
Status StorageService::GetResumeState(ServerContext*, const v1::GetResumeStateRequest* r,
                                      v1::ResumeState* out) {
  return ReplyWith(store_->GetResumeState(r->root_stack_run_id()), out);
}
Status StorageService::PutContinuation(ServerContext*, const v1::PutContinuationRequest* r,
                                       v1::PutContinuationResponse*) {
  return Empty(store_->PutContinuation(r->continuation()));
}
Status StorageService::GetContinuation(ServerContext*, const v1::GetContinuationRequest* r,
                                       v1::Continuation* out) {
  return ReplyWith(store_->GetContinuation(r->stack_run_id()), out);
}
Status StorageService::AcquireTaskLock(ServerContext*, const v1::AcquireTaskLockRequest* r,
                                       v1::TaskLock* out) {
  return ReplyWith(store_->AcquireTaskLock(*r), out);
}
Status StorageService::ReleaseTaskLock(ServerContext*, const v1::ReleaseTaskLockRequest* r,
                                       v1::ReleaseTaskLockResponse*) {
  return Empty(store_->ReleaseTaskLock(*r));
}
Status StorageService::PutKeystoreEntry(ServerContext*, const v1::PutKeystoreEntryRequest* r,
                                        v1::PutKeystoreEntryResponse*) {
  return Empty(store_->PutKeystoreEntry(r->row()));
}
Status StorageService::GetKeystoreEntry(ServerContext*, const v1::GetKeystoreEntryRequest* r,
                                        v1::KeystoreRow* out) {
  return ReplyWith(store_->GetKeystoreEntry(r->namespace_(), r->key()), out);
}
Status StorageService::DeleteKeystoreEntry(ServerContext*, const v1::DeleteKeystoreEntryRequest* r,
                                           v1::DeleteKeystoreEntryResponse* out) {
  auto deleted = store_->DeleteKeystoreEntry(r->namespace_(), r->key());
  if (!deleted.ok()) return ToGrpcStatus(deleted.status());
  out->set_deleted(*deleted);
  return Status::OK;
}
Status StorageService::ListKeystoreEntries(ServerContext*, const v1::ListKeystoreEntriesRequest* r,
                                           v1::ListKeystoreEntriesResponse* out) {
  return ReplyWith(store_->ListKeystoreEntries(*r), out);
}

}  // namespace tasker::storage
