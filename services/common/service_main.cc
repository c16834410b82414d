#include "services/common/service_main.h"

#include <unistd.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"
#include "runtime/server/server_flags.h"
#include "services/common/observability.h"

ABSL_FLAG(absl::Duration, dependency_check_interval, absl::Seconds(1),
          "How often the health of the services this one depends on is checked (health is NOT_SERVING while "
          "one is down).");

namespace tasker::services {

ServiceContext::ServiceContext(ServerConfig config, ClientConfig client)
    : config_(std::move(config)), client_(std::move(client)) {}

ServiceContext::~ServiceContext() {
  while (!owned_.empty()) owned_.pop_back();
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> ServiceContext::Channel(const std::string& target,
                                                                       absl::string_view flag) const {
  if (client_.auth_token.empty() && !config_.authenticator->insecure_dev()) {
    return absl::FailedPreconditionError(absl::StrCat(
        flag, ": this service has no token to call it with (set --token_file or TASKER_TOKEN)"));
  }
  ClientConfig client = client_;
  client.target = target;
  auto channel = MakeChannel(client);
  if (!channel.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", channel.status().message()));
  }
  return channel;
}

std::string ServiceContext::ReplicaId() const {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(config_.component, "/", host, "/", getpid());
}

namespace {

int ExitCodeFor(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kFailedPrecondition
             ? 2
             : 1;
}

}  // namespace

int ServiceMain(int argc, char** argv, const std::string& component,
                const std::function<absl::Status(ServiceContext&)>& setup) {
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil checks every absl::Mutex acquisition (gRPC's too) for
  // lock-order cycles, a debugging aid that costs measurable CPU per call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto config = ServerConfigFromFlags(component);
  if (!config.ok()) {
    LogError("bad flags", {{"error", config.status().ToString()}});
    return 2;
  }
  auto client = ClientConfigFromFlags();
  if (!client.ok()) {
    LogError("bad flags", {{"error", client.status().ToString()}});
    return 2;
  }
  // Before setup, which may wait for other services: metrics are served
  // meanwhile, and a port file written after the gRPC one would race tests.
  if (absl::Status observability = StartObservability(); !observability.ok()) {
    LogError("cannot start", {{"error", observability.ToString()}});
    return ExitCodeFor(observability);
  }
  ServiceContext context(*config, *client);
  if (absl::Status status = setup(context); !status.ok()) {
    LogError("cannot start", {{"error", status.ToString()}});
    return ExitCodeFor(status);
  }
  if (context.finished_exit_code_.has_value()) return *context.finished_exit_code_;
  ServerRunner runner(context.config_);
  for (const auto& s : context.services_) runner.AddService(s.service, s.name, s.roles, s.is_public);
  for (const auto& r : context.method_rules_) runner.RestrictMethod(r.service, r.method, r.roles);
  int code = 0;
  if (absl::Status started = runner.Start(); !started.ok()) {
    LogError("start failed", {{"error", started.ToString()}});
    code = 1;
  } else {
    context.port_ = runner.port();
    for (auto& hook : context.on_start_) {
      if (absl::Status status = hook(); !status.ok()) {
        LogError("start failed", {{"error", status.ToString()}});
        code = 1;
        break;
      }
    }
    // Health follows the dependencies (storage down: NOT_SERVING).
    DependencyHealth health(
        context.dependencies_,
        [&runner](bool serving, const std::vector<std::string>& down) {
          runner.SetServing(serving);
          if (serving) {
            LogInfo("dependencies reachable; serving");
          } else {
            LogWarning("dependencies unreachable; not serving", {{"down", absl::StrJoin(down, ",")}});
          }
        },
        absl::GetFlag(FLAGS_dependency_check_interval));
    if (code == 0) {
      health.Start();
      runner.WaitForShutdownSignal();
    }
    health.Stop();
    runner.Shutdown();
  }
  for (auto it = context.on_stop_.rbegin(); it != context.on_stop_.rend(); ++it) (*it)();
  return code;
}

}  // namespace tasker::services
