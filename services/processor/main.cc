// stack-processor: performs the host calls of suspended runs through the
// wrapped-service proxy.
//
//   stack-processor --storage=storage:50051 --proxy=proxy:50054 --executors=executor:50052
#include "absl/flags/flag.h"
#include "runtime/common/status.h"
#include "services/common/service_main.h"
#include "services/processor/processor_service.h"
#include "storage/remote/remote_store.h"

ABSL_FLAG(std::string, storage, "127.0.0.1:50051", "Storage service target.");
ABSL_FLAG(std::string, proxy, "127.0.0.1:50054", "Wrapped-service proxy target.");
ABSL_FLAG(std::vector<std::string>, executors, {}, "Task executor targets to push ready parents to.");
ABSL_FLAG(int, threads, 64, "Calls performed at once (each waits on its provider).");
ABSL_FLAG(int, max_attempts, 5, "Attempts of a call with retryable failures.");
ABSL_FLAG(absl::Duration, base_backoff, absl::Milliseconds(200), "First retry delay (doubles, with jitter).");
ABSL_FLAG(absl::Duration, call_timeout, absl::Seconds(30), "Per-call timeout.");
ABSL_FLAG(absl::Duration, lease, absl::Seconds(3),
          "Lease on every call held here, renewed every --renew_interval: another processor takes the calls of a "
          "dead or frozen one over after it.");
ABSL_FLAG(absl::Duration, renew_interval, absl::ZeroDuration(),
          "How often held calls' leases are renewed (0: a third of --lease).");
ABSL_FLAG(absl::Duration, sweep_interval, absl::Milliseconds(500),
          "How often un-notified ready calls and expired leases are looked for.");
ABSL_FLAG(int, max_queued, 100000, "Call ids queued here (notified, retries due); beyond, left to the sweeps.");
ABSL_FLAG(int, notify_max_queued, 10000, "Result pushes queued per executor; beyond, dropped (found by its checks).");
ABSL_FLAG(int, max_held, 10000, "Calls held at once (queued or being performed); dispatches beyond are refused.");

int main(int argc, char** argv) {
  namespace services = tasker::services;
  return services::ServiceMain(argc, argv, "stack-processor", [](services::ServiceContext& ctx) -> absl::Status {
    ASSIGN_OR_RETURN(auto storage, ctx.Channel(absl::GetFlag(FLAGS_storage), "--storage"));
    ASSIGN_OR_RETURN(auto proxy, ctx.Channel(absl::GetFlag(FLAGS_proxy), "--proxy"));
    // Readiness: claiming calls and recording results needs storage;
    // performing them needs the proxy.
    ctx.DependsOn("storage", storage, tasker::v1::Storage::service_full_name());
    ctx.DependsOn("proxy", proxy, tasker::v1::WrappedServiceProxy::service_full_name());
    services::ProcessorConfig config;
    config.owner = ctx.ReplicaId();
    config.threads = absl::GetFlag(FLAGS_threads);
    if (config.threads < 1 || config.threads > 4096) return absl::InvalidArgumentError("--threads: must be 1..4096");
    config.max_attempts = absl::GetFlag(FLAGS_max_attempts);
    config.base_backoff = absl::GetFlag(FLAGS_base_backoff);
    config.call_timeout = absl::GetFlag(FLAGS_call_timeout);
    config.lease = absl::GetFlag(FLAGS_lease);
    config.renew_interval = absl::GetFlag(FLAGS_renew_interval);
    if (config.renew_interval == absl::ZeroDuration()) config.renew_interval = config.lease / 3;
    config.sweep_interval = absl::GetFlag(FLAGS_sweep_interval);
    config.max_held = absl::GetFlag(FLAGS_max_held);
    config.max_queued = absl::GetFlag(FLAGS_max_queued);
    if (config.max_queued < 1) return absl::InvalidArgumentError("--max_queued: must be >= 1");
    if (config.renew_interval <= absl::ZeroDuration() || config.renew_interval * 2 > config.lease) {
      return absl::InvalidArgumentError("--renew_interval: must be positive and at most half of --lease");
    }
    if (config.max_held < 1) return absl::InvalidArgumentError("--max_held: must be >= 1");
    auto* store = ctx.Own(std::make_unique<tasker::storage::RemoteStore>(storage));
    auto* notifier = ctx.Own(
        std::make_unique<services::Notifier>(absl::GetFlag(FLAGS_executors), std::vector<std::string>{},
                                             ctx.client_config(),
                                             services::NotifierOptions{.max_queued = absl::GetFlag(FLAGS_notify_max_queued)}));
    auto* processor = ctx.Own(
        std::make_unique<services::Processor>(services::ProcessorStores::Of(store), proxy, notifier, config));
    using tasker::Role;
    const std::string name = tasker::v1::StackProcessor::service_full_name();
    ctx.AddService(ctx.Own(std::make_unique<services::ProcessorService>(processor)), name, {Role::kExecutor});
    ctx.RestrictMethod(name, "GetProcessorStats", {Role::kExecutor, Role::kAdmin});
    ctx.OnStart([processor] {
      processor->Start();
      return absl::OkStatus();
    });
    ctx.OnStop([processor] { processor->Stop(); });
    return absl::OkStatus();
  });
}
