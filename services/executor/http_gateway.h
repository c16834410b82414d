// The HTTP/JSON API, served next to the gRPC TaskService by the
// task-executor (--http_listen): the earlier JavaScript platform's routes
// (http_compat.h), POST /functions/v1/tasks/:name (submit with the body as
// the input) and GET /functions/v1/tasks, with CORS for browsers.
//
// Errors: {"error":{"code":"INVALID_ARGUMENT","message":...}} with the HTTP
// status matching the gRPC code (400, 401, 404, 409, 412, 503, 500); the
// old routes answer theirs as {"success":false,"error":"...","code":...}.
//
// HTTPS when Start is given a certificate and key (PEM): TLS 1.2 or newer
// only, nothing served in plain text; with a client CA, only clients
// presenting a certificate it signed get past the handshake.
#ifndef TASKER_SERVICES_EXECUTOR_HTTP_GATEWAY_H_
#define TASKER_SERVICES_EXECUTOR_HTTP_GATEWAY_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "runtime/server/auth.h"
#include "grpcpp/grpcpp.h"
#include "services/executor/http_compat.h"
#include "services/executor/task_api.h"

namespace httplib {
class Server;
struct Request;
}

namespace tasker::services {

struct HttpTlsOptions {
  // PEM certificate chain (leaf first) and its private key; both or neither.
  std::string cert_file;
  std::string key_file;
  // PEM CA certificates; non-empty: clients must present a certificate one
  // of them signed.
  std::string client_ca_file;
};

class HttpGateway {
 public:
  // Every path but /health needs "Authorization: Bearer <token>" of an
  // identity with the role client or admin (runtime/server/auth.h).
  // `keystore` (may be null): for the /task/keystore routes.
  HttpGateway(TaskApi* api, std::shared_ptr<const Authenticator> authenticator,
              std::shared_ptr<grpc::Channel> keystore = nullptr);
  ~HttpGateway();

  // "host:port" (port 0: any free port). With `tls.cert_file`: HTTPS only;
  // INVALID_ARGUMENT naming the option when a file cannot be loaded.
  absl::Status Start(const std::string& listen, const HttpTlsOptions& tls = {});
  void Stop();
  int port() const { return port_; }

 private:
  TaskApi* api_;

  std::shared_ptr<const Authenticator> authenticator_;
  std::unique_ptr<CompatRoutes> compat_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_HTTP_GATEWAY_H_
