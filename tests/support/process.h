// Test support: start real binaries as child processes and talk to them.
#ifndef TASKER_TESTS_SUPPORT_PROCESS_H_
#define TASKER_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tasker::testing {

// A child process; killed with SIGKILL on destruction if still running.
class Subprocess {
 public:
  // Starts argv[0] (a path) with argv. stdout and stderr go to `log_path`
  // (appended) when non-empty. `env` entries are added to the environment.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv,
      const std::map<std::string, std::string>& env = {},
      const std::string& log_path = "");
  ~Subprocess();

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int signal);
  // Waits for exit; returns the wait status, or nullopt on timeout.
  std::optional<int> Wait(absl::Duration timeout);

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<int> status_;
};

// Waits for a server's --port_file to appear and returns the port.
absl::StatusOr<int> WaitForPortFile(const std::string& path,
                                    absl::Duration timeout);

// A fresh directory under $TEST_TMPDIR (or /tmp).
std::string MakeTempDir(const std::string& prefix);

// Absolute path of a runfile given its workspace-relative path.
std::string Runfile(const std::string& workspace_path);

// Runs a shell command, returns (exit code, combined output).
std::pair<int, std::string> RunCommand(const std::string& command);

}  // namespace tasker::testing

#endif  // TASKER_TESTS_SUPPORT_PROCESS_H_
