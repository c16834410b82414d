// The executor core: warm runs.
//
// A run's isolate stays alive in one of this executor's JavaScript worker
// processes for the run's whole life, and this executor holds the root's
// lease (renewed for all warm runs at once). The hot path of a host call:
//
//   task calls __callHostTool__ → RecordCalls (commit 1: the journal's new
//   steps and the call, leased for dispatch) → push to a processor →
//   CompleteCall there (commit 2) → push of the result here (reply_to) →
//   the result resolves the pending promise in the live isolate.
//
// Everything else is off that path: checkpoints (a V8 snapshot) are written
// when a run is evicted (memory budget, idle time), on drain, and every N
// steps or T seconds, by rebuilding the run in a separate checkpointer
// worker so that no live run waits. Recovery (a claimed root that is not
// live here: evicted, taken over from a dead executor, or lost with a dead
// worker) restores the last checkpoint and replays the journal (replay.h).
#ifndef TASKER_SERVICES_EXECUTOR_EXECUTOR_H_
#define TASKER_SERVICES_EXECUTOR_EXECUTOR_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "runtime/common/metrics.h"
#include "runtime/js/engine.h"
#include "runtime/js/worker_host.h"
#include "services/common/notifier.h"
#include "services/common/work_queue.h"
#include "services/common/worker_threads.h"
#include "services/executor/run_events.h"
#include "storage/store.h"

namespace tasker::services {

struct ExecutorConfig {
  // Lease owner identity, unique per replica.
  std::string owner;
  // Where processors push results of this executor's runs (host:port).
  std::string reply_to;
  // Threads that claim, start and rebuild runs (each waits on storage and
  // on a worker: they bound how many runs start at once).
  int threads = 64;
  // Threads that deliver results into warm runs and record their next
  // calls; each waits for its step's commit, so they bound how many steps
  // (and so how many writes per group commit) are in flight.
  int delivery_threads = 64;
  // The lease on a warm run's root, renewed every `renew_interval`: a dead
  // executor's runs are taken over within lease + sweep_interval.
  // Renewals run on their own thread, so that no other upkeep delays them.
  absl::Duration lease = absl::Seconds(3);
  absl::Duration renew_interval = absl::Seconds(1);
  // How often ready work nobody was told about (or whose lease expired) is
  // looked for; the sweep runs however busy the claim threads are.
  absl::Duration sweep_interval = absl::Milliseconds(500);
  // The lease a recorded call carries to its processor, which renews it
  // while it holds the call; a lost dispatch is claimed by a processor's
  // sweep after it.
  absl::Duration dispatch_lease = absl::Seconds(3);
  js::Limits limits;
  // Warm runs are evicted (checkpointed and released) beyond this much
  // isolate heap, least recently active first...
  int64_t warm_memory_bytes = int64_t{1} << 30;
  // ...and after this long without a step.
  absl::Duration warm_idle = absl::Minutes(10);
  // A checkpoint is written every this many steps (0: never) or this long
  // after the last one when steps happened since (0: never).
  int checkpoint_every_steps = 100;
  absl::Duration checkpoint_interval = absl::Minutes(5);
  // Drain (Stop): how long to spend checkpointing warm runs.
  absl::Duration drain_timeout = absl::Seconds(20);
  // Worker answers slower than this (beyond the step's CPU limit) mean a
  // hung worker.
  absl::Duration worker_grace = absl::Seconds(30);
  // Results of a run's outstanding calls are looked up in storage when none
  // was pushed for this long (a lost push).
  absl::Duration straggler_after = absl::Seconds(5);
  // A run whose step a worker did not survive (the worker crashed, or hung
  // and was killed) is rebuilt on a fresh worker from its journal this many
  // times; the next crash fails it with RUNTIME_CRASH.
  int worker_crash_retries = 2;
  // How long a syntax check (publish) may take in a worker.
  absl::Duration syntax_check_timeout = absl::Seconds(10);
  // Bounds: runs queued to claim (notifications beyond are dropped: storage
  // has the work), and task versions whose code is cached.
  int max_queued = 100000;
  int code_cache_entries = 1000;
};

// The parts of the store an executor uses.
struct ExecutorStores {
  storage::FunctionStore* functions;  // the pinned code of a run
  storage::LeaseStore* leases;        // claims and renewals of roots
  storage::RunStepStore* steps;       // the journal and outcomes
  storage::RunStore* runs;            // reads of call rows (lost pushes)
  static ExecutorStores Of(storage::Store* store) { return {store, store, store, store}; }
};

struct ExecutorCounters {
  std::atomic<int64_t> started{0}, resumed{0}, suspended{0}, completed{0}, failed{0};
  std::atomic<int64_t> evicted{0}, rebuilt{0}, checkpoints{0}, delivered{0};
  std::atomic<int> in_flight{0};
};

struct WarmRun;

class Executor {
 public:
  // `workers` has at least two workers: the last one is the checkpointer.
  Executor(ExecutorStores stores, js::WorkerHost* workers, Notifier* notifier, ExecutorConfig config);
  ~Executor();

  void Start();
  // Drains: checkpoints and releases every warm run (within drain_timeout),
  // then stops.
  void Stop();
  void set_reply_to(const std::string& reply_to) { config_.reply_to = reply_to; }

  // Queues a root to claim: to start (EXECUTE_ROOT) or rebuild (RESUME_PARENT).
  bool Enqueue(int kind, const std::string& stack_run_id);
  // Results pushed by processors; returns how many went to a warm run here.
  int Deliver(const std::vector<tasker::v1::StackRunRecord>& calls);
  // Tells the executor that a worker died with its live runs.
  void WorkerLost(int worker);

