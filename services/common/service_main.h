// ServiceMain: the life of every Tasker service binary, written once.
//
// It parses the command line, builds the common server config (listen
// address, port file, bearer token, log level: runtime/server/server_flags.h),
// lets the binary set itself up through a ServiceContext, serves gRPC (health
// and reflection included) until SIGTERM or SIGINT, then runs the stop hooks
// and destroys what the binary owns, both in reverse order.
//
//   int main(int argc, char** argv) {
//     return tasker::services::ServiceMain(argc, argv, "keystore", [](auto& ctx) -> absl::Status {
//       ASSIGN_OR_RETURN(auto storage, ctx.Channel(absl::GetFlag(FLAGS_storage), "--storage"));
//       auto* store = ctx.Own(std::make_unique<storage::RemoteStore>(storage));
//       ctx.AddService(ctx.Own(std::make_unique<KeystoreService>(...)));
//       return absl::OkStatus();
//     });
//   }
//
// Exit codes: 0 after a clean shutdown; 2 when flags or configuration are
// wrong (setup returned INVALID_ARGUMENT or FAILED_PRECONDITION); 1 when the
// service could not start (any other error). Every failure is logged once.
#ifndef TASKER_SERVICES_COMMON_SERVICE_MAIN_H_
#define TASKER_SERVICES_COMMON_SERVICE_MAIN_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"
#include "runtime/client/channel.h"
#include "runtime/server/server.h"
#include "services/common/dependency_health.h"

namespace tasker::services {

class ServiceContext {
 public:
  ServiceContext(ServerConfig config, ClientConfig client);
  ~ServiceContext();

  const ServerConfig& config() const { return config_; }

  // A channel to another Tasker service, carrying this binary's token (and
  // TLS when --tls_ca is set). INVALID_ARGUMENT naming `flag` for a
  // malformed target; FAILED_PRECONDITION when this binary has no token
  // (outside insecure dev mode).
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel(const std::string& target,
                                                         absl::string_view flag) const;

  // How this binary calls others (token, TLS); target empty.
  const ClientConfig& client_config() const { return client_; }

  // "<component>/<host>/<pid>": this replica's lease-owner identity.
  std::string ReplicaId() const;

  // The bound gRPC port, once the server is listening (in OnStart hooks).
  int port() const { return port_; }

  // Keeps `object` alive until after the server stopped and the stop hooks
  // ran; objects are destroyed in reverse order of Own().
  template <typename T>
  T* Own(std::unique_ptr<T> object) {
    T* raw = object.get();
    owned_.push_back(std::shared_ptr<void>(std::move(object)));
    return raw;
  }

  // Serves `service` (not owned: Own() it) to callers holding one of
  // `roles`; `name` is its full name (Generated::service_full_name()).
  // Public services go to --public_listen when it is set.
  void AddService(grpc::Service* service, const std::string& name, Roles roles, bool is_public = false) {
    services_.push_back({service, name, roles, is_public});
  }
  // Narrows one method of a service to `roles`.
  void RestrictMethod(const std::string& service, const std::string& method, Roles roles) {
    method_rules_.push_back({service, method, roles});
  }
  // This binary reports NOT_SERVING (gRPC health, for "" and every service
  // it serves) while `channel`'s server is unreachable or does not report
  // `service` (the full name of the service called there; "" for the whole
  // server) SERVING. Checked every --dependency_check_interval.
  void DependsOn(const std::string& name, std::shared_ptr<grpc::Channel> channel, const std::string& service = "") {
    dependencies_.push_back({name, std::move(channel), service, nullptr});
  }
  // The same for something in-process (storage's database): down while
  // `check` returns an error.
  void DependsOn(const std::string& name, std::function<absl::Status()> check) {
    dependencies_.push_back({name, nullptr, "", std::move(check)});
  }
  // Runs once the server is listening; an error stops the binary (exit 1).
  void OnStart(std::function<absl::Status()> hook) { on_start_.push_back(std::move(hook)); }
  // Runs after the server stopped, in reverse order of registration.
  void OnStop(std::function<void()> hook) { on_stop_.push_back(std::move(hook)); }
  // Setup did the binary's whole job (a one-shot command such as
  // `keystore --reencrypt`): ServiceMain returns `exit_code` without serving.
  void FinishWithoutServing(int exit_code) { finished_exit_code_ = exit_code; }

 private:
  friend int ServiceMain(int, char**, const std::string&,
                         const std::function<absl::Status(ServiceContext&)>&);
  ServerConfig config_;
  ClientConfig client_;
  int port_ = 0;
  std::vector<std::shared_ptr<void>> owned_;
  std::vector<ServedService> services_;
  std::vector<MethodRule> method_rules_;
  std::vector<std::function<absl::Status()>> on_start_;
  std::vector<std::function<void()>> on_stop_;
  std::vector<DependencyHealth::Dependency> dependencies_;
  std::optional<int> finished_exit_code_;
};

int ServiceMain(int argc, char** argv, const std::string& component,
                const std::function<absl::Status(ServiceContext&)>& setup);

}  // namespace tasker::services

#endif  // TASKER_SERVICES_COMMON_SERVICE_MAIN_H_
