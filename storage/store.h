// Store: everything durable in Tasker. The storage service is its only
// user in production; each method is one transaction (all or nothing).
//
// Data types are the protobuf messages of proto/tasker/v1, so the gRPC
// service adapts without copying field by field.
//
// Errors shared by all methods:
//   INVALID_ARGUMENT     a field is malformed; the message names it
//   NOT_FOUND            the named function / run / stack run does not exist
//   ALREADY_EXISTS       an idempotency key was reused for a different run
//                        (another task, version or input)
//   FAILED_PRECONDITION  the item's state forbids the operation (e.g. the run
//                        already finished or was cancelled)
//   ABORTED              the fencing token is stale: another worker claimed
//                        the item since; the caller must drop its work
//   UNAVAILABLE          the database cannot be reached (retry later)
#ifndef TASKER_STORAGE_STORE_H_
#define TASKER_STORAGE_STORE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tasker/v1/storage.pb.h"

namespace tasker::storage {

namespace v1 = ::tasker::v1;

// The Store is split by capability: each caller holds only the interfaces it
// uses (the executor: functions, leases and run steps; the stack processor:
// leases and calls; the keystore: keystore rows; the public API: functions
// and runs). Store is all of them, implemented by the SQL backends and by
// RemoteStore over gRPC.

// Published task code. Every publish is a new immutable version.
class FunctionStore {
 public:
  virtual ~FunctionStore() = default;
  // Stores `code` as the next version (1, 2, ...) of `identifier`.
  virtual absl::StatusOr<v1::TaskFunction> PublishTaskFunction(
      const v1::PublishTaskFunctionRequest& request) = 0;
  // version 0 = latest.
  virtual absl::StatusOr<v1::TaskFunction> GetTaskFunction(
      const v1::GetFunctionRequest& request) = 0;
  virtual absl::StatusOr<v1::ListFunctionsResponse> ListTaskFunctions(
      const v1::ListFunctionsRequest& request) = 0;
};

// Task runs as their submitters see them: submit, read, list, cancel.
class RunStore {
 public:
  virtual ~RunStore() = default;
  // Creates the run and its PENDING root stack run; pins the task version.
  // A repeated idempotency key with the same task, the same version (when
  // one is given) and byte-identical input_json (empty and "null" are the
  // same) returns the first run with created = false; with anything else,
  // ALREADY_EXISTS naming the key and the first run. Atomic: of concurrent
  // submits with one key, one creates the run.
  virtual absl::StatusOr<v1::SubmitTaskRunResponse> SubmitRun(
      const v1::SubmitTaskRunRequest& request) = 0;
  virtual absl::StatusOr<v1::TaskRunRecord> GetTaskRun(const v1::GetTaskRunRequest& request) = 0;
  // Newest first; filters by status, task, creation time.
  virtual absl::StatusOr<v1::ListTaskRunsResponse> ListTaskRuns(
      const v1::ListTaskRunsRequest& request) = 0;
  // Cancels an unfinished run and every unfinished stack run of it.
  virtual absl::StatusOr<v1::TaskRunRecord> CancelRun(const v1::CancelTaskRunRequest& request) = 0;
  virtual absl::StatusOr<v1::StackRunRecord> GetStackRun(const std::string& id) = 0;
  virtual absl::StatusOr<v1::ListStackRunsResponse> ListStackRuns(
      const v1::ListStackRunsRequest& request) = 0;
};

// Claiming work under leases, shared by executors (root stack runs) and
// processors (calls).
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  // Claims the oldest ready item of a kind (or the named one) under a lease
  // with a new fencing token. Empty response when nothing is ready. Items
  // whose lease expired are ready again.
  virtual absl::StatusOr<v1::ClaimWorkResponse> ClaimWork(const v1::ClaimWorkRequest& request) = 0;
  virtual absl::StatusOr<v1::Lease> RenewLease(const v1::RenewLeaseRequest& request) = 0;
  // Gives the item back, claimable at once.
  virtual absl::Status ReleaseLease(const v1::ReleaseLeaseRequest& request) = 0;
  // Renews many leases of one owner in one transaction: each lease whose item
  // is still RUNNING with its fencing token is extended; every other one
  // (missing, stale token, finished, cancelled) is listed in `lost`.
  virtual absl::StatusOr<v1::RenewLeasesResponse> RenewLeases(
      const v1::RenewLeasesRequest& request) = 0;
};

