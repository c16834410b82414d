// task-executor: the public TaskService, and the V8 runtime that starts and
// resumes runs (in tasker-js-worker processes).
//
//   task-executor --storage=storage:50051 --processors=processor:50055 --listen=0.0.0.0:50052
#include <unistd.h>

#include <fstream>

#include "absl/flags/flag.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"
#include "services/common/service_main.h"
#include "services/executor/http_gateway.h"
#include "services/executor/task_service.h"
#include "storage/remote/remote_store.h"

ABSL_FLAG(std::string, storage, "127.0.0.1:50051", "Storage service target.");
ABSL_FLAG(std::string, http_listen, "", "Also serve the HTTP/JSON API here (host:port; empty: off).");
ABSL_FLAG(std::string, http_port_file, "", "Where to write the HTTP port once listening.");
ABSL_FLAG(std::vector<std::string>, processors, {}, "Stack processor targets to push new calls to.");
ABSL_FLAG(std::string, js_worker, "", "Path of tasker-js-worker (default: next to this binary).");
ABSL_FLAG(int, js_workers, 2, "JavaScript worker processes.");
ABSL_FLAG(int, threads, 2, "Steps run at once.");
ABSL_FLAG(int, heap_limit_mb, 256, "V8 heap limit per run step, MiB.");
ABSL_FLAG(absl::Duration, step_cpu, absl::Seconds(10), "CPU time one step may use.");
ABSL_FLAG(absl::Duration, lease, absl::Seconds(60), "Lease on a claimed run step.");
ABSL_FLAG(absl::Duration, sweep_interval, absl::Seconds(5), "How often un-notified ready work is looked for.");

namespace {

// --js_worker, else tasker-js-worker next to this binary or in its runfiles.
std::string FindJsWorker(const char* argv0) {
  if (!absl::GetFlag(FLAGS_js_worker).empty()) return absl::GetFlag(FLAGS_js_worker);
  const std::string self(argv0);
  const auto slash = self.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
  for (const std::string candidate : {dir + "/tasker-js-worker", dir + "/../../runtime/js/tasker-js-worker",
                                      dir + "/task-executor.runfiles/tasker/runtime/js/tasker-js-worker"}) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  namespace services = tasker::services;
  const char* argv0 = argv[0];
  return services::ServiceMain(argc, argv, "task-executor", [argv0](services::ServiceContext& ctx) -> absl::Status {
    auto pool = tasker::js::WorkerPool::Create({.worker_path = FindJsWorker(argv0),
                                                .workers = absl::GetFlag(FLAGS_js_workers),
                                                .heap_limit_mb = absl::GetFlag(FLAGS_heap_limit_mb)});
    if (!pool.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot start JavaScript workers (set --js_worker): ", pool.status().message()));
    }
    ASSIGN_OR_RETURN(auto storage, ctx.Channel(absl::GetFlag(FLAGS_storage), "--storage"));
    auto* js_pool = ctx.Own(std::move(*pool));
    auto* store = ctx.Own(std::make_unique<tasker::storage::RemoteStore>(storage));
    auto* notifier = ctx.Own(std::make_unique<services::Notifier>(
        std::vector<std::string>{}, absl::GetFlag(FLAGS_processors), ctx.config().auth_token));
    services::ExecutorConfig config;
    config.owner = ctx.ReplicaId();
    config.threads = absl::GetFlag(FLAGS_threads);
    config.lease = absl::GetFlag(FLAGS_lease);
    config.sweep_interval = absl::GetFlag(FLAGS_sweep_interval);
    config.limits.step_cpu = absl::GetFlag(FLAGS_step_cpu);
    auto* executor = ctx.Own(
        std::make_unique<services::Executor>(services::ExecutorStores::Of(store), js_pool, notifier, config));
    auto* api = ctx.Own(std::make_unique<services::TaskApi>(store, store, executor));
    ctx.AddService(ctx.Own(std::make_unique<services::TaskService>(api)));
    ctx.AddService(ctx.Own(std::make_unique<services::ExecutorService>(executor)));
    ctx.OnStart([executor] {
      executor->Start();
      return absl::OkStatus();
    });
    ctx.OnStop([executor] { executor->Stop(); });
    if (const std::string http_listen = absl::GetFlag(FLAGS_http_listen); !http_listen.empty()) {
      auto* http = ctx.Own(std::make_unique<services::HttpGateway>(api, ctx.config().auth_token));
      ctx.OnStart([http, http_listen]() -> absl::Status {
        RETURN_IF_ERROR(tasker::Annotate(http->Start(http_listen), "--http_listen"));
        if (!absl::GetFlag(FLAGS_http_port_file).empty()) {
          std::ofstream(absl::GetFlag(FLAGS_http_port_file)) << http->port() << "\n";
        }
        tasker::LogInfo("http listening", {{"port", std::to_string(http->port())}});
        return absl::OkStatus();
      });
      ctx.OnStop([http] { http->Stop(); });
    }
    return absl::OkStatus();
  });
}
