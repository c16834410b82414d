// ServerRunner: the one way every Tasker binary serves gRPC.
//
// It binds the listen address (port 0 picks a free port, reported by port()
// and optionally written to a file), enables the standard health service and
// server reflection, optionally requires a bearer token on every method but
// health, and shuts down gracefully: health turns NOT_SERVING, new calls are
// refused, in-flight calls get up to `shutdown_grace` to finish.
//
//   ServerConfig config = ...;             // from flags (server_flags.h)
//   ServerRunner runner(config);
//   runner.AddService(&my_service);        // must outlive the runner
//   RETURN_IF_ERROR(runner.Start());
//   runner.WaitForShutdownSignal();        // SIGTERM / SIGINT
//   runner.Shutdown();
#ifndef TASKER_RUNTIME_SERVER_SERVER_H_
#define TASKER_RUNTIME_SERVER_SERVER_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace tasker {

struct ServerConfig {
  // Name used in logs ("storage", "task-executor", ...).
  std::string component = "tasker";
  // host:port; port 0 binds a free port.
  std::string listen_address = "127.0.0.1:0";
  // When non-empty, every method but grpc.health.v1.Health requires the
  // metadata "authorization: Bearer <token>".
  std::string auth_token;
  // When non-empty, the bound port is written here (atomically) after start.
  std::string port_file;
  // How long in-flight calls may run on after shutdown begins.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Largest request/response message accepted, in bytes.
  int max_message_bytes = 128 * 1024 * 1024;
};

// The health service name that reports only whether the process is up.
inline constexpr char kLivenessService[] = "liveness";

class ServerRunner {
 public:
  explicit ServerRunner(ServerConfig config);
  ~ServerRunner();

  ServerRunner(const ServerRunner&) = delete;
  ServerRunner& operator=(const ServerRunner&) = delete;

  // Registers a service before Start(). Not owned.
  void AddService(grpc::Service* service);

  // Binds and starts serving. Errors: INVALID_ARGUMENT for a bad config,
  // UNAVAILABLE when the address cannot be bound.
  absl::Status Start();

  // The bound port (valid after Start()).
  int port() const { return port_; }
  // "127.0.0.1:<port>" style address clients in the same host can dial.
  std::string local_target() const;

  // Blocks until SIGTERM or SIGINT arrives (or RequestShutdown() is called).
  void WaitForShutdownSignal();
  // Makes WaitForShutdownSignal() return; safe from any thread.
  void RequestShutdown();

  // Sets the whole server's health (grpc.health.v1, service ""), e.g. to
  // NOT_SERVING while a dependency is unreachable (readiness). The service
  // kLivenessService stays SERVING until shutdown (liveness). Ignored once
  // shutting down.
  void SetServing(bool serving);

  // Graceful shutdown; idempotent. Returns once the server has stopped.
  void Shutdown();

  // Start(), WaitForShutdownSignal(), Shutdown(): the whole life of a server
  // binary. Returns the start error, if any.
  absl::Status Serve();

 private:
  ServerConfig config_;
  std::vector<grpc::Service*> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex health_mu_;
  bool shut_down_ = false;
};

// Installs SIGTERM/SIGINT handlers that wake WaitForShutdownSignal().
// Called by ServerRunner::Start(); exposed for binaries with other loops.
void InstallShutdownSignalHandlers();
// True once a shutdown signal arrived or RequestShutdown() was called.
bool ShutdownRequested();

}  // namespace tasker

#endif  // TASKER_RUNTIME_SERVER_SERVER_H_
