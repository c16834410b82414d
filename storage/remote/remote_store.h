// RemoteStore: the Store interface over the Storage gRPC service, so the
// executor, the processor and the keystore use storage exactly as the
// storage service does in-process. gRPC errors come back as the same
// absl status codes the Store returned on the server. The hot path's writes
// (RecordCalls, CompleteCall, CompleteRun, FailRun) made concurrently from
// several threads share Storage.WriteBatch round trips (write_batcher.h).
#ifndef TASKER_STORAGE_REMOTE_REMOTE_STORE_H_
#define TASKER_STORAGE_REMOTE_REMOTE_STORE_H_

#include <atomic>
#include <memory>
#include <optional>

#include "absl/time/time.h"
#include "tasker/v1/storage.grpc.pb.h"
#include "storage/remote/write_batcher.h"
#include "storage/store.h"

namespace tasker::storage {

class RemoteStore : public Store {
 public:
  RemoteStore(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout = absl::Seconds(30));
  ~RemoteStore() override;

  absl::StatusOr<v1::TaskFunction> PublishTaskFunction(const v1::PublishTaskFunctionRequest&) override;
  absl::StatusOr<v1::TaskFunction> GetTaskFunction(const v1::GetFunctionRequest&) override;
  absl::StatusOr<v1::ListFunctionsResponse> ListTaskFunctions(const v1::ListFunctionsRequest&) override;
  absl::StatusOr<v1::SubmitTaskRunResponse> SubmitRun(const v1::SubmitTaskRunRequest&) override;
  absl::StatusOr<v1::TaskRunRecord> GetTaskRun(const v1::GetTaskRunRequest&) override;
  absl::StatusOr<v1::ListTaskRunsResponse> ListTaskRuns(const v1::ListTaskRunsRequest&) override;
  absl::StatusOr<v1::TaskRunRecord> CompleteRun(const v1::CompleteRunRequest&) override;
  absl::StatusOr<v1::TaskRunRecord> FailRun(const v1::FailRunRequest&) override;
  absl::StatusOr<v1::TaskRunRecord> CancelRun(const v1::CancelTaskRunRequest&) override;
  absl::StatusOr<int> AppendRunLogs(const v1::AppendRunLogsRequest&) override;
  absl::StatusOr<v1::StackRunRecord> GetStackRun(const std::string& id) override;
  absl::StatusOr<v1::ListStackRunsResponse> ListStackRuns(const v1::ListStackRunsRequest&) override;
  absl::StatusOr<v1::ClaimWorkResponse> ClaimWork(const v1::ClaimWorkRequest&) override;
  absl::StatusOr<v1::Lease> RenewLease(const v1::RenewLeaseRequest&) override;
  absl::Status ReleaseLease(const v1::ReleaseLeaseRequest&) override;
  absl::StatusOr<v1::RenewLeasesResponse> RenewLeases(const v1::RenewLeasesRequest&) override;
  absl::StatusOr<v1::CompleteCallResponse> CompleteCall(const v1::CompleteCallRequest&) override;
  absl::StatusOr<v1::StackRunRecord> RetryCall(const v1::RetryCallRequest&) override;
  absl::StatusOr<v1::RecordCallsResponse> RecordCalls(const v1::RecordCallsRequest&) override;
  absl::StatusOr<v1::PutCheckpointResponse> PutCheckpoint(const v1::PutCheckpointRequest&) override;
  absl::StatusOr<v1::Journal> GetJournal(const v1::GetJournalRequest&) override;
  absl::Status PutContinuation(const v1::Continuation&) override;
  absl::StatusOr<v1::Continuation> GetContinuation(const std::string& stack_run_id) override;
  absl::StatusOr<v1::TaskLock> AcquireTaskLock(const v1::AcquireTaskLockRequest&) override;
  absl::Status ReleaseTaskLock(const v1::ReleaseTaskLockRequest&) override;
  absl::Status PutKeystoreEntry(const v1::KeystoreRow&) override;
  absl::StatusOr<v1::KeystoreRow> GetKeystoreEntry(const std::string& ns, const std::string& key) override;
  absl::StatusOr<bool> DeleteKeystoreEntry(const std::string& ns, const std::string& key) override;
  absl::StatusOr<v1::ListKeystoreEntriesResponse> ListKeystoreEntries(
      const v1::ListKeystoreEntriesRequest&) override;
  // Storage.WriteBatch itself (the service groups the ops, or performs each).
  absl::StatusOr<v1::WriteBatchResponse> WriteBatch(const v1::WriteBatchRequest&) override;

 private:
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Call(grpc::Status (v1::Storage::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                            const Req& request);

  // The write's result through the batcher; nullopt when the server has no
  // WriteBatch (the caller then uses the write's own method).
  template <typename Resp>
  std::optional<absl::StatusOr<Resp>> Batched(v1::WriteOp op, Resp* (v1::WriteResult::*field)());

  std::unique_ptr<v1::Storage::Stub> stub_;
  absl::Duration timeout_;
  std::unique_ptr<WriteBatcher> batcher_;
  std::atomic<bool> batch_unimplemented_{false};
};

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_REMOTE_REMOTE_STORE_H_
