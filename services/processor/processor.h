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
#include "runtime/common/metrics.h"
#include "tasker/v1/proxy.grpc.pb.h"
#include "services/common/notifier.h"
#include "services/common/work_queue.h"
#include "services/common/worker_threads.h"
#include "storage/store.h"

namespace tasker::services {

struct ProcessorConfig {
  std::string owner;
  int threads = 64;
  // The lease on every call this processor holds (claimed, or dispatched to
  // it and queued or being performed), renewed every `renew_interval` while
  // it holds the call: a dead or frozen processor's calls are claimed by
  // another one within lease + sweep_interval.
  absl::Duration lease = absl::Seconds(3);
  // At most a third of the lease (longer values are shortened to that).
  absl::Duration renew_interval = absl::Seconds(1);
  absl::Duration sweep_interval = absl::Milliseconds(500);
  // Calls held at once (queued and being performed): dispatches beyond it
  // are refused (the executor's notifier tries another processor; the
  // dispatch lease covers the rest) and sweeps claim no more.
  int max_held = 10000;
  // Call ids queued (notified, retries due later); beyond, dropped (storage
  // has them; a sweep claims them).
  int max_queued = 100000;
  // How long an outcome is retried while storage is unreachable.
  absl::Duration write_retry = absl::Seconds(60);
  int max_attempts = 5;
  absl::Duration base_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
  absl::Duration call_timeout = absl::Seconds(30);
};

// The parts of the store a processor uses.
struct ProcessorStores {
  storage::LeaseStore* leases;  // claims of calls
  storage::CallStore* calls;    // results and retries
  storage::RunStore* runs;      // reads after a write whose answer was lost
  static ProcessorStores Of(storage::Store* store) { return {store, store, store}; }
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
  bool Dispatch(const tasker::v1::StackRunRecord& call);
  const ProcessorCounters& counters() const { return counters_; }

  // One call (exposed for tests). NOT_FOUND when nothing was claimable.
  absl::Status Process(const std::string& stack_run_id);
  // Renews the lease of every call held here (exposed for tests).
  void RenewLeases();
  int held() const;

  // The delay before attempt `attempt + 1` (attempt >= 1): base * 2^(attempt-1)
  // capped at max_backoff, times a random factor in [0.5, 1).
  static absl::Duration Backoff(const ProcessorConfig& config, int attempt);

 private:
  void Sweep();

  // A durable timer fires (services/common/timers.h).
  void PerformTimer(const tasker::v1::StackRunRecord& call, tasker::v1::CallResponse* response);
  // Performs a held call and records its outcome.
  absl::Status Perform(const tasker::v1::StackRunRecord& call, int64_t token);
  // Whether the call is still ours to perform: renewed now when the lease
  // may have lapsed (a freeze, a stall); false when it was lost.
  bool StillHeld(const std::string& id);
  void Hold(const tasker::v1::StackRunRecord& call, int64_t token);
  void Release(const std::string& id);
  void RenewLoop();
  // Runs `fn` (a storage write returning StatusOr) again while storage is
  // unreachable, for up to write_retry.
  // *unanswered is set when a try failed as unreachable (it may have been
  // committed all the same).
  template <typename Fn>
  auto WhileUnreachable(Fn fn, bool* unanswered = nullptr) -> decltype(fn());
  // Pushes the stored outcome of a call to its run (or tells an executor the
  // run is ready): after a CompleteCall whose answer was lost.
  void PushStored(const std::string& call_id);

  struct Held {
    int64_t token = 0;
    absl::Time valid_until;  // local estimate of the lease's end
  };
  mutable std::mutex dispatched_mu_;
  std::map<std::string, tasker::v1::StackRunRecord> dispatched_;
  std::map<std::string, Held> held_;  // every call held here, by id
  std::thread renew_thread_;
  std::atomic<bool> stopping_{false};
  ProcessorStores stores_;
  std::unique_ptr<tasker::v1::WrappedServiceProxy::Stub> proxy_;
  Notifier* notifier_;
  ProcessorConfig config_;
  ProcessorCounters counters_;
  WorkQueue queue_{static_cast<size_t>(std::max(1, config_.max_queued))};
  WorkerThreads workers_;
  // Gauges read at each scrape; declared last, so destroyed first.
  std::vector<std::unique_ptr<metrics::ScrapedValue>> scraped_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_PROCESSOR_PROCESSOR_H_
