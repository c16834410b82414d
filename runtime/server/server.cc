#include "runtime/server/server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "runtime/common/log.h"
#include "runtime/server/auth.h"
#include "runtime/server/observability.h"
#include "runtime/server/reflection_v1.h"

namespace tasker {
namespace {

int g_signal_pipe[2] = {-1, -1};
std::atomic<bool> g_shutdown_requested{false};

void OnSignal(int) {
  g_shutdown_requested.store(true);
  if (g_signal_pipe[1] >= 0) {
    char byte = 1;
    // Async-signal-safe; a full pipe already means "wake up".
    ssize_t ignored = write(g_signal_pipe[1], &byte, 1);
    (void)ignored;
  }
}

absl::Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return absl::UnavailableError("cannot write port_file " + tmp);
    out << port << "\n";
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError("cannot rename port_file to " + path);
  }
  return absl::OkStatus();
}

}  // namespace

void InstallShutdownSignalHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (pipe(g_signal_pipe) == 0) {
      fcntl(g_signal_pipe[0], F_SETFD, FD_CLOEXEC);
      fcntl(g_signal_pipe[1], F_SETFD, FD_CLOEXEC);
      fcntl(g_signal_pipe[1], F_SETFL, O_NONBLOCK);
    }
    struct sigaction action {};
    action.sa_handler = OnSignal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);
  });
}

bool ShutdownRequested() { return g_shutdown_requested.load(); }

ServerRunner::ServerRunner(ServerConfig config) : config_(std::move(config)) {}

ServerRunner::~ServerRunner() { Shutdown(); }

void ServerRunner::AddService(grpc::Service* service, const std::string& name, Roles roles, bool is_public) {
  services_.push_back({service, name, roles, is_public});
}

void ServerRunner::RestrictMethod(const std::string& service, const std::string& method, Roles roles) {
  method_rules_.push_back({service, method, roles});
}

std::vector<grpc::Server*> ServerRunner::AllServers() const {
  std::vector<grpc::Server*> out;
  for (const auto* server : {&server_, &public_server_, &health_server_}) {
    if (*server) out.push_back(server->get());
  }
  return out;
}

std::string ServerRunner::local_target() const {
  return absl::StrCat("127.0.0.1:", port_);
}

