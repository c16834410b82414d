// stack-processor: performs the host calls of suspended runs through the
// wrapped-service proxy.
//
//   stack-processor --storage=storage:50051 --proxy=proxy:50054 --executors=executor:50052
#include <unistd.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"
#include "runtime/server/server_flags.h"
#include "services/processor/processor_service.h"
#include "storage/client/remote_store.h"

ABSL_FLAG(std::string, storage, "127.0.0.1:50051", "Storage service target.");
ABSL_FLAG(std::string, proxy, "127.0.0.1:50054", "Wrapped-service proxy target.");
ABSL_FLAG(std::vector<std::string>, executors, {}, "Task executor targets to push ready parents to.");
ABSL_FLAG(int, threads, 4, "Calls performed at once.");
ABSL_FLAG(int, max_attempts, 5, "Attempts of a call with retryable failures.");
ABSL_FLAG(absl::Duration, base_backoff, absl::Milliseconds(200), "First retry delay (doubles, with jitter).");
ABSL_FLAG(absl::Duration, call_timeout, absl::Seconds(30), "Per-call timeout.");
ABSL_FLAG(absl::Duration, lease, absl::Seconds(60), "Lease on a claimed call.");
ABSL_FLAG(absl::Duration, sweep_interval, absl::Seconds(5), "How often un-notified ready calls are looked for.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto config = tasker::ServerConfigFromFlags("stack-processor");
  if (!config.ok()) {
    tasker::LogError("bad flags", {{"error", config.status().ToString()}});
    return 2;
  }
  auto storage = tasker::MakeChannel({.target = absl::GetFlag(FLAGS_storage), .auth_token = config->auth_token});
  auto proxy = tasker::MakeChannel({.target = absl::GetFlag(FLAGS_proxy), .auth_token = config->auth_token});
  if (!storage.ok() || !proxy.ok()) {
    tasker::LogError("bad --storage or --proxy target");
    return 2;
  }
  tasker::storage::RemoteStore store(*storage);
  tasker::services::Notifier notifier(absl::GetFlag(FLAGS_executors), {}, config->auth_token);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  tasker::services::ProcessorConfig processor_config;
  processor_config.owner = absl::StrCat("processor/", host, "/", getpid());
  processor_config.threads = absl::GetFlag(FLAGS_threads);
  processor_config.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  processor_config.base_backoff = absl::GetFlag(FLAGS_base_backoff);
  processor_config.call_timeout = absl::GetFlag(FLAGS_call_timeout);
  processor_config.lease = absl::GetFlag(FLAGS_lease);
  processor_config.sweep_interval = absl::GetFlag(FLAGS_sweep_interval);
  tasker::services::Processor processor(&store, *proxy, &notifier, processor_config);
  tasker::services::ProcessorService service(&processor);
  tasker::ServerRunner runner(*config);
  runner.AddService(&service);
  processor.Start();
  absl::Status served = runner.Serve();
  processor.Stop();
  if (!served.ok()) {
    tasker::LogError("start failed", {{"error", served.ToString()}});
    return 1;
  }
  return 0;
}
