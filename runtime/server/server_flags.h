// Command-line flags shared by every Tasker server binary. Flags live next to
// main(): binaries call ServerConfigFromFlags() after absl::ParseCommandLine;
// tests build ServerConfig directly.
//
//   --listen=0.0.0.0:50051     listen address (port 0: any free port)
//   --port_file=PATH           write the bound port here once serving
//   --public_listen=HOST:PORT  public services (the TaskService) on a port of
//                              their own; --listen then serves internal ones
//   --health_listen=HOST:PORT  plaintext grpc.health.v1 only (probes)
//   --credentials_file=PATH    who may call (runtime/server/auth.h); or env
//                              TASKER_CREDENTIALS_FILE
//   --token_file=PATH          this service's own token for its outbound
//                              calls; or env TASKER_TOKEN
//   --insecure_dev             no credentials: everyone may call (dev only)
//   --tls_cert, --tls_key      serve TLS; presented as client certificate too
//   --tls_ca                   verify peers: outbound channels use TLS
//   --require_client_cert      inbound callers need a cert signed by --tls_ca
//   --tls_server_name          name expected in the certificates of servers
//                              this one calls, when not their host name
//   --shutdown_grace=10s       in-flight calls' time to finish on SIGTERM
//   --log_level=info            or env TASKER_LOG_LEVEL (the flag wins)
#ifndef TASKER_RUNTIME_SERVER_SERVER_FLAGS_H_
#define TASKER_RUNTIME_SERVER_SERVER_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "runtime/client/channel.h"
#include "runtime/server/server.h"

namespace tasker {

absl::StatusOr<ServerConfig> ServerConfigFromFlags(const std::string& component);

// How this binary calls other Tasker services: its token and TLS (target
// left empty). In insecure dev mode the token may be empty.
absl::StatusOr<ClientConfig> ClientConfigFromFlags();

// Whether --insecure_dev was given.
bool InsecureDevFromFlags();

// Reads a secret from a file (trailing whitespace trimmed) or, when `path` is
// empty, from the environment variable `env` (may be unset: empty result).
absl::StatusOr<std::string> ReadSecret(const std::string& path, const char* env);

// Reads a whole file (PEM); INVALID_ARGUMENT naming `flag` when unreadable.
absl::StatusOr<std::string> ReadFileForFlag(const std::string& path, const std::string& flag);

}  // namespace tasker

#endif  // TASKER_RUNTIME_SERVER_SERVER_FLAGS_H_
