// Command-line flags shared by every Tasker server binary. Flags live next to
// main(): binaries call ServerConfigFromFlags() after absl::ParseCommandLine;
// tests build ServerConfig directly.
//
//   --listen=0.0.0.0:50051     listen address (port 0: any free port)
//   --port_file=PATH           write the bound port here once serving
//   --auth_token_file=PATH     require this bearer token (file contents);
//                              or env TASKER_AUTH_TOKEN
//   --shutdown_grace=10s       in-flight calls' time to finish on SIGTERM
//   --log_level=info
#ifndef TASKER_RUNTIME_SERVER_SERVER_FLAGS_H_
#define TASKER_RUNTIME_SERVER_SERVER_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "runtime/server/server.h"

namespace tasker {

absl::StatusOr<ServerConfig> ServerConfigFromFlags(const std::string& component);

// Reads a secret from a file (trailing whitespace trimmed) or, when `path` is
// empty, from the environment variable `env` (may be unset: empty result).
absl::StatusOr<std::string> ReadSecret(const std::string& path, const char* env);

}  // namespace tasker

#endif  // TASKER_RUNTIME_SERVER_SERVER_FLAGS_H_
