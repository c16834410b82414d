// What every service binary sets up for operators before it serves
// (docs/observability.md): request log contexts from callers' trace headers,
// and Prometheus metrics on an admin HTTP port.
//
//   --metrics_listen=HOST:PORT   serve /metrics here (port 0 picks a free
//                                one; empty, the default: no metrics port)
//   --metrics_port_file=PATH     write the bound metrics port here
#ifndef TASKER_SERVICES_COMMON_OBSERVABILITY_H_
#define TASKER_SERVICES_COMMON_OBSERVABILITY_H_

#include "absl/status/status.h"

namespace tasker::services {

// Called by ServiceMain after the flags are parsed. INVALID_ARGUMENT for a
// malformed --metrics_listen, UNAVAILABLE when it cannot be bound.
absl::Status StartObservability();

}  // namespace tasker::services

#endif  // TASKER_SERVICES_COMMON_OBSERVABILITY_H_
