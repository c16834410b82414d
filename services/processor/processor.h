// The stack processor core: claims pending host calls, performs them
// through the wrapped-service proxy with an idempotency key derived from
// (run, stack run), and records the result. Calls of warm runs arrive
// already leased (Dispatch: no claim) and their results are pushed to the
// executor holding the run (the root's reply_to). Retryable failures are retried
// with exponential backoff and jitter up to `max_attempts` (an unreachable
// proxy is retried until it is back); a final error
// reaches the task as a rejected promise. When a call of an evicted run
// finishes, an executor is told to claim the run.
#ifndef TASKER_SERVICES_PROCESSOR_PROCESSOR_H_
#define TASKER_SERVICES_PROCESSOR_PROCESSOR_H_

#include <atomic>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "proto/tasker/v1/proxy.grpc.pb.h"
#include "services/common/notifier.h"
#include "services/common/work_queue.h"
#include "services/common/worker_threads.h"
#include "storage/store.h"

namespace tasker::services {

struct ProcessorConfig {
  std::string owner;
  int threads = 64;
  absl::Duration lease = absl::Seconds(60);
  absl::Duration sweep_interval = absl::Seconds(5);
  int max_attempts = 5;
  absl::Duration base_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
  absl::Duration call_timeout = absl::Seconds(30);
};

// The parts of the store a processor uses.
struct ProcessorStores {
  storage::LeaseStore* leases;  // claims of calls
  storage::CallStore* calls;    // results and retries
  static ProcessorStores Of(storage::Store* store) { return {store, store}; }
};

struct ProcessorCounters {
  std::atomic<int64_t> performed{0}, succeeded{0}, failed{0}, retried{0};
  std::atomic<int> in_flight{0};
};

class Processor {
 public:
  Processor(ProcessorStores stores, std::shared_ptr<grpc::Channel> proxy, Notifier* notifier, ProcessorConfig config);
  ~Processor();

  void Start();
  void Stop();
  bool Enqueue(const std::string& stack_run_id, absl::Time at = absl::InfinitePast());
  // A call already leased for dispatch (RecordCalls): performed under the
  // lease it carries, without a claim.
  bool Dispatch(const tasker::v1::StackRun& call);
  const ProcessorCounters& counters() const { return counters_; }

  // One call (exposed for tests). NOT_FOUND when nothing was claimable.
  absl::Status Process(const std::string& stack_run_id);

  // The delay before attempt `attempt + 1` (attempt >= 1): base * 2^(attempt-1)
  // capped at max_backoff, times a random factor in [0.5, 1).
  static absl::Duration Backoff(const ProcessorConfig& config, int attempt);

 private:
  void Sweep();

  // Performs a held call and records its outcome.
  absl::Status Perform(const tasker::v1::StackRun& call, int64_t token);

  std::mutex dispatched_mu_;
  std::map<std::string, tasker::v1::StackRun> dispatched_;
  ProcessorStores stores_;
  std::unique_ptr<tasker::v1::WrappedServiceProxy::Stub> proxy_;
  Notifier* notifier_;
  ProcessorConfig config_;
  ProcessorCounters counters_;
  WorkQueue queue_;
  WorkerThreads workers_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_PROCESSOR_PROCESSOR_H_
