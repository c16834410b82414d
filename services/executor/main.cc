// task-executor: the public TaskService, and the V8 runtime that starts and
// resumes runs (in tasker-js-worker processes).
//
//   task-executor --storage=storage:50051 --processors=processor:50055 --listen=0.0.0.0:50052
#include <unistd.h>

#include <atomic>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"
#include "services/common/service_main.h"
#include "services/executor/http_gateway.h"
#include "services/executor/task_service.h"
#include "storage/remote/remote_store.h"

ABSL_FLAG(std::string, storage, "127.0.0.1:50051", "Storage service target.");
ABSL_FLAG(std::string, http_listen, "", "Also serve the HTTP/JSON API here (host:port; empty: off).");
ABSL_FLAG(std::string, keystore, "",
          "Keystore target for the HTTP API's /task/keystore routes (empty: they answer 503). The HTTP caller's "
          "token is passed on: the keystore decides (admin).");
ABSL_FLAG(std::string, http_port_file, "", "Where to write the HTTP port once listening.");
ABSL_FLAG(std::string, http_tls_cert, "",
          "PEM certificate chain for the HTTP API: set (with --http_tls_key), it serves HTTPS only.");
ABSL_FLAG(std::string, http_tls_key, "", "PEM private key of --http_tls_cert.");
ABSL_FLAG(std::string, http_tls_client_ca, "",
          "PEM CA certificates: set, HTTP API clients must present a certificate one of them signed.");
ABSL_FLAG(std::vector<std::string>, processors, {}, "Stack processor targets to push new calls to.");
ABSL_FLAG(std::string, js_worker, "", "Path of tasker-js-worker (default: next to this binary).");
ABSL_FLAG(int, js_workers, 2, "JavaScript worker processes holding live runs (plus one checkpointer).");
ABSL_FLAG(int, threads, 64, "Threads claiming, starting and restoring runs (each waits on storage and a worker).");
ABSL_FLAG(int, delivery_threads, 64,
          "Threads delivering results into warm runs (each waits for its step's commit: they bound the steps in "
          "flight).");
ABSL_FLAG(int, heap_limit_mb, 256, "V8 heap limit per run, MiB.");
ABSL_FLAG(absl::Duration, step_cpu, absl::Seconds(10), "CPU time one step may use.");
ABSL_FLAG(absl::Duration, lease, absl::Seconds(3),
          "Lease on a warm run, renewed every --renew_interval while this executor lives; a dead "
          "executor's runs are taken over within --lease + --sweep_interval.");
ABSL_FLAG(absl::Duration, renew_interval, absl::ZeroDuration(),
          "How often the leases of warm runs are renewed (default: a third of --lease).");
ABSL_FLAG(absl::Duration, sweep_interval, absl::Milliseconds(500),
          "How often un-notified ready work and expired leases are looked for.");
ABSL_FLAG(absl::Duration, dispatch_lease, absl::Seconds(3),
          "Lease a recorded call carries to its processor (a lost dispatch is claimed by another after it).");
ABSL_FLAG(int, max_queued, 100000, "Runs queued to claim (notified); beyond, left to the sweeps.");
ABSL_FLAG(int, code_cache_entries, 1000, "Task versions whose code is cached.");
ABSL_FLAG(int, notify_max_queued, 10000, "Calls queued per processor for dispatch; beyond, left to their lease.");
ABSL_FLAG(int64_t, warm_memory_mb, 1024, "Isolate heap of warm runs beyond which the least recent are evicted, MiB.");
ABSL_FLAG(absl::Duration, warm_idle, absl::Minutes(10), "A warm run without a step for this long is evicted.");
ABSL_FLAG(int, checkpoint_every_steps, 100, "Write a checkpoint every this many steps (0: never).");
ABSL_FLAG(absl::Duration, checkpoint_interval, absl::Minutes(5),
          "Write a checkpoint this long after the last one when the run moved on (0: never).");
