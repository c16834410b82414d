// A queue of work item ids, each runnable at a time (now, or later for
// retries), deduplicated while queued. Thread-safe.
#ifndef TASKER_SERVICES_COMMON_WORK_QUEUE_H_
#define TASKER_SERVICES_COMMON_WORK_QUEUE_H_

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tasker::services {

struct WorkItem {
  int kind = 0;  // tasker.v1.WorkKind
  std::string id;
  bool operator<(const WorkItem& other) const {
    return std::tie(kind, id) < std::tie(other.kind, other.id);
  }
};

class WorkQueue {
 public:
  // At most `max_items` wait; beyond, Push refuses (the item stays in
  // storage, where a sweep finds it).
  explicit WorkQueue(size_t max_items = 100000) : max_items_(max_items) {}
  // Returns false when the item was already queued, or the queue is full.
  bool Push(WorkItem item, absl::Time at = absl::InfinitePast());
  // Blocks until an item is due or `timeout` passes or Close() is called.
  std::optional<WorkItem> Pop(absl::Duration timeout);
  void Close();
  // Items waiting (due or not); for metrics.
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return queued_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<absl::Time, WorkItem> due_;
  std::set<WorkItem> queued_;
  bool closed_ = false;
  const size_t max_items_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_COMMON_WORK_QUEUE_H_
