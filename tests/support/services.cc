#include "tests/support/services.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tasker::testing {

absl::StatusOr<RunningService> StartService(const std::string& binary, const std::string& name,
                                            const std::string& dir, std::vector<std::string> args,
                                            const std::map<std::string, std::string>& env) {
  RunningService service;
  const std::string port_file = absl::StrCat(dir, "/", name, ".port");
  std::remove(port_file.c_str());
  service.log = absl::StrCat(dir, "/", name, ".log");
  std::vector<std::string> argv = {Runfile(binary), "--port_file=" + port_file};
  bool has_listen = false;
  for (const auto& a : args) has_listen = has_listen || a.rfind("--listen=", 0) == 0;
  if (!has_listen) argv.push_back("--listen=127.0.0.1:0");
  // Without credentials, a test runs the binaries in insecure dev mode.
  bool has_credentials = env.count("TASKER_CREDENTIALS_FILE") > 0;
  for (const auto& a : args) {
    has_credentials = has_credentials || a.rfind("--credentials_file=", 0) == 0 || a == "--insecure_dev";
  }
  if (!has_credentials) argv.push_back("--insecure_dev");
  argv.insert(argv.end(), args.begin(), args.end());
  auto process = Subprocess::Start(argv, env, service.log);
  if (!process.ok()) return process.status();
  service.process = std::move(*process);
  // Fails fast when the process exits (e.g. its address is taken).
  absl::StatusOr<int> port = absl::DeadlineExceededError("not started");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    port = WaitForPortFile(port_file, absl::Milliseconds(100));
    if (port.ok() || !service.process->running()) break;
  }
  if (!port.ok()) {
    return absl::UnavailableError(absl::StrCat(name, " did not start: ", ReadFileOrEmpty(service.log)));
  }
  service.port = *port;
  service.target = absl::StrCat("127.0.0.1:", *port);
  return service;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace tasker::testing
