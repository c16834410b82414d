#include "runtime/server/server_flags.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "runtime/common/log.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "Listen address host:port; port 0 picks a free port.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written to this file once serving.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding the bearer token every call must present (default: "
          "env TASKER_AUTH_TOKEN; empty: no auth).");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "How long in-flight calls may run after SIGTERM.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

namespace tasker {

absl::StatusOr<std::string> ReadSecret(const std::string& path, const char* env) {
  if (path.empty()) {
    const char* value = env ? std::getenv(env) : nullptr;
    return std::string(value ? value : "");
  }
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError("cannot read secret file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string secret = buffer.str();
  absl::StripTrailingAsciiWhitespace(&secret);
  if (secret.empty()) {
    return absl::InvalidArgumentError("secret file " + path + " is empty");
  }
  return secret;
}

absl::StatusOr<ServerConfig> ServerConfigFromFlags(const std::string& component) {
  ServerConfig config;
  config.component = component;
  config.listen_address = absl::GetFlag(FLAGS_listen);
  config.port_file = absl::GetFlag(FLAGS_port_file);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  auto token = ReadSecret(absl::GetFlag(FLAGS_auth_token_file), "TASKER_AUTH_TOKEN");
  if (!token.ok()) return token.status();
  config.auth_token = *token;
  LogLevel level;
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    return absl::InvalidArgumentError("--log_level must be debug, info, warning or error");
  }
  SetLogLevel(level);
  SetLogComponent(component);
  return config;
}

}  // namespace tasker