  const ExecutorCounters& counters() const { return counters_; }
  // Changes this executor makes to runs (for watchers).
  RunEvents* events() { return &events_; }
  int warm() const;
  // Whether the task run is held warm here (its end will be signalled on
  // events()).
  bool IsWarm(const std::string& run_id) const;
  int64_t warm_bytes() const;
  // p50 and p99 of rebuilds from a checkpoint (restore to running), ms.
  std::pair<double, double> RebuildPercentiles() const;

  // Checks that task code compiles, in a worker process of its own (started
  // on first use, off the runs' and the checkpointer's way):
  // hostile source cannot crash or hang this process. INVALID_ARGUMENT
  // "code: line L, column C: SyntaxError: ..." when it does not compile, or
  // when checking it killed the worker (twice) or outlasted
  // syntax_check_timeout.
  absl::Status CheckSyntax(const std::string& code);

  // One claim (exposed for tests): claim, then start or rebuild the run.
  // NOT_FOUND when nothing was claimable.
  absl::Status Process(int kind, const std::string& stack_run_id);
  // Runs one round of upkeep now (tests): renewals, evictions, checkpoints.
  void Upkeep(bool force_renew);

 private:
  using RunPtr = std::shared_ptr<WarmRun>;

  // A version's code and grants (TaskFunction.permissions, for the calls it
  // makes), cached: versions are immutable.
  absl::StatusOr<std::shared_ptr<const v1::TaskFunction>> Function(const std::string& identifier, int64_t version);
  absl::StatusOr<std::string> Code(const std::string& identifier, int64_t version);
  void Sweep();
  int PickWorker();
  absl::StatusOr<js::v1::Response> CallWorker(int worker, js::v1::Request request);

  // Start / rebuild a claimed root.
  absl::Status StartRun(RunPtr run);
  absl::Status RebuildRun(RunPtr run);
  // Handles one step's outcome (run->mu held): journal, commit, push.
  void HandleStep(const RunPtr& run, const js::Outcome& outcome, const std::string& trigger, int64_t clock_ms,
                  uint64_t seed);
  // Delivery threads.
  void Schedule(const RunPtr& run);
  void DeliveryLoop();
  void DeliverInbox(const RunPtr& run);
  bool Accept(const RunPtr& run, const tasker::v1::StackRunRecord& call);
  // Records the run's failure (the root's lease held); counts it and wakes
  // its watchers when it was recorded.
  absl::Status RecordFailure(const RunPtr& run, tasker::v1::ErrorInfo error);
  // Counts a worker crash (UNAVAILABLE from a worker call) against the run
  // (run->mu held). True when it was one too many: the run has been failed
  // with RUNTIME_CRASH and forgotten.
  bool CrashedTooOften(const RunPtr& run, const absl::Status& crash);
  // Runs `fn` (a storage write returning StatusOr) again while storage is
  // unreachable, for up to a lease.
  template <typename Fn>
  auto WhileUnreachable(Fn fn) -> decltype(fn());
  // Forgets a run here (its isolate too); storage keeps it for whoever claims it.
  void Forget(const RunPtr& run, bool drop_isolate);

  // Upkeep (upkeep.cc).
  void UpkeepLoop();
  void RenewLoop();
  void RenewLeases();
  void EvictIfNeeded();
  void MakeRoom();
  bool Evict(const RunPtr& run);
  void CheckpointIfDue();
  absl::Status WriteCheckpoint(const RunPtr& run);
  // Looks up the results of runs waiting longer than `after` (all: zero).
  void FindStragglers(absl::Duration after);
  void Drain();
  void RecordRebuild(double ms);

  ExecutorStores stores_;
  js::WorkerHost* workers_;
  Notifier* notifier_;
  ExecutorConfig config_;
  ExecutorCounters counters_;
  RunEvents events_;
  WorkQueue queue_{static_cast<size_t>(std::max(1, config_.max_queued))};
  std::mutex code_mu_;
  // Versions are immutable: code and grants are cached by (identifier, version).
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const v1::TaskFunction>> code_cache_;

  mutable std::mutex runs_mu_;
  std::map<std::string, RunPtr> runs_;  // by root stack run id
  std::map<std::string, int> warm_run_ids_;  // task run ids of runs_

  std::mutex ready_mu_;
  std::condition_variable ready_cv_;
  std::deque<RunPtr> ready_;
  std::vector<std::thread> delivery_threads_;
  std::thread upkeep_thread_;
  std::thread renew_thread_;
  // Set when a storage call failed as unreachable; the next renewal that
  // succeeds looks up the results of every waiting run at once (a result
  // whose commit's answer was lost was not pushed).
  std::atomic<bool> storage_was_down_{false};
  std::atomic<bool> check_all_stragglers_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> started_{false};
  absl::Time last_straggler_check_ = absl::InfinitePast();

  std::mutex syntax_mu_;
  std::unique_ptr<js::WorkerHost> syntax_checker_;

  std::mutex crashes_mu_;
  std::map<std::string, int> crashes_;  // worker crashes per root, while it runs here

  mutable std::mutex stats_mu_;
  std::deque<double> rebuild_ms_;

  WorkerThreads claimers_;
  // Values read at each scrape (Start()); declared last, so destroyed first.
  std::vector<std::unique_ptr<metrics::ScrapedValue>> scraped_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_EXECUTOR_H_
