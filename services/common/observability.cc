#include "services/common/observability.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "runtime/common/log.h"
#include "runtime/common/metrics.h"
#include "runtime/server/observability.h"

ABSL_FLAG(std::string, metrics_listen, "",
          "Serve Prometheus metrics on http://HOST:PORT/metrics (port 0 picks a free port); empty: off.");
ABSL_FLAG(int, metrics_port, -1,
          "Shorthand for --metrics_listen=0.0.0.0:PORT (the Kubernetes manifests use it); -1: off.");
ABSL_FLAG(std::string, metrics_port_file, "", "If set, the bound metrics port is written here once serving.");

namespace tasker::services {

absl::Status StartObservability() {
  InstallServerObservability();
  std::string listen = absl::GetFlag(FLAGS_metrics_listen);
  const int port_flag = absl::GetFlag(FLAGS_metrics_port);
  if (port_flag >= 0) {
    if (!listen.empty()) return absl::InvalidArgumentError("--metrics_port: give --metrics_listen or --metrics_port, not both");
    if (port_flag > 65535) return absl::InvalidArgumentError("--metrics_port: must be 0..65535");
    listen = absl::StrCat("0.0.0.0:", port_flag);
  }
  if (listen.empty()) return absl::OkStatus();
  EnableServerRequestMetrics();
  absl::StatusOr<int> port = metrics::StartMetricsExposer(listen);
  if (!port.ok()) return port.status();
  if (const std::string path = absl::GetFlag(FLAGS_metrics_port_file); !path.empty()) {
    // Written whole, then renamed: a reader never sees half a number.
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << *port << "\n";
      if (!out) return absl::UnavailableError(absl::StrCat("--metrics_port_file: cannot write ", tmp));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      return absl::UnavailableError(absl::StrCat("--metrics_port_file: cannot rename to ", path));
    }
  }
  LogInfo("serving metrics", {{"address", listen}, {"metrics_port", std::to_string(*port)}, {"path", "/metrics"}});
  return absl::OkStatus();
}

}  // namespace tasker::services
