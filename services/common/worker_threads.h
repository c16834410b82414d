// The threads of a worker service: N threads taking items from a WorkQueue,
// and one sweeper calling `sweep` every `sweep_interval`. A handler's error
// (other than NOT_FOUND: nothing was claimable) is logged; the item stays in
// storage under its lease and is picked up again once the lease expires.
#ifndef TASKER_SERVICES_COMMON_WORKER_THREADS_H_
#define TASKER_SERVICES_COMMON_WORKER_THREADS_H_

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "runtime/common/log.h"
#include "services/common/work_queue.h"

namespace tasker::services {

class WorkerThreads {
 public:
  using Handler = std::function<absl::Status(const WorkItem&)>;
  using Sweep = std::function<void()>;

  WorkerThreads(WorkQueue* queue, int threads, Handler handler, absl::Duration sweep_interval, Sweep sweep)
      : queue_(queue), threads_(threads), handler_(std::move(handler)),
        sweep_interval_(sweep_interval), sweep_(std::move(sweep)) {}
  ~WorkerThreads() { Stop(); }

  void Start() {
    for (int i = 0; i < threads_; ++i) {
      running_.emplace_back([this] {
        while (!stopping_) {
          auto item = queue_->Pop(absl::Milliseconds(500));
          if (!item) continue;
          absl::Status status = handler_(*item);
          if (!status.ok() && status.code() != absl::StatusCode::kNotFound) {
            LogWarning("work item not recorded", {{"stack_run", item->id}, {"error", status.ToString()}});
          }
        }
      });
    }
    running_.emplace_back([this] {
      while (!stopping_) {
        sweep_();
        const absl::Time until = absl::Now() + sweep_interval_;
        while (!stopping_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(50));
      }
    });
  }

  // Lets in-flight items finish; queued ones stay in storage for others.
  void Stop() {
    if (stopping_.exchange(true)) return;
    queue_->Close();
    for (auto& t : running_) t.join();
  }

  bool stopping() const { return stopping_; }

  // Counts the items being processed while alive.
  class InFlight {
   public:
    explicit InFlight(std::atomic<int>* count) : count_(count) { ++*count_; }
    ~InFlight() { --*count_; }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    std::atomic<int>* count_;
  };

 private:
  WorkQueue* queue_;
  int threads_;
  Handler handler_;
  absl::Duration sweep_interval_;
  Sweep sweep_;
  std::vector<std::thread> running_;
  std::atomic<bool> stopping_{false};
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_COMMON_WORKER_THREADS_H_
