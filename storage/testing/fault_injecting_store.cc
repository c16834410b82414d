#include "storage/testing/fault_injecting_store.h"

namespace tasker::storage::testing {

void FaultInjectingStore::Inject(Rule rule) {
  // A failed or dropped answer must carry an error.
  if (rule.fault != Fault::kDelay && rule.status.ok()) rule.status = absl::UnavailableError("injected fault");
  absl::MutexLock lock(&mu_);
  rules_.push_back(std::move(rule));
}

void FaultInjectingStore::Clear() {
  absl::MutexLock lock(&mu_);
  rules_.clear();
}

int FaultInjectingStore::Calls(const std::string& method) const {
  absl::MutexLock lock(&mu_);
  auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

int FaultInjectingStore::Injected(const std::string& method) const {
  absl::MutexLock lock(&mu_);
  auto it = injected_.find(method);
  return it == injected_.end() ? 0 : it->second;
}

FaultInjectingStore::Decision FaultInjectingStore::Next(const std::string& method) {
  absl::MutexLock lock(&mu_);
  const int n = ++calls_[method];
  for (const Rule& rule : rules_) {
    if (rule.method != method || n < rule.call) continue;
    if (rule.times > 0 && n >= rule.call + rule.times) continue;
    ++injected_[method];
    return {rule.fault, rule.status, rule.delay, true};
  }
  return {};
}

absl::StatusOr<v1::TaskFunction> FaultInjectingStore::PublishTaskFunction(const v1::PublishTaskFunctionRequest& r) {
  return Intercept<absl::StatusOr<v1::TaskFunction>>("PublishTaskFunction", [&] { return inner_->PublishTaskFunction(r); });
}

absl::StatusOr<v1::TaskFunction> FaultInjectingStore::GetTaskFunction(const v1::GetFunctionRequest& r) {
  return Intercept<absl::StatusOr<v1::TaskFunction>>("GetTaskFunction", [&] { return inner_->GetTaskFunction(r); });
}

absl::StatusOr<v1::ListFunctionsResponse> FaultInjectingStore::ListTaskFunctions(const v1::ListFunctionsRequest& r) {
  return Intercept<absl::StatusOr<v1::ListFunctionsResponse>>("ListTaskFunctions", [&] { return inner_->ListTaskFunctions(r); });
}

absl::StatusOr<v1::SubmitTaskRunResponse> FaultInjectingStore::SubmitRun(const v1::SubmitTaskRunRequest& r) {
  return Intercept<absl::StatusOr<v1::SubmitTaskRunResponse>>("SubmitRun", [&] { return inner_->SubmitRun(r); });
}

absl::StatusOr<v1::TaskRunRecord> FaultInjectingStore::GetTaskRun(const v1::GetTaskRunRequest& r) {
  return Intercept<absl::StatusOr<v1::TaskRunRecord>>("GetTaskRun", [&] { return inner_->GetTaskRun(r); });
}

absl::StatusOr<v1::ListTaskRunsResponse> FaultInjectingStore::ListTaskRuns(const v1::ListTaskRunsRequest& r) {
  return Intercept<absl::StatusOr<v1::ListTaskRunsResponse>>("ListTaskRuns", [&] { return inner_->ListTaskRuns(r); });
}

absl::StatusOr<v1::TaskRunRecord> FaultInjectingStore::CancelRun(const v1::CancelTaskRunRequest& r) {
  return Intercept<absl::StatusOr<v1::TaskRunRecord>>("CancelRun", [&] { return inner_->CancelRun(r); });
}

absl::StatusOr<v1::StackRunRecord> FaultInjectingStore::GetStackRun(const std::string& id) {
  return Intercept<absl::StatusOr<v1::StackRunRecord>>("GetStackRun", [&] { return inner_->GetStackRun(id); });
}

absl::StatusOr<v1::ListStackRunsResponse> FaultInjectingStore::ListStackRuns(const v1::ListStackRunsRequest& r) {
  return Intercept<absl::StatusOr<v1::ListStackRunsResponse>>("ListStackRuns", [&] { return inner_->ListStackRuns(r); });
}

absl::StatusOr<v1::ClaimWorkResponse> FaultInjectingStore::ClaimWork(const v1::ClaimWorkRequest& r) {
  return Intercept<absl::StatusOr<v1::ClaimWorkResponse>>("ClaimWork", [&] { return inner_->ClaimWork(r); });
}

absl::StatusOr<v1::Lease> FaultInjectingStore::RenewLease(const v1::RenewLeaseRequest& r) {
  return Intercept<absl::StatusOr<v1::Lease>>("RenewLease", [&] { return inner_->RenewLease(r); });
}

absl::Status FaultInjectingStore::ReleaseLease(const v1::ReleaseLeaseRequest& r) {
  return Intercept<absl::Status>("ReleaseLease", [&] { return inner_->ReleaseLease(r); });
}

absl::StatusOr<v1::RenewLeasesResponse> FaultInjectingStore::RenewLeases(const v1::RenewLeasesRequest& r) {
  return Intercept<absl::StatusOr<v1::RenewLeasesResponse>>("RenewLeases", [&] { return inner_->RenewLeases(r); });
}

absl::StatusOr<v1::RecordCallsResponse> FaultInjectingStore::RecordCalls(const v1::RecordCallsRequest& r) {
  return Intercept<absl::StatusOr<v1::RecordCallsResponse>>("RecordCalls", [&] { return inner_->RecordCalls(r); });
}

absl::StatusOr<v1::PutCheckpointResponse> FaultInjectingStore::PutCheckpoint(const v1::PutCheckpointRequest& r) {
  return Intercept<absl::StatusOr<v1::PutCheckpointResponse>>("PutCheckpoint", [&] { return inner_->PutCheckpoint(r); });
}

absl::StatusOr<v1::Journal> FaultInjectingStore::GetJournal(const v1::GetJournalRequest& r) {
  return Intercept<absl::StatusOr<v1::Journal>>("GetJournal", [&] { return inner_->GetJournal(r); });
}

absl::StatusOr<v1::TaskRunRecord> FaultInjectingStore::CompleteRun(const v1::CompleteRunRequest& r) {
  return Intercept<absl::StatusOr<v1::TaskRunRecord>>("CompleteRun", [&] { return inner_->CompleteRun(r); });
}

absl::StatusOr<v1::TaskRunRecord> FaultInjectingStore::FailRun(const v1::FailRunRequest& r) {
  return Intercept<absl::StatusOr<v1::TaskRunRecord>>("FailRun", [&] { return inner_->FailRun(r); });
}

absl::StatusOr<int> FaultInjectingStore::AppendRunLogs(const v1::AppendRunLogsRequest& r) {
  return Intercept<absl::StatusOr<int>>("AppendRunLogs", [&] { return inner_->AppendRunLogs(r); });
}

absl::Status FaultInjectingStore::PutContinuation(const v1::Continuation& c) {
  return Intercept<absl::Status>("PutContinuation", [&] { return inner_->PutContinuation(c); });
}

absl::StatusOr<v1::Continuation> FaultInjectingStore::GetContinuation(const std::string& id) {
  return Intercept<absl::StatusOr<v1::Continuation>>("GetContinuation", [&] { return inner_->GetContinuation(id); });
}

absl::StatusOr<v1::TaskLock> FaultInjectingStore::AcquireTaskLock(const v1::AcquireTaskLockRequest& r) {
  return Intercept<absl::StatusOr<v1::TaskLock>>("AcquireTaskLock", [&] { return inner_->AcquireTaskLock(r); });
}

absl::Status FaultInjectingStore::ReleaseTaskLock(const v1::ReleaseTaskLockRequest& r) {
  return Intercept<absl::Status>("ReleaseTaskLock", [&] { return inner_->ReleaseTaskLock(r); });
}

absl::StatusOr<v1::CompleteCallResponse> FaultInjectingStore::CompleteCall(const v1::CompleteCallRequest& r) {
  return Intercept<absl::StatusOr<v1::CompleteCallResponse>>("CompleteCall", [&] { return inner_->CompleteCall(r); });
}

absl::StatusOr<v1::StackRunRecord> FaultInjectingStore::RetryCall(const v1::RetryCallRequest& r) {
  return Intercept<absl::StatusOr<v1::StackRunRecord>>("RetryCall", [&] { return inner_->RetryCall(r); });
}

absl::Status FaultInjectingStore::PutKeystoreEntry(const v1::KeystoreRow& row) {
  return Intercept<absl::Status>("PutKeystoreEntry", [&] { return inner_->PutKeystoreEntry(row); });
}

absl::StatusOr<v1::KeystoreRow> FaultInjectingStore::GetKeystoreEntry(const std::string& ns, const std::string& key) {
  return Intercept<absl::StatusOr<v1::KeystoreRow>>("GetKeystoreEntry", [&] { return inner_->GetKeystoreEntry(ns, key); });
}

absl::StatusOr<bool> FaultInjectingStore::DeleteKeystoreEntry(const std::string& ns, const std::string& key) {
  return Intercept<absl::StatusOr<bool>>("DeleteKeystoreEntry", [&] { return inner_->DeleteKeystoreEntry(ns, key); });
}

absl::StatusOr<v1::ListKeystoreEntriesResponse> FaultInjectingStore::ListKeystoreEntries( const v1::ListKeystoreEntriesRequest& r) {
  return Intercept<absl::StatusOr<v1::ListKeystoreEntriesResponse>>("ListKeystoreEntries", [&] { return inner_->ListKeystoreEntries(r); });
}

}  // namespace tasker::storage::testing
