// The HTTP/JSON API of the earlier JavaScript platform, served next to the
// gRPC TaskService by the task-executor (--http_listen):
//
//   GET  /health                      {"status":"ok"}
//   POST /task/store-function         {"name","code","metadata"?} -> the task function
//   POST /task/submit                 {"name","input"?,"idempotencyKey"?} -> {"runId","status","created"}
//   GET  /task/status/:id             the run (status, result, error, logs, timings)
//   GET  /functions/v1/tasks          the latest version of every task
//   POST /functions/v1/tasks/:name    submit a run; the body is the input
//
// Errors: {"error":{"code":"INVALID_ARGUMENT","message":...}} with the HTTP
// status matching the gRPC code (400, 401, 404, 409, 412, 503, 500); an
// idempotency key reused for a different request is 409 ALREADY_EXISTS.
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
  HttpGateway(TaskApi* api, std::shared_ptr<const Authenticator> authenticator);
  ~HttpGateway();

  // "host:port" (port 0: any free port). With `tls.cert_file`: HTTPS only;
  // INVALID_ARGUMENT naming the option when a file cannot be loaded.
  absl::Status Start(const std::string& listen, const HttpTlsOptions& tls = {});
  void Stop();
  int port() const { return port_; }

 private:
  TaskApi* api_;
  // The caller's identity name (the request passed the pre-routing check).
  std::string CallerOf(const httplib::Request& req) const;

  std::shared_ptr<const Authenticator> authenticator_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// HTTP status for an absl status code.
int HttpStatusFor(absl::StatusCode code);

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_HTTP_GATEWAY_H_
