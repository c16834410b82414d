// Metrics shared by the executor's core and its API (docs/observability.md).
#ifndef TASKER_SERVICES_EXECUTOR_RUN_METRICS_H_
#define TASKER_SERVICES_EXECUTOR_RUN_METRICS_H_

#include "runtime/common/metrics.h"

namespace tasker::services {

// tasker_runs_total{status}: submitted (through this executor's API),
// completed and failed (ended on this executor), cancelled (through its API).
inline metrics::Counters& RunsByStatus() {
  static auto* counters = new metrics::Counters(
      "tasker_runs_total",
      "Runs by status: submitted through this executor's API, completed or failed here, cancelled through its API.",
      {"status"});
  return *counters;
}

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_RUN_METRICS_H_
