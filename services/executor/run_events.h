// Run events: wakes watchers of a run (WatchRun) when the run ends on this
// executor (completed, failed, cancelled), so they read the final state at
// once instead of on their next poll. Progress in between (each suspension)
// and runs that end on other executors are found by polling, which backs
// off; waking on every step would cost a storage read per step per watcher.
// Only watched runs are tracked. Thread-safe.
#ifndef TASKER_SERVICES_EXECUTOR_RUN_EVENTS_H_
#define TASKER_SERVICES_EXECUTOR_RUN_EVENTS_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/time/time.h"
#include "tasker/v1/records.pb.h"

namespace tasker::services {

class RunEvents {
 public:
  // Called after a change to the run is durable; `final_run` is the run as
  // its end was recorded (watchers take it without reading storage again).
  void Changed(const std::string& run_id, const tasker::v1::TaskRunRecord* final_run = nullptr);

  // A watcher of one run, registered for its lifetime.
  class Watcher {
   public:
    Watcher(RunEvents* events, std::string run_id);
    ~Watcher();
    Watcher(const Watcher&) = delete;
    Watcher& operator=(const Watcher&) = delete;
    // Waits until the run changed since the last call (or since the watcher
    // was made), or `timeout` passed. True when it changed.
    bool Wait(absl::Duration timeout);
    // The run as its end was recorded here, once Wait saw it; null before.
    const tasker::v1::TaskRunRecord* final_run() const { return final_run_.get(); }

   private:
    RunEvents* events_;
    std::string run_id_;
    uint64_t seen_ = 0;
    std::shared_ptr<const tasker::v1::TaskRunRecord> final_run_;
  };

 private:
  struct Entry {
    int watchers = 0;
    uint64_t version = 0;
    std::shared_ptr<const tasker::v1::TaskRunRecord> final_run;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> watched_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_RUN_EVENTS_H_
