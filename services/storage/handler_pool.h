// The threads the Storage service runs store transactions on. gRPC's
// callback API has only a couple of threads for all handlers on a small
// machine; a transaction that waits (the SQLite writer, a commit's fsync, a
// Postgres round trip) must not hold one, or the service handles only that
// many requests at once and nothing accumulates for a group commit. Handlers
// post the transaction here and finish their reactor from this pool.
#ifndef TASKER_SERVICES_STORAGE_HANDLER_POOL_H_
#define TASKER_SERVICES_STORAGE_HANDLER_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tasker::storage {

class HandlerPool {
 public:
  // At most `max_queued` jobs wait; TryPost refuses more (the caller answers
  // RESOURCE_EXHAUSTED: clients back off rather than the queue growing).
  explicit HandlerPool(int threads, size_t max_queued = 100000) : max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  // Runs every job already posted, then stops.
  ~HandlerPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  bool TryPost(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (jobs_.size() >= max_queued_) return false;
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
  }
  // Jobs waiting for a thread (for metrics).
  size_t queued() {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
  }

 private:
  void Loop() {
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tasker::storage

#endif  // TASKER_SERVICES_STORAGE_HANDLER_POOL_H_
