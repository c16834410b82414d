// WorkerPool: runs engine steps in pre-started tasker-js-worker processes so
// that a fatal V8 error (which aborts its process) fails one step, never the
// caller. Thread-safe; each call borrows one idle worker for one step.
#ifndef TASKER_RUNTIME_JS_WORKER_POOL_H_
#define TASKER_RUNTIME_JS_WORKER_POOL_H_

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/js/engine.h"
#include "runtime/js/worker.pb.h"

namespace tasker::js {

struct WorkerPoolOptions {
  // Path of the tasker-js-worker binary.
  std::string worker_path;
  int workers = 2;
  int heap_limit_mb = 256;
  // Beyond the step's CPU limit, how long a worker may take before it is
  // killed as unresponsive.
  absl::Duration grace = absl::Seconds(30);
};

class WorkerPool {
 public:
  // Starts `workers` processes. FAILED_PRECONDITION when the binary is missing.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Create(const WorkerPoolOptions& options);
  ~WorkerPool();

  // As js::Start / js::Resume, in a worker process. A worker that dies gives
  // a kFailed outcome of kind kRuntimeCrash and is replaced.
  absl::StatusOr<Outcome> Start(absl::string_view code, absl::string_view input_json, const Limits& limits);
  absl::StatusOr<Outcome> Resume(absl::string_view continuation, const std::vector<CallResult>& results,
                                 const Limits& limits);

  int crashes() const { return crashes_.load(); }
  // Pids of the current workers (for tests).
  std::vector<pid_t> pids();

 private:
  struct Worker {
    pid_t pid = -1;
    int to_worker = -1;
    int from_worker = -1;
  };

  explicit WorkerPool(WorkerPoolOptions options) : options_(std::move(options)) {}
  absl::StatusOr<Worker> Spawn();
  void Stop(Worker& worker, bool kill_first);
  absl::StatusOr<Outcome> Run(const v1::StepRequest& request, absl::Duration cpu_limit);
  Worker Acquire();
  void Release(Worker worker);

  WorkerPoolOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Worker> idle_;
  std::vector<pid_t> all_;
  std::atomic<int> crashes_{0};
};

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_WORKER_POOL_H_