ABSL_FLAG(int, worker_crash_retries, 2,
          "Times a run whose JavaScript worker crashed is retried on a fresh worker before it fails with "
          "RUNTIME_CRASH.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(20), "On SIGTERM, time spent checkpointing warm runs.");
ABSL_FLAG(std::string, default_permissions, "none",
          "What a function that declares no permissions (metadata.permissions) may reach: none, or all (the "
          "development default, with a warning on publish). Fixed per version at publish.");
ABSL_FLAG(std::string, advertise_address, "",
          "host:port processors push results to (default 127.0.0.1:<bound port>; in Kubernetes "
          "$(POD_IP):<port>).");

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
    if (absl::GetFlag(FLAGS_js_workers) < 1) return absl::InvalidArgumentError("--js_workers: must be >= 1");
    // The executor is created after the workers; a worker lost before then
    // holds no runs.
    auto* lost_to = ctx.Own(std::make_unique<std::atomic<services::Executor*>>(nullptr));
    auto pool = tasker::js::WorkerHost::Create(
        {.worker_path = FindJsWorker(argv0),
         .workers = absl::GetFlag(FLAGS_js_workers) + 1,
         .heap_limit_mb = absl::GetFlag(FLAGS_heap_limit_mb)},
        [lost_to](int worker, const std::string& reason) {
          tasker::LogWarning("javascript worker lost", {{"worker", std::to_string(worker)}, {"reason", reason}});
          if (services::Executor* executor = lost_to->load()) executor->WorkerLost(worker);
        });
    if (!pool.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot start JavaScript workers (set --js_worker): ", pool.status().message()));
    }
    ASSIGN_OR_RETURN(auto storage, ctx.Channel(absl::GetFlag(FLAGS_storage), "--storage"));
    // Readiness: runs need storage (every step commits there) and a live
    // JavaScript worker. Processors are not a dependency: a call recorded
    // while none is reachable waits in storage and is claimed by the first
    // that comes (their sweeps), so runs still move when one comes back.
    ctx.DependsOn("storage", storage, tasker::v1::Storage::service_full_name());
    auto* js_pool = ctx.Own(std::move(*pool));
    ctx.DependsOn("javascript-workers", [js_pool]() -> absl::Status {
      for (pid_t pid : js_pool->pids()) {
        if (pid > 0) return absl::OkStatus();
      }
      return absl::UnavailableError("no JavaScript worker process is running");
    });
    auto* store = ctx.Own(std::make_unique<tasker::storage::RemoteStore>(storage));
    auto* notifier = ctx.Own(std::make_unique<services::Notifier>(
        std::vector<std::string>{}, absl::GetFlag(FLAGS_processors), ctx.client_config(),
        services::NotifierOptions{.max_queued = absl::GetFlag(FLAGS_notify_max_queued)}));
    services::ExecutorConfig config;
    config.owner = ctx.ReplicaId();
    config.threads = absl::GetFlag(FLAGS_threads);
    config.delivery_threads = absl::GetFlag(FLAGS_delivery_threads);
    if (config.threads < 1 || config.threads > 1024) return absl::InvalidArgumentError("--threads: must be 1..1024");
    if (config.delivery_threads < 1 || config.delivery_threads > 4096) {
      return absl::InvalidArgumentError("--delivery_threads: must be 1..4096");
    }
    config.lease = absl::GetFlag(FLAGS_lease);
    config.renew_interval = absl::GetFlag(FLAGS_renew_interval);
    if (config.renew_interval == absl::ZeroDuration()) config.renew_interval = config.lease / 3;
    config.sweep_interval = absl::GetFlag(FLAGS_sweep_interval);
    config.dispatch_lease = absl::GetFlag(FLAGS_dispatch_lease);
    config.limits.step_cpu = absl::GetFlag(FLAGS_step_cpu);
    config.warm_memory_bytes = absl::GetFlag(FLAGS_warm_memory_mb) << 20;
    config.warm_idle = absl::GetFlag(FLAGS_warm_idle);
    config.worker_crash_retries = absl::GetFlag(FLAGS_worker_crash_retries);
    if (config.worker_crash_retries < 0) return absl::InvalidArgumentError("--worker_crash_retries: must be >= 0");
    config.checkpoint_every_steps = absl::GetFlag(FLAGS_checkpoint_every_steps);
    config.checkpoint_interval = absl::GetFlag(FLAGS_checkpoint_interval);
    config.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
    config.max_queued = absl::GetFlag(FLAGS_max_queued);
    config.code_cache_entries = absl::GetFlag(FLAGS_code_cache_entries);
    if (config.max_queued < 1 || config.code_cache_entries < 1 || absl::GetFlag(FLAGS_notify_max_queued) < 1) {
      return absl::InvalidArgumentError("--max_queued, --code_cache_entries, --notify_max_queued: must be >= 1");
    }
    if (config.lease < absl::Milliseconds(500) || config.renew_interval * 2 > config.lease) {
      return absl::InvalidArgumentError("--lease: must be at least 500ms and at least twice --renew_interval");
    }
    if (config.warm_memory_bytes <= 0) return absl::InvalidArgumentError("--warm_memory_mb: must be > 0");
    auto* executor = ctx.Own(
        std::make_unique<services::Executor>(services::ExecutorStores::Of(store), js_pool, notifier, config));
    lost_to->store(executor);
    const std::string default_permissions = absl::GetFlag(FLAGS_default_permissions);
    if (default_permissions != "none" && default_permissions != "all") {
      return absl::InvalidArgumentError("--default_permissions: must be none or all");
    }
    auto* api = ctx.Own(std::make_unique<services::TaskApi>(
        store, store, executor, services::TaskApiOptions{.default_permissions_all = default_permissions == "all"}));
    using tasker::Role;
    // The public API: clients and operators, on --public_listen when set.
    ctx.AddService(ctx.Own(std::make_unique<services::TaskService>(api)), tasker::v1::TaskService::service_full_name(),
                   {Role::kClient, Role::kAdmin}, /*is_public=*/true);
    // Internal: processors push results and ready parents here.
    const std::string executor_service = tasker::v1::Executor::service_full_name();
    ctx.AddService(ctx.Own(std::make_unique<services::ExecutorService>(executor)), executor_service,
                   {Role::kProcessor});
    ctx.RestrictMethod(executor_service, "GetExecutorStats", {Role::kProcessor, Role::kAdmin});
    ctx.OnStart([executor, &ctx] {
      std::string advertise = absl::GetFlag(FLAGS_advertise_address);
      if (advertise.empty()) advertise = absl::StrCat("127.0.0.1:", ctx.port());
      executor->set_reply_to(advertise);
      executor->Start();
      return absl::OkStatus();
    });
    ctx.OnStop([executor] { executor->Stop(); });
    const services::HttpTlsOptions http_tls{.cert_file = absl::GetFlag(FLAGS_http_tls_cert),
                                            .key_file = absl::GetFlag(FLAGS_http_tls_key),
                                            .client_ca_file = absl::GetFlag(FLAGS_http_tls_client_ca)};
    const std::string http_listen = absl::GetFlag(FLAGS_http_listen);
    if (http_listen.empty() &&
        !(http_tls.cert_file.empty() && http_tls.key_file.empty() && http_tls.client_ca_file.empty())) {
      return absl::InvalidArgumentError("--http_tls_cert, --http_tls_key, --http_tls_client_ca: need --http_listen");
    }
    if (!http_listen.empty()) {
      std::shared_ptr<grpc::Channel> keystore;
      if (!absl::GetFlag(FLAGS_keystore).empty()) {
        // No token of the executor's own: the HTTP caller's goes with each call.
        tasker::ClientConfig config = ctx.client_config();
        config.target = absl::GetFlag(FLAGS_keystore);
        config.auth_token.clear();
        auto channel = tasker::MakeChannel(config);
        if (!channel.ok()) return tasker::Annotate(channel.status(), "--keystore");
        keystore = *std::move(channel);
      }
      auto* http = ctx.Own(std::make_unique<services::HttpGateway>(api, ctx.config().authenticator, keystore));
      ctx.OnStart([http, http_listen, http_tls]() -> absl::Status {
        // Errors name the option without its dashes: "--" makes them the flag's name.
        absl::Status started = http->Start(http_listen, http_tls);
        if (!started.ok() && absl::StartsWith(started.message(), "http_tls")) {
          return absl::Status(started.code(), absl::StrCat("--", started.message()));
        }
        RETURN_IF_ERROR(tasker::Annotate(started, "--http_listen"));
        if (!absl::GetFlag(FLAGS_http_port_file).empty()) {
          std::ofstream(absl::GetFlag(FLAGS_http_port_file)) << http->port() << "\n";
        }
        tasker::LogInfo("http listening",
                        {{"port", std::to_string(http->port())}, {"tls", http_tls.cert_file.empty() ? "off" : "on"}});
        return absl::OkStatus();
      });
      ctx.OnStop([http] { http->Stop(); });
    }
    return absl::OkStatus();
  });
}
