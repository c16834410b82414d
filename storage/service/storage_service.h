// The Storage gRPC service: a thin adapter from tasker.v1.Storage onto a
// Store. Validation and logic live in the Store; this only converts.
#ifndef TASKER_STORAGE_SERVICE_STORAGE_SERVICE_H_
#define TASKER_STORAGE_SERVICE_STORAGE_SERVICE_H_

#include "proto/tasker/v1/storage.grpc.pb.h"
#include "storage/store.h"

namespace tasker::storage {

class StorageService final : public v1::Storage::Service {
 public:
  // `store` must outlive the service.
  explicit StorageService(Store* store) : store_(store) {}

  grpc::Status PublishTaskFunction(grpc::ServerContext*, const v1::PublishTaskFunctionRequest*,
                                   v1::TaskFunction*) override;
  grpc::Status GetTaskFunction(grpc::ServerContext*, const v1::GetTaskFunctionRequest*,
                               v1::TaskFunction*) override;
  grpc::Status ListTaskFunctions(grpc::ServerContext*, const v1::ListTaskFunctionsRequest*,
                                 v1::ListTaskFunctionsResponse*) override;
  grpc::Status SubmitRun(grpc::ServerContext*, const v1::SubmitRunRequest*,
                         v1::SubmitRunResponse*) override;
  grpc::Status GetTaskRun(grpc::ServerContext*, const v1::GetTaskRunRequest*, v1::TaskRun*) override;
  grpc::Status ListTaskRuns(grpc::ServerContext*, const v1::ListTaskRunsRequest*,
                            v1::ListTaskRunsResponse*) override;
  grpc::Status CompleteRun(grpc::ServerContext*, const v1::CompleteRunRequest*, v1::TaskRun*) override;
  grpc::Status FailRun(grpc::ServerContext*, const v1::FailRunRequest*, v1::TaskRun*) override;
  grpc::Status CancelRun(grpc::ServerContext*, const v1::CancelRunRequest*, v1::TaskRun*) override;
  grpc::Status AppendRunLogs(grpc::ServerContext*, const v1::AppendRunLogsRequest*,
                             v1::AppendRunLogsResponse*) override;
  grpc::Status GetStackRun(grpc::ServerContext*, const v1::GetStackRunRequest*, v1::StackRun*) override;
  grpc::Status ListStackRuns(grpc::ServerContext*, const v1::ListStackRunsRequest*,
                             v1::ListStackRunsResponse*) override;
  grpc::Status ClaimWork(grpc::ServerContext*, const v1::ClaimWorkRequest*,
                         v1::ClaimWorkResponse*) override;
  grpc::Status RenewLease(grpc::ServerContext*, const v1::RenewLeaseRequest*, v1::Lease*) override;
  grpc::Status ReleaseLease(grpc::ServerContext*, const v1::ReleaseLeaseRequest*,
                            v1::ReleaseLeaseResponse*) override;
  grpc::Status SuspendRoot(grpc::ServerContext*, const v1::SuspendRootRequest*,
                           v1::SuspendRootResponse*) override;
  grpc::Status CompleteCall(grpc::ServerContext*, const v1::CompleteCallRequest*,
                            v1::CompleteCallResponse*) override;
  grpc::Status RetryCall(grpc::ServerContext*, const v1::RetryCallRequest*, v1::StackRun*) override;
  grpc::Status GetResumeState(grpc::ServerContext*, const v1::GetResumeStateRequest*,
                              v1::ResumeState*) override;
  grpc::Status PutContinuation(grpc::ServerContext*, const v1::PutContinuationRequest*,
                               v1::PutContinuationResponse*) override;
  grpc::Status GetContinuation(grpc::ServerContext*, const v1::GetContinuationRequest*,
                               v1::Continuation*) override;
  grpc::Status AcquireTaskLock(grpc::ServerContext*, const v1::AcquireTaskLockRequest*,
                               v1::TaskLock*) override;
  grpc::Status ReleaseTaskLock(grpc::ServerContext*, const v1::ReleaseTaskLockRequest*,
                               v1::ReleaseTaskLockResponse*) override;
  grpc::Status PutKeystoreEntry(grpc::ServerContext*, const v1::PutKeystoreEntryRequest*,
                                v1::PutKeystoreEntryResponse*) override;
  grpc::Status GetKeystoreEntry(grpc::ServerContext*, const v1::GetKeystoreEntryRequest*,
                                v1::KeystoreRow*) override;
  grpc::Status DeleteKeystoreEntry(grpc::ServerContext*, const v1::DeleteKeystoreEntryRequest*,
                                   v1::DeleteKeystoreEntryResponse*) override;
  grpc::Status ListKeystoreEntries(grpc::ServerContext*, const v1::ListKeystoreEntriesRequest*,
                                   v1::ListKeystoreEntriesResponse*) override;

 private:
  Store* store_;
};

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_SERVICE_STORAGE_SERVICE_H_
