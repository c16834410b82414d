// task-executor: the public TaskService, and the V8 runtime that starts and
// resumes runs (in tasker-js-worker processes).
//
//   task-executor --storage=storage:50051 --processors=processor:50055 --listen=0.0.0.0:50052
#include <unistd.h>

#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"
#include "runtime/server/server_flags.h"
#include "services/executor/http_gateway.h"
#include "services/executor/task_service.h"
#include "storage/client/remote_store.h"

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

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto config = tasker::ServerConfigFromFlags("task-executor");
  if (!config.ok()) {
    tasker::LogError("bad flags", {{"error", config.status().ToString()}});
    return 2;
  }
  std::string worker = absl::GetFlag(FLAGS_js_worker);
  if (worker.empty()) {
    std::string self(argv[0]);
    const auto slash = self.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
    for (const std::string candidate : {dir + "/tasker-js-worker", dir + "/../../runtime/js/tasker-js-worker",
                                        dir + "/task-executor.runfiles/tasker/runtime/js/tasker-js-worker"}) {
      if (access(candidate.c_str(), X_OK) == 0) {
        worker = candidate;
        break;
      }
    }
  }
  auto pool = tasker::js::WorkerPool::Create({.worker_path = worker,
                                              .workers = absl::GetFlag(FLAGS_js_workers),
                                              .heap_limit_mb = absl::GetFlag(FLAGS_heap_limit_mb)});
  if (!pool.ok()) {
    tasker::LogError("cannot start JavaScript workers (set --js_worker)", {{"error", pool.status().ToString()}});
    return 2;
  }
  auto channel = tasker::MakeChannel({.target = absl::GetFlag(FLAGS_storage), .auth_token = config->auth_token});
  if (!channel.ok()) {
    tasker::LogError("bad --storage", {{"error", channel.status().ToString()}});
    return 2;
  }
  tasker::storage::RemoteStore store(*channel);
  tasker::services::Notifier notifier({}, absl::GetFlag(FLAGS_processors), config->auth_token);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  tasker::services::ExecutorConfig executor_config;
  executor_config.owner = absl::StrCat("executor/", host, "/", getpid());
  executor_config.threads = absl::GetFlag(FLAGS_threads);
  executor_config.lease = absl::GetFlag(FLAGS_lease);
  executor_config.sweep_interval = absl::GetFlag(FLAGS_sweep_interval);
  executor_config.limits.step_cpu = absl::GetFlag(FLAGS_step_cpu);
  tasker::services::Executor executor(&store, pool->get(), &notifier, executor_config);
  tasker::services::TaskApi api(&store, &executor);
  tasker::services::TaskService task_service(&api);
  tasker::services::ExecutorService executor_service(&executor);
  tasker::ServerRunner runner(*config);
  runner.AddService(&task_service);
  runner.AddService(&executor_service);
  executor.Start();
  tasker::services::HttpGateway http(&api, config->auth_token);
  if (!absl::GetFlag(FLAGS_http_listen).empty()) {
    if (auto started = http.Start(absl::GetFlag(FLAGS_http_listen)); !started.ok()) {
      tasker::LogError("http start failed", {{"error", started.ToString()}});
      return 1;
    }
    if (!absl::GetFlag(FLAGS_http_port_file).empty()) {
      std::ofstream(absl::GetFlag(FLAGS_http_port_file)) << http.port() << "\n";
    }
    tasker::LogInfo("http listening", {{"port", std::to_string(http.port())}});
  }
  absl::Status served = runner.Serve();
  http.Stop();
  executor.Stop();
  if (!served.ok()) {
    tasker::LogError("start failed", {{"error", served.ToString()}});
    return 1;
  }
  return 0;
}
