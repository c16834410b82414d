// ServerRunner: the one way every Tasker binary serves gRPC.
//
// It binds the listen address (port 0 picks a free port, reported by port()
// and optionally written to a file), enables the standard health service
// (per service name: "" and each service's full name) and server reflection
// (grpc.reflection.v1 and v1alpha), lets each service be called only by the roles it names
// (runtime/server/auth.h), optionally serves TLS, public services on a port
// of their own and health on a plaintext probe port, and shuts down gracefully: health turns NOT_SERVING, new calls are
// refused, in-flight calls get up to `shutdown_grace` to finish.
//
//   ServerConfig config = ...;             // from flags (server_flags.h)
//   ServerRunner runner(config);
//   runner.AddService(&my_service, v1::Storage::service_full_name(),
//                     {Role::kExecutor});  // must outlive the runner
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
#include "runtime/server/auth.h"

namespace tasker {

struct ServerConfig {
  // Name used in logs ("storage", "task-executor", ...).
  std::string component = "tasker";
  // host:port; port 0 binds a free port.
  std::string listen_address = "127.0.0.1:0";
  // Who may call: required (ServerRunner refuses to start without one; use
  // Authenticator::InsecureDev() for local development).
  std::shared_ptr<const Authenticator> authenticator;
  // TLS on every port but health_listen (off when empty).
  ServerTls tls;
  // When non-empty, services added as public are served here instead of on
  // listen_address (which then serves only the internal ones).
  std::string public_listen_address;
  std::string public_port_file;
  // When non-empty, a plaintext port serving only grpc.health.v1 (for
  // Kubernetes probes, which cannot present client certificates).
  std::string health_listen_address;
  // When non-empty, the bound port is written here (atomically) after start.
  std::string port_file;
  // How long in-flight calls may run on after shutdown begins.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Largest request/response message accepted, in bytes.
  int max_message_bytes = 128 * 1024 * 1024;
};

// A service a server serves and the roles that may call it (public ones go
// to the public port when there is one); a method rule narrows one method.
struct ServedService {
  grpc::Service* service;
  std::string name;  // full name: Generated::service_full_name()
  Roles roles;
  bool is_public = false;
};
struct MethodRule {
  std::string service;
  std::string method;
  Roles roles;
};

// The health service name that reports only whether the process is up.
inline constexpr char kLivenessService[] = "liveness";

class ServerRunner {
 public:
  explicit ServerRunner(ServerConfig config);
  ~ServerRunner();

  ServerRunner(const ServerRunner&) = delete;
  ServerRunner& operator=(const ServerRunner&) = delete;

  // Registers a service before Start(), served to callers with one of
  // `roles`. `name` is its full name (Generated::service_full_name()).
  // Public services go to the public port when there is one. Not owned.
  void AddService(grpc::Service* service, const std::string& name, Roles roles, bool is_public = false);
  // Narrows one method of a service added above to `roles`.
  void RestrictMethod(const std::string& service, const std::string& method, Roles roles);

  // Binds and starts serving. Errors: INVALID_ARGUMENT for a bad config,
  // UNAVAILABLE when the address cannot be bound.
  absl::Status Start();

  // The bound ports (valid after Start()); public_port() is port() when
  // there is no separate public port, health_port() 0 when none.
  int port() const { return port_; }
  int public_port() const { return public_port_ ? public_port_ : port_; }
  int health_port() const { return health_port_; }
  // "127.0.0.1:<port>" style address clients in the same host can dial.
  std::string local_target() const;

  // Blocks until SIGTERM or SIGINT arrives (or RequestShutdown() is called).
  void WaitForShutdownSignal();
  // Makes WaitForShutdownSignal() return; safe from any thread.
  void RequestShutdown();

  // Sets the server's health (grpc.health.v1) for "" and for the full name
  // of every service added (all follow together), e.g. to NOT_SERVING while
  // a dependency is unreachable (readiness). The service kLivenessService
  // stays SERVING until shutdown (liveness). Ignored once shutting down.
  void SetServing(bool serving);

  // Graceful shutdown; idempotent. Returns once the server has stopped.
  void Shutdown();

  // Start(), WaitForShutdownSignal(), Shutdown(): the whole life of a server
  // binary. Returns the start error, if any.
  absl::Status Serve();

 private:
  // Every running server (internal, public, health): health follows on all.
  std::vector<grpc::Server*> AllServers() const;
  // The health service names SetServing() sets: "" and every service's.
  std::vector<std::string> HealthNames() const;

  ServerConfig config_;
  std::vector<ServedService> services_;
  std::vector<MethodRule> method_rules_;
  // One per port (each lists what its port serves); outlive the servers.
  std::vector<std::unique_ptr<grpc::Service>> reflection_v1_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> public_server_;
  std::unique_ptr<grpc::Server> health_server_;
  int port_ = 0;
  int public_port_ = 0;
  int health_port_ = 0;
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
