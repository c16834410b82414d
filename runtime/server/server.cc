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

void ServerRunner::AddService(grpc::Service* service) {
  services_.push_back(service);
}

std::string ServerRunner::local_target() const {
  return absl::StrCat("127.0.0.1:", port_);
}

absl::Status ServerRunner::Start() {
  if (server_) return absl::FailedPreconditionError("server already started");
  if (config_.listen_address.empty() ||
      !absl::StrContains(config_.listen_address, ':')) {
    return absl::InvalidArgumentError(
        "listen address must be host:port, got '" + config_.listen_address +
        "'");
  }
  SetLogComponent(config_.component);
  InstallShutdownSignalHandlers();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen_address,
                           TokenServerCredentials(config_.auth_token), &port_);
  // Without this, gRPC binds with SO_REUSEPORT and a second server on the
  // same port would silently share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(config_.max_message_bytes);
  builder.SetMaxSendMessageSize(config_.max_message_bytes);
  for (grpc::Service* service : services_) builder.RegisterService(service);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    server_.reset();
    return absl::UnavailableError("cannot listen on " + config_.listen_address);
  }
  server_->GetHealthCheckService()->SetServingStatus(true);
  // "liveness" stays SERVING until shutdown whatever the dependencies do
  // (SetServing changes only ""): for liveness probes, which must not
  // restart a process because storage is down.
  server_->GetHealthCheckService()->SetServingStatus(kLivenessService, true);
  if (!config_.port_file.empty()) {
    absl::Status written = WritePortFile(config_.port_file, port_);
    if (!written.ok()) return written;
  }
  LogInfo("listening",
          {{"address", config_.listen_address},
           {"port", std::to_string(port_)},
           {"auth", config_.auth_token.empty() ? "off" : "bearer-token"}});
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
  server_->GetHealthCheckService()->SetServingStatus("", serving);
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
  server_->GetHealthCheckService()->SetServingStatus(false);
  const auto deadline =
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(config_.shutdown_grace));
  server_->Shutdown(deadline);
  server_->Wait();
  LogInfo("stopped");
}

}  // namespace tasker
