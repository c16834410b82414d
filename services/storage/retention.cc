#include "services/storage/retention.h"

#include "absl/time/clock.h"
#include "runtime/common/log.h"

namespace tasker::storage {

RetentionSweeper::RetentionSweeper(Store* store, RetentionConfig config) : store_(store), config_(config) {
  if (config_.retention > absl::ZeroDuration()) thread_ = std::thread([this] { Loop(); });
}

RetentionSweeper::~RetentionSweeper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int64_t> RetentionSweeper::SweepOnce() {
  int64_t total = 0;
  while (true) {
    auto purged = store_->PurgeFinishedRuns(absl::Now() - config_.retention, config_.batch);
    if (!purged.ok()) return purged.status();
    total += *purged;
    purged_ += *purged;
    if (*purged < config_.batch) break;
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) break;
  }
  return total;
}

void RetentionSweeper::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    auto purged = SweepOnce();
    if (!purged.ok()) {
      LogWarning("retention sweep failed", {{"error", purged.status().ToString()}});
    } else if (*purged > 0) {
      LogInfo("finished runs deleted", {{"runs", std::to_string(*purged)}});
    }
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoMilliseconds(config_.interval), [this] { return stop_; });
  }
}

}  // namespace tasker::storage
