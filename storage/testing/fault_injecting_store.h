// FaultInjectingStore: a Store decorator for tests that makes chosen calls
// misbehave, so the fault paths of the executor, the processor and the
// keystore are tested in-process, without killing processes.
//
// Calls are numbered per method from 1. A rule names a method, the first
// call it applies to and how many calls it covers, and one fault:
//   kFail        the call is not made; the caller gets `status`.
//   kDelay       the call is made after sleeping `delay`.
//   kDropAnswer  the call is made (its transaction commits) but the caller
//                gets `status`, as when the answer is lost on the way back.
//
//   FaultInjectingStore store(real.get());
//   store.Inject({.method = "CompleteRun", .call = 1, .fault = Fault::kDropAnswer});
#ifndef TASKER_STORAGE_TESTING_FAULT_INJECTING_STORE_H_
#define TASKER_STORAGE_TESTING_FAULT_INJECTING_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace tasker::storage::testing {

class FaultInjectingStore : public Store {
 public:
  enum class Fault { kFail, kDelay, kDropAnswer };
  struct Rule {
    std::string method;  // a Store method name, e.g. "RecordCalls"
    int call = 1;        // the first call (1-based) the rule applies to
    int times = 1;       // how many calls from `call` on; 0 = every later call
    Fault fault = Fault::kFail;
    absl::Status status = absl::UnavailableError("injected fault");
    absl::Duration delay = absl::ZeroDuration();
  };

  // `inner` must outlive this store.
  explicit FaultInjectingStore(Store* inner) : inner_(inner) {}

  void Inject(Rule rule);
  void Clear();
  // Calls of `method` seen so far, and how many of them a rule changed.
  int Calls(const std::string& method) const;
  int Injected(const std::string& method) const;

  absl::StatusOr<v1::TaskFunction> PublishTaskFunction(const v1::PublishTaskFunctionRequest& r) override;
  absl::StatusOr<v1::TaskFunction> GetTaskFunction(const v1::GetFunctionRequest& r) override;
  absl::StatusOr<v1::ListFunctionsResponse> ListTaskFunctions(const v1::ListFunctionsRequest& r) override;
  absl::StatusOr<v1::SubmitTaskRunResponse> SubmitRun(const v1::SubmitTaskRunRequest& r) override;
  absl::StatusOr<v1::TaskRunRecord> GetTaskRun(const v1::GetTaskRunRequest& r) override;
  absl::StatusOr<v1::ListTaskRunsResponse> ListTaskRuns(const v1::ListTaskRunsRequest& r) override;
  absl::StatusOr<v1::TaskRunRecord> CancelRun(const v1::CancelTaskRunRequest& r) override;
  absl::StatusOr<v1::StackRunRecord> GetStackRun(const std::string& id) override;
  absl::StatusOr<v1::ListStackRunsResponse> ListStackRuns(const v1::ListStackRunsRequest& r) override;
  absl::StatusOr<v1::ClaimWorkResponse> ClaimWork(const v1::ClaimWorkRequest& r) override;
  absl::StatusOr<v1::Lease> RenewLease(const v1::RenewLeaseRequest& r) override;
  absl::Status ReleaseLease(const v1::ReleaseLeaseRequest& r) override;
  absl::StatusOr<v1::RenewLeasesResponse> RenewLeases(const v1::RenewLeasesRequest& r) override;
  absl::StatusOr<v1::RecordCallsResponse> RecordCalls(const v1::RecordCallsRequest& r) override;
  absl::StatusOr<v1::PutCheckpointResponse> PutCheckpoint(const v1::PutCheckpointRequest& r) override;
  absl::StatusOr<v1::Journal> GetJournal(const v1::GetJournalRequest& r) override;
  absl::StatusOr<v1::TaskRunRecord> CompleteRun(const v1::CompleteRunRequest& r) override;
  absl::StatusOr<v1::TaskRunRecord> FailRun(const v1::FailRunRequest& r) override;
  absl::StatusOr<int> AppendRunLogs(const v1::AppendRunLogsRequest& r) override;
  absl::Status PutContinuation(const v1::Continuation& c) override;
  absl::StatusOr<v1::Continuation> GetContinuation(const std::string& id) override;
  absl::StatusOr<v1::TaskLock> AcquireTaskLock(const v1::AcquireTaskLockRequest& r) override;
  absl::Status ReleaseTaskLock(const v1::ReleaseTaskLockRequest& r) override;
  absl::StatusOr<v1::CompleteCallResponse> CompleteCall(const v1::CompleteCallRequest& r) override;
  absl::StatusOr<v1::StackRunRecord> RetryCall(const v1::RetryCallRequest& r) override;
  absl::Status PutKeystoreEntry(const v1::KeystoreRow& row) override;
  absl::StatusOr<v1::KeystoreRow> GetKeystoreEntry(const std::string& ns, const std::string& key) override;
  absl::StatusOr<bool> DeleteKeystoreEntry(const std::string& ns, const std::string& key) override;
  absl::StatusOr<v1::ListKeystoreEntriesResponse> ListKeystoreEntries(
      const v1::ListKeystoreEntriesRequest& r) override;

 private:
  // What happens to this call of `method`.
  struct Decision {
    Fault fault;
    absl::Status status;
    absl::Duration delay;
    bool any = false;
  };
  Decision Next(const std::string& method);

  // Runs `call` (returning absl::Status or absl::StatusOr<T>) under the rules.
  template <typename R, typename F>
  R Intercept(const std::string& method, F&& call) {
    const Decision d = Next(method);
    if (!d.any) return call();
    switch (d.fault) {
      case Fault::kFail:
        return d.status;
      case Fault::kDelay:
        absl::SleepFor(d.delay);
        return call();
      case Fault::kDropAnswer:
        (void)call();
        return d.status;
    }
    return d.status;
  }

  Store* const inner_;
  mutable absl::Mutex mu_;
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> injected_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasker::storage::testing

#endif  // TASKER_STORAGE_TESTING_FAULT_INJECTING_STORE_H_
