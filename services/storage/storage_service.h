// The Storage gRPC service: a thin adapter from tasker.v1.Storage onto a
// Store. Validation and logic live in the Store; this only converts.
// Callback API: each handler posts its store transaction to a pool of
// `threads` threads (handler_pool.h) and finishes the call from there, so
// transactions that wait (for the writer, a commit, the database) never hold
// gRPC's few callback threads, and concurrent writes can share one commit.
#ifndef TASKER_SERVICES_STORAGE_STORAGE_SERVICE_H_
#define TASKER_SERVICES_STORAGE_STORAGE_SERVICE_H_

#include <memory>

#include "tasker/v1/storage.grpc.pb.h"
#include "runtime/common/metrics.h"
#include "services/storage/handler_pool.h"
#include "storage/store.h"

namespace tasker::storage {

class StorageService final : public v1::Storage::CallbackService {
 public:
  static constexpr int kMaxWriteBatch = 1000;

  // `store` must outlive the service.
  explicit StorageService(Store* store, int threads = 32, size_t max_queued = 100000)
      : store_(store),
        pool_(std::make_unique<HandlerPool>(threads, max_queued)),
        queue_depth_("tasker_work_queue_depth", "Items waiting in a work queue of this process.",
                     metrics::ScrapedValue::Type::kGauge, {{"queue", "storage_handlers"}},
                     [pool = pool_.get()] { return static_cast<double>(pool->queued()); }) {}

  grpc::ServerUnaryReactor* PublishTaskFunction(grpc::CallbackServerContext*, const v1::PublishTaskFunctionRequest*,
                                   v1::TaskFunction*) override;
  grpc::ServerUnaryReactor* GetFunction(grpc::CallbackServerContext*, const v1::GetFunctionRequest*,
                               v1::TaskFunction*) override;
  grpc::ServerUnaryReactor* ListFunctions(grpc::CallbackServerContext*, const v1::ListFunctionsRequest*,
                                 v1::ListFunctionsResponse*) override;
  grpc::ServerUnaryReactor* SubmitTaskRun(grpc::CallbackServerContext*, const v1::SubmitTaskRunRequest*,
                         v1::SubmitTaskRunResponse*) override;
  grpc::ServerUnaryReactor* GetTaskRun(grpc::CallbackServerContext*, const v1::GetTaskRunRequest*, v1::TaskRunRecord*) override;
  grpc::ServerUnaryReactor* ListTaskRuns(grpc::CallbackServerContext*, const v1::ListTaskRunsRequest*,
                            v1::ListTaskRunsResponse*) override;
  grpc::ServerUnaryReactor* CompleteRun(grpc::CallbackServerContext*, const v1::CompleteRunRequest*, v1::TaskRunRecord*) override;
  grpc::ServerUnaryReactor* FailRun(grpc::CallbackServerContext*, const v1::FailRunRequest*, v1::TaskRunRecord*) override;
  grpc::ServerUnaryReactor* CancelTaskRun(grpc::CallbackServerContext*, const v1::CancelTaskRunRequest*, v1::TaskRunRecord*) override;
  grpc::ServerUnaryReactor* AppendRunLogs(grpc::CallbackServerContext*, const v1::AppendRunLogsRequest*,
                             v1::AppendRunLogsResponse*) override;
  grpc::ServerUnaryReactor* GetStackRun(grpc::CallbackServerContext*, const v1::GetStackRunRequest*, v1::StackRunRecord*) override;
  grpc::ServerUnaryReactor* ListStackRuns(grpc::CallbackServerContext*, const v1::ListStackRunsRequest*,
                             v1::ListStackRunsResponse*) override;
  grpc::ServerUnaryReactor* ClaimWork(grpc::CallbackServerContext*, const v1::ClaimWorkRequest*,
                         v1::ClaimWorkResponse*) override;
  grpc::ServerUnaryReactor* RenewLease(grpc::CallbackServerContext*, const v1::RenewLeaseRequest*, v1::Lease*) override;
  grpc::ServerUnaryReactor* ReleaseLease(grpc::CallbackServerContext*, const v1::ReleaseLeaseRequest*,
                            v1::ReleaseLeaseResponse*) override;
  grpc::ServerUnaryReactor* RenewLeases(grpc::CallbackServerContext*, const v1::RenewLeasesRequest*,
                                        v1::RenewLeasesResponse*) override;
  grpc::ServerUnaryReactor* CompleteCall(grpc::CallbackServerContext*, const v1::CompleteCallRequest*,
                            v1::CompleteCallResponse*) override;
  grpc::ServerUnaryReactor* RetryCall(grpc::CallbackServerContext*, const v1::RetryCallRequest*, v1::StackRunRecord*) override;
  grpc::ServerUnaryReactor* RecordCalls(grpc::CallbackServerContext*, const v1::RecordCallsRequest*,
                                        v1::RecordCallsResponse*) override;
  grpc::ServerUnaryReactor* WriteBatch(grpc::CallbackServerContext*, const v1::WriteBatchRequest*,
                                       v1::WriteBatchResponse*) override;
  grpc::ServerUnaryReactor* PutCheckpoint(grpc::CallbackServerContext*, const v1::PutCheckpointRequest*,
                                          v1::PutCheckpointResponse*) override;
  grpc::ServerUnaryReactor* GetJournal(grpc::CallbackServerContext*, const v1::GetJournalRequest*,
                                       v1::Journal*) override;
  grpc::ServerUnaryReactor* PutContinuation(grpc::CallbackServerContext*, const v1::PutContinuationRequest*,
                               v1::PutContinuationResponse*) override;
  grpc::ServerUnaryReactor* GetContinuation(grpc::CallbackServerContext*, const v1::GetContinuationRequest*,
                               v1::Continuation*) override;
  grpc::ServerUnaryReactor* AcquireTaskLock(grpc::CallbackServerContext*, const v1::AcquireTaskLockRequest*,
                               v1::TaskLock*) override;
  grpc::ServerUnaryReactor* ReleaseTaskLock(grpc::CallbackServerContext*, const v1::ReleaseTaskLockRequest*,
                               v1::ReleaseTaskLockResponse*) override;
  grpc::ServerUnaryReactor* PutKeystoreEntry(grpc::CallbackServerContext*, const v1::PutKeystoreEntryRequest*,
                                v1::PutKeystoreEntryResponse*) override;
  grpc::ServerUnaryReactor* GetKeystoreEntry(grpc::CallbackServerContext*, const v1::GetKeystoreEntryRequest*,
                                v1::KeystoreRow*) override;
  grpc::ServerUnaryReactor* DeleteKeystoreEntry(grpc::CallbackServerContext*, const v1::DeleteKeystoreEntryRequest*,
                                   v1::DeleteKeystoreEntryResponse*) override;
  grpc::ServerUnaryReactor* ListKeystoreEntries(grpc::CallbackServerContext*, const v1::ListKeystoreEntriesRequest*,
                                   v1::ListKeystoreEntriesResponse*) override;

 private:
  template <typename Handler>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, Handler handler);

  Store* store_;
  std::unique_ptr<HandlerPool> pool_;
  metrics::ScrapedValue queue_depth_;  // reads pool_: declared after it
};

}  // namespace tasker::storage

#endif  // TASKER_SERVICES_STORAGE_STORAGE_SERVICE_H_
