// The HTTP routes of the earlier JavaScript platform (its port-3000 dev
// server and its Supabase edge functions), with their field names, shapes,
// status codes and integer ids, served by the HTTP gateway beside the
// current routes. docs/http-api.md lists them.
//
//   GET  /health                       {"status":"ok","runtime","timestamp"}
//   POST /task/store-function          {task_identifier|identifier|name, code, metadata?}
//   POST /task/submit                  {task_identifier|name|taskName, input?, idempotencyKey?}
//                                      -> {"success":true,"taskRunId":7,"data":{"result":{"taskRunId":7}},"runId",...}
//   GET  /task/status/:id              the run (id = its number or string id) with its stack_runs and logs
//   POST /task/execute/:id             waits (?wait=seconds, default 30) for the run: its result, or the call it waits on
//   POST /task/execute                 {task_identifier, input}: submit, then as above
//   POST /task/process                 stack runs are processed continuously: says so, with the active runs
//   GET  /task/keystore/:key           a keystore value (?namespace=, default global); needs --keystore
//   POST /task/keystore                {key, value, namespace?}
//   POST /functions/v1/tasks/execute   {task_identifier, input} -> {"success":true,"data":{"result":{"taskRunId",...}}}
//   GET|POST /functions/v1/tasks/status[/:id], GET /functions/v1/tasks/logs?task_id=, GET /functions/v1/tasks/list
//   POST /functions/v1/wrapped<service>, POST /wrapped<service>
//                                      {chain:[{property,args}]} or {method,args}: one host call, performed
//                                      durably as a run (admin role)
//   GET  /rest/v1/task_runs, /rest/v1/stack_runs
//                                      read-only PostgREST subset: select=, <col>=eq.|neq.|gt.|gte.|lt.|lte.|in.(..)|is.null,
//                                      order=<col>.asc|desc, limit=, offset=
//
// Errors on these routes: {"success":false,"error":"<message>","code":"NOT_FOUND"}.
#ifndef TASKER_SERVICES_EXECUTOR_HTTP_COMPAT_H_
#define TASKER_SERVICES_EXECUTOR_HTTP_COMPAT_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "grpcpp/grpcpp.h"
#include "runtime/server/auth.h"
#include "services/executor/task_api.h"

namespace httplib {
class Server;
struct Request;
}  // namespace httplib

namespace tasker::services {

// The function a direct service call (the wrapped<service> routes) runs as.
inline constexpr char kDirectCallTask[] = "tasker-direct-call";

class CompatRoutes {
 public:
  // `keystore`: a channel to the keystore without a token of its own (the
  // HTTP caller's is passed on); null: the keystore routes answer 503.
  CompatRoutes(TaskApi* api, std::shared_ptr<const Authenticator> authenticator,
               std::shared_ptr<grpc::Channel> keystore);

  void Register(httplib::Server& server);

 private:
  std::string CallerOf(const httplib::Request& req) const;
  // Waits up to `wait` for the run to end; returns its current view.
  absl::StatusOr<v1::GetRunResponse> AwaitRun(const std::string& id, absl::Duration wait);
  // Publishes the direct-call function once per executor process.
  absl::Status EnsureDirectCallTask();

  TaskApi* api_;
  std::shared_ptr<const Authenticator> authenticator_;
  std::shared_ptr<grpc::Channel> keystore_;
  std::mutex direct_mu_;
  bool direct_published_ = false;
};

// A run as the earlier platform's /task/status/:id showed it (and more: its
// stack runs as a tree, logs, versions), as JSON text; payloads verbatim.
std::string OldRunView(const v1::GetRunResponse& run, bool with_details);
// GET / for clients that do not ask for HTML: the routes, as the old dev
// server listed them there.
std::string RouteList();
// "pending", "processing", "suspended_waiting_child", "completed", "failed", "cancelled".
std::string OldRunStatus(v1::RunStatus status);

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_HTTP_COMPAT_H_
