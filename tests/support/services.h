// Starts Tasker's real binaries as child processes for tests: each on port 0
// with a port file, logs in the test's temp dir.
#ifndef TASKER_TESTS_SUPPORT_SERVICES_H_
#define TASKER_TESTS_SUPPORT_SERVICES_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/process.h"

namespace tasker::testing {

struct RunningService {
  std::unique_ptr<Subprocess> process;
  std::string target;  // 127.0.0.1:PORT
  int port = 0;
  std::string log;
};

// Starts `binary` (a runfile path such as "services/storage/storage-service")
// with `args` plus --listen/--port_file (and --insecure_dev unless `args`
// name a --credentials_file), and waits for its port.
absl::StatusOr<RunningService> StartService(const std::string& binary, const std::string& name,
                                            const std::string& dir, std::vector<std::string> args,
                                            const std::map<std::string, std::string>& env = {});

std::string ReadFileOrEmpty(const std::string& path);

}  // namespace tasker::testing

#endif  // TASKER_TESTS_SUPPORT_SERVICES_H_
