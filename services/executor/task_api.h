// TaskApi: the public API's logic (TaskService is its thin gRPC face).
#ifndef TASKER_SERVICES_EXECUTOR_TASK_API_H_
#define TASKER_SERVICES_EXECUTOR_TASK_API_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tasker/v1/storage.pb.h"
#include "tasker/v1/task_service.pb.h"
#include "services/executor/executor.h"
#include "storage/store.h"

namespace tasker::services {

namespace v1 = ::tasker::v1;

struct TaskApiOptions {
  // The development default: a function whose metadata declares no
  // "permissions" is granted everything ("*"), with a warning. Off: it is
  // granted nothing (its host calls are refused until it declares them).
  bool default_permissions_all = false;
};

// The record -> public conversion: every run and stack run leaving TaskApi
// (TaskService, the HTTP API, the web UI) passes through here. The public
// messages (common.proto) are wire-compatible subsets of the records
// (records.proto), so what they leave out cannot leak: the lease protocol's
// fields (lease_owner: which executor or processor holds it,
// lease_expires_at, fencing_token), reply_to (an executor's host:port) and
// the caller's grants. Cleared besides: next_attempt_at (the scheduler's;
// kept only on a call waiting to be retried, where it says when). Redacted:
// what a task read from or wrote to the keystore (the result of a keystore
// get, the `value` arg of a set), as the string "[redacted]". Sets `name`.
v1::StackRun PublicView(const v1::StackRunRecord& record);
v1::TaskRun PublicView(const v1::TaskRunRecord& record);
// Sets the function's resource name, "tasks/{identifier}/versions/{version}".
v1::TaskFunction PublicView(v1::TaskFunction function);

// A run's id (or number) from its resource name "runs/{id}" or a bare id;
// INVALID_ARGUMENT naming `field` for another collection's name.
absl::StatusOr<std::string> RunIdFromName(const std::string& name, absl::string_view field = "name");

class TaskApi {
 public:
  TaskApi(storage::FunctionStore* functions, storage::RunStore* runs, Executor* executor,
          TaskApiOptions options = {})
      : functions_(functions), runs_(runs), executor_(executor), options_(options) {}

  // Checks the code compiles (INVALID_ARGUMENT "code: line L, column C: ...")
  // and the declared permissions parse (INVALID_ARGUMENT naming
  // "metadata_json.permissions[i]"), and fixes the version's grants.
  // `caller` is the publisher's identity (audit log); `warning`, when not
  // null, receives what the publisher should know (the dev default applied).
  absl::StatusOr<v1::TaskFunction> Publish(const v1::PublishTaskRequest& request, const std::string& caller,
                                           std::string* warning = nullptr);
  absl::StatusOr<v1::TaskFunction> GetTaskFunction(const v1::GetTaskFunctionRequest& request);
  absl::StatusOr<v1::ListTaskFunctionsResponse> ListTaskFunctions(const v1::ListTaskFunctionsRequest& request);
  // Stores the run and starts it on this executor. A repeated idempotency
  // key: the first run (created false) for the same request, else
  // ALREADY_EXISTS from storage.
  absl::StatusOr<v1::SubmitRunResponse> Submit(const v1::SubmitRunRequest& request);
  absl::StatusOr<v1::GetRunResponse> GetRun(const v1::GetRunRequest& request);
  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& request);
  // Runs are named by resource name ("runs/{id}"), id or number ("17")
  // everywhere.
  absl::StatusOr<v1::TaskRun> Cancel(const v1::CancelRunRequest& request, const std::string& caller);
  // Calls `emit` with the run at every status change until it ends or the
  // caller goes away (`emit` returns false, or `cancelled` returns true).
  absl::Status Watch(const v1::WatchRunRequest& request, const std::function<bool(const v1::RunEvent&)>& emit,
                     const std::function<bool()>& cancelled);

 private:
  // The id of a run named by resource name, id or number.
  absl::StatusOr<std::string> RunIdOf(const std::string& name);
  storage::FunctionStore* functions_;
  storage::RunStore* runs_;
  Executor* executor_;
  TaskApiOptions options_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_TASK_API_H_