absl::Status ServerRunner::Start() {
  if (server_) return absl::FailedPreconditionError("server already started");
  for (const std::string* address : {&config_.listen_address, &config_.public_listen_address,
                                     &config_.health_listen_address}) {
    if (address == &config_.listen_address || !address->empty()) {
      if (address->empty() || !absl::StrContains(*address, ':')) {
        return absl::InvalidArgumentError("listen address must be host:port, got '" + *address + "'");
      }
    }
  }
  if (!config_.authenticator) {
    return absl::InvalidArgumentError(
        "no credentials: set --credentials_file (README, \"Security\"), or --insecure_dev for local development");
  }
  SetLogComponent(config_.component);
  InstallShutdownSignalHandlers();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  const bool split = !config_.public_listen_address.empty();
  auto build = [&](const std::string& address, bool public_port, int* port) -> std::unique_ptr<grpc::Server> {
    auto policy = std::make_shared<AccessPolicy>();
    grpc::ServerBuilder builder;
    std::vector<std::string> names;
    for (const ServedService& r : services_) {
      if (split && r.is_public != public_port) continue;
      policy->AllowService(r.name, r.roles);
      builder.RegisterService(r.service);
      names.push_back(r.name);
    }
    // Reflection v1 beside gRPC's v1alpha (the plugin above), listing what
    // this port serves as v1alpha does.
    names.insert(names.end(), {kHealthService, kReflectionV1AlphaService, kReflectionV1Service});
    reflection_v1_.push_back(std::make_unique<ReflectionV1Service>(std::move(names)));
    builder.RegisterService(reflection_v1_.back().get());
    for (const MethodRule& rule : method_rules_) policy->AllowMethod(rule.service, rule.method, rule.roles);
    builder.AddListeningPort(address, SecureServerCredentials(config_.authenticator, policy, config_.tls), port);
    // Without this, gRPC binds with SO_REUSEPORT and a second server on the
    // same port would silently share it.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(config_.max_message_bytes);
    builder.SetMaxSendMessageSize(config_.max_message_bytes);
    // Requests by method and code (tasker_grpc_server_requests_total), when
    // this process serves metrics.
    if (auto interceptors = ServerMetricsInterceptors(); !interceptors.empty()) {
      builder.experimental().SetInterceptorCreators(std::move(interceptors));
    }
    auto server = builder.BuildAndStart();
    if (!server || *port == 0) return nullptr;
    return server;
  };
  server_ = build(config_.listen_address, false, &port_);
  if (!server_) return absl::UnavailableError("cannot listen on " + config_.listen_address);
  if (split) {
    public_server_ = build(config_.public_listen_address, true, &public_port_);
    if (!public_server_) {
      Shutdown();
      return absl::UnavailableError("cannot listen on --public_listen " + config_.public_listen_address);
    }
  }
  if (!config_.health_listen_address.empty()) {
    // Plaintext, health only: every other method is refused by the policy.
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config_.health_listen_address,
                             SecureServerCredentials(config_.authenticator, std::make_shared<AccessPolicy>(), {}),
                             &health_port_);
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    health_server_ = builder.BuildAndStart();
    if (!health_server_ || health_port_ == 0) {
      health_server_.reset();
      Shutdown();
      return absl::UnavailableError("cannot listen on --health_listen " + config_.health_listen_address);
    }
  }
  for (grpc::Server* server : AllServers()) {
    // "" and the full name of every service of this binary, on every port
    // (a probe may ask any of them for any service).
    for (const std::string& name : HealthNames()) server->GetHealthCheckService()->SetServingStatus(name, true);
    // "liveness" stays SERVING until shutdown whatever the dependencies do
    // (SetServing changes only ""): for liveness probes, which must not
    // restart a process because storage is down.
    server->GetHealthCheckService()->SetServingStatus(kLivenessService, true);
  }
  if (!config_.port_file.empty()) {
    absl::Status written = WritePortFile(config_.port_file, port_);
    if (!written.ok()) return written;
  }
  if (!config_.public_port_file.empty()) {
    absl::Status written = WritePortFile(config_.public_port_file, public_port());
    if (!written.ok()) return written;
  }
  if (config_.authenticator->insecure_dev()) {
    LogWarning("INSECURE DEV MODE (--insecure_dev): every caller is accepted with every role; never use this "
               "beyond a development machine");
  }
  LogInfo("listening", {{"address", config_.listen_address},
                        {"port", std::to_string(port_)},
                        {"public_port", std::to_string(public_port())},
                        {"health_port", std::to_string(health_port_)},
                        {"tls", config_.tls.enabled() ? (config_.tls.require_client_cert ? "mutual" : "server") : "off"},
                        {"auth", config_.authenticator->insecure_dev() ? "insecure-dev" : "credentials"}});
  return absl::OkStatus();
}

void ServerRunner::WaitForShutdownSignal() {
  InstallShutdownSignalHandlers();
  while (!g_shutdown_requested.load()) {
    pollfd fd{g_signal_pipe[0], POLLIN, 0};
    int ready = poll(&fd, 1, 1000);
    if (ready > 0) {
      char buf[16];
      ssize_t ignored = read(g_signal_pipe[0], buf, sizeof(buf));
      (void)ignored;
    }
  }
}

absl::Status ServerRunner::Serve() {
  absl::Status started = Start();
  if (!started.ok()) return started;
  WaitForShutdownSignal();
  Shutdown();
  return absl::OkStatus();
}

void ServerRunner::RequestShutdown() { OnSignal(0); }

void ServerRunner::SetServing(bool serving) {
  std::lock_guard<std::mutex> lock(health_mu_);
  if (!server_ || shut_down_) return;
  for (grpc::Server* server : AllServers()) {
    for (const std::string& name : HealthNames()) server->GetHealthCheckService()->SetServingStatus(name, serving);
  }
}

std::vector<std::string> ServerRunner::HealthNames() const {
  std::vector<std::string> names = {""};
  for (const ServedService& s : services_) names.push_back(s.name);
  return names;
}

void ServerRunner::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    if (!server_ || shut_down_) return;
    shut_down_ = true;
  }
  LogInfo("shutting down",
          {{"grace_ms",
            std::to_string(absl::ToInt64Milliseconds(config_.shutdown_grace))}});
  for (grpc::Server* server : AllServers()) server->GetHealthCheckService()->SetServingStatus(false);
  const auto deadline =
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(config_.shutdown_grace));
  for (grpc::Server* server : AllServers()) server->Shutdown(deadline);
  for (grpc::Server* server : AllServers()) server->Wait();
  LogInfo("stopped");
}

}  // namespace tasker