// What an executor records about the steps of a run it holds the root lease
// of (fencing token in every request).
class RunStepStore {
 public:
  virtual ~RunStepStore() = default;
  // The hot path of a warm run: appends journal steps (contiguous with the
  // stored ones), creates one call per HostCall (PENDING, or RUNNING leased
  // to dispatch_owner) and appends logs. The root stays RUNNING under the
  // caller's lease.
  virtual absl::StatusOr<v1::RecordCallsResponse> RecordCalls(
      const v1::RecordCallsRequest& request) = 0;
  // Appends journal steps and logs, stores the checkpoint (never an older
  // one); with `release`, lets the root go: SUSPENDED_WAITING_CHILD, or
  // READY_TO_RESUME (ready = true) when a call has a result the journal does
  // not show as delivered.
  virtual absl::StatusOr<v1::PutCheckpointResponse> PutCheckpoint(
      const v1::PutCheckpointRequest& request) = 0;
  // Everything needed to rebuild a run: root, run, checkpoint (if any),
  // journal steps in seq order, calls in call_index order.
  virtual absl::StatusOr<v1::Journal> GetJournal(const v1::GetJournalRequest& request) = 0;
  // Finishing a run also cancels its calls that have not finished.
  virtual absl::StatusOr<v1::TaskRunRecord> CompleteRun(const v1::CompleteRunRequest& request) = 0;
  virtual absl::StatusOr<v1::TaskRunRecord> FailRun(const v1::FailRunRequest& request) = 0;
  virtual absl::StatusOr<int> AppendRunLogs(const v1::AppendRunLogsRequest& request) = 0;
  virtual absl::Status PutContinuation(const v1::Continuation& continuation) = 0;
  virtual absl::StatusOr<v1::Continuation> GetContinuation(const std::string& stack_run_id) = 0;
  // One holder per task run; an expired lock can be taken over (new token).
  // FAILED_PRECONDITION when another owner holds it.
  virtual absl::StatusOr<v1::TaskLock> AcquireTaskLock(const v1::AcquireTaskLockRequest& request) = 0;
  virtual absl::Status ReleaseTaskLock(const v1::ReleaseTaskLockRequest& request) = 0;
};

// What a stack processor records about a call it holds the lease of.
class CallStore {
 public:
  virtual ~CallStore() = default;
  // Final result or error of a call. An evicted (SUSPENDED_WAITING_CHILD)
  // parent becomes READY_TO_RESUME (parent_ready); a parent held warm
  // (RUNNING) is named by reply_to, where the result is to be pushed.
  virtual absl::StatusOr<v1::CompleteCallResponse> CompleteCall(
      const v1::CompleteCallRequest& request) = 0;
  // Retryable failure: back to PENDING until next_attempt_at.
  virtual absl::StatusOr<v1::StackRunRecord> RetryCall(const v1::RetryCallRequest& request) = 0;
};

// Keystore rows: ciphertext only (the keystore service encrypts).
class KeystoreRowStore {
 public:
  virtual ~KeystoreRowStore() = default;
  virtual absl::Status PutKeystoreEntry(const v1::KeystoreRow& row) = 0;
  virtual absl::StatusOr<v1::KeystoreRow> GetKeystoreEntry(const std::string& ns,
                                                          const std::string& key) = 0;
  virtual absl::StatusOr<bool> DeleteKeystoreEntry(const std::string& ns, const std::string& key) = 0;
  virtual absl::StatusOr<v1::ListKeystoreEntriesResponse> ListKeystoreEntries(
      const v1::ListKeystoreEntriesRequest& request) = 0;
};

// WriteBatch's answer for an op that carries no write: INVALID_ARGUMENT
// naming ops[index].
absl::Status NoWriteInOp(int index);

// Everything durable in Tasker.
class Store : public FunctionStore,
              public RunStore,
              public LeaseStore,
              public RunStepStore,
              public CallStore,
              public KeystoreRowStore {
 public:
  ~Store() override = default;

  // Performs several hot-path writes (RecordCalls, CompleteCall,
  // CompleteRun, FailRun), each exactly as its own method would, with its
  // own result (results[i] for ops[i]: the status as code and message, and
  // the response when OK); an op without a write is INVALID_ARGUMENT naming
  // it. Backends may make them share one commit (SqlStore does); this
  // default performs them one after another.
  virtual absl::StatusOr<v1::WriteBatchResponse> WriteBatch(const v1::WriteBatchRequest& request);

  // Retention (the storage service's sweep): deletes up to `limit` runs that
  // finished (COMPLETED, FAILED, CANCELLED) before `finished_before`, with
  // their stack runs, journal, checkpoints, logs, locks and step commits;
  // returns how many runs went. UNIMPLEMENTED unless the store is the
  // database itself (this default).
  virtual absl::StatusOr<int64_t> PurgeFinishedRuns(absl::Time finished_before, int limit);
};

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_STORE_H_
