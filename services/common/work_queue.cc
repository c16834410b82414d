#include "services/common/work_queue.h"

#include <chrono>

namespace tasker::services {

bool WorkQueue::Push(WorkItem item, absl::Time at) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_ || queued_.size() >= max_items_ || !queued_.insert(item).second) return false;
  due_.emplace(at, std::move(item));
  cv_.notify_one();
  return true;
}

std::optional<WorkItem> WorkQueue::Pop(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  while (!closed_) {
    const absl::Time now = absl::Now();
    if (!due_.empty() && due_.begin()->first <= now) {
      WorkItem item = due_.begin()->second;
      due_.erase(due_.begin());
      queued_.erase(item);
      return item;
    }
    if (now >= deadline) return std::nullopt;
    absl::Time wake = deadline;
    if (!due_.empty() && due_.begin()->first < wake) wake = due_.begin()->first;
    cv_.wait_for(lock, std::chrono::microseconds(std::max<int64_t>(1, absl::ToInt64Microseconds(wake - now))));
  }
  return std::nullopt;
}

void WorkQueue::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

}  // namespace tasker::services
