// The executor core: claims roots (to start) and parents (to resume), runs
// them in the JavaScript runtime's worker processes, and records the outcome
// in one storage transaction: completed, failed, or suspended (continuation
// + one child per host call, then a push to a stack processor).
#ifndef TASKER_SERVICES_EXECUTOR_EXECUTOR_H_
#define TASKER_SERVICES_EXECUTOR_EXECUTOR_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "runtime/js/engine.h"
#include "runtime/js/worker_pool.h"
#include "services/common/notifier.h"
#include "services/common/work_queue.h"
#include "services/common/worker_threads.h"
#include "storage/store.h"

namespace tasker::services {

struct ExecutorConfig {
  // Lease owner identity, unique per replica.
  std::string owner;
  int threads = 2;
  absl::Duration lease = absl::Seconds(60);
  // How often ready work nobody was told about is looked for.
  absl::Duration sweep_interval = absl::Seconds(5);
  js::Limits limits;
};

// The parts of the store an executor uses.
struct ExecutorStores {
  storage::FunctionStore* functions;  // the pinned code of a run
  storage::LeaseStore* leases;        // claims of roots to start or resume
  storage::RunStepStore* steps;       // outcomes of steps
  static ExecutorStores Of(storage::Store* store) { return {store, store, store}; }
};

struct ExecutorCounters {
  std::atomic<int64_t> started{0}, resumed{0}, suspended{0}, completed{0}, failed{0};
  std::atomic<int> in_flight{0};
};

class Executor {
 public:
  Executor(ExecutorStores stores, js::WorkerPool* pool, Notifier* notifier, ExecutorConfig config);
  ~Executor();

  void Start();
  void Stop();
  // Queues a root to start (EXECUTE_ROOT) or resume (RESUME_PARENT).
  bool Enqueue(int kind, const std::string& stack_run_id);
  const ExecutorCounters& counters() const { return counters_; }

  // One unit of work (exposed for tests): claim, run one step, record.
  absl::Status Process(int kind, const std::string& stack_run_id);

 private:
  absl::StatusOr<std::string> Code(const std::string& identifier, int64_t version);
  void Sweep();

  ExecutorStores stores_;
  js::WorkerPool* pool_;
  Notifier* notifier_;
  ExecutorConfig config_;
  ExecutorCounters counters_;
  WorkQueue queue_;
  std::mutex code_mu_;
  std::map<std::pair<std::string, int64_t>, std::string> code_cache_;  // versions are immutable
  WorkerThreads workers_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_EXECUTOR_H_
