// The tasker CLI's command line and settings: its own small flag parser (not
// absl's, whose --help exits 1 and which knows no subcommands), the config
// file, and where each setting comes from (flag > environment > config file >
// default).
//
//   Flags: --name=value, --name value, -o json, -ojson, --bool, --bool=false,
//   --nobool; '-' and '_' are the same in names (--token-file, --token_file);
//   "--" ends the flags. Flags may come before or after the command.
#ifndef TASKER_SERVICES_CLI_ARGS_H_
#define TASKER_SERVICES_CLI_ARGS_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tasker::cli {

struct FlagSpec {
  std::string name;         // canonical, with '_' ("token_file")
  std::string value_name;   // "" for a boolean flag; e.g. "FILE"
  std::string help;
  char short_name = 0;      // e.g. 'o'; 0: none
};

struct ParsedArgs {
  std::vector<std::string> positional;
  // Canonical flag name -> values in order ("true"/"false" for booleans).
  std::map<std::string, std::vector<std::string>> flags;

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  // The last value given, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  bool Bool(const std::string& name) const;
};

// Parses `args` (without argv[0]) against `known`. INVALID_ARGUMENT naming
// the flag for an unknown flag, a missing value or a bad boolean.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args, const std::vector<FlagSpec>& known);

// A config file: "key: value" lines (YAML's flat subset: comments, quoted
// values, one level of nesting as "tls:\n  ca: ..." -> "tls.ca") or a JSON
// object (nested objects flattened the same way). Keys as written.
absl::StatusOr<std::map<std::string, std::string>> ParseConfigText(const std::string& text, const std::string& path);

// How the CLI reaches Tasker, and where each value came from ("flag
// --address", "env TASKER_ADDRESS", "config /path", "default").
struct Settings {
  std::string address;
  std::string address_source;
  std::string keystore_address;
  std::string keystore_source;
  std::string token;          // the bearer token itself
  std::string token_source;
  std::string tls_ca, tls_cert, tls_key;  // PEM file paths
  std::string tls_server_name;
  std::string config_path;    // the config file read, if any
  std::string output;         // "table", "json" or "yaml"
  std::string color;          // "auto", "always" or "never"
  absl::Duration timeout = absl::Seconds(30);
};

inline constexpr char kDefaultAddress[] = "127.0.0.1:50052";
inline constexpr int kDefaultKeystorePort = 50053;

// Resolves Settings from the parsed global flags, the environment (`getenv`)
// and the config file: --config, else $TASKER_CONFIG, else
// $XDG_CONFIG_HOME/tasker/config.yaml (or .json; XDG_CONFIG_HOME defaulting
// to $HOME/.config) when it exists. Reads the token (file) but not the TLS
// files. INVALID_ARGUMENT naming the flag, variable or config key.
absl::StatusOr<Settings> ResolveSettings(const ParsedArgs& args,
                                         const std::function<std::optional<std::string>(const char*)>& getenv);

// "30s", "1m30s", "2h", "500ms", "3d" (days allowed); INVALID_ARGUMENT naming `what`.
absl::StatusOr<absl::Duration> ParseDurationArg(const std::string& text, const std::string& what);

}  // namespace tasker::cli

#endif  // TASKER_SERVICES_CLI_ARGS_H_
