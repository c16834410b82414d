// A bounded pool of database connections, opened lazily up to `capacity`.
// Thread-safe. Acquire blocks while every connection is in use.
#ifndef TASKER_STORAGE_SQL_POOL_H_
#define TASKER_STORAGE_SQL_POOL_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"

namespace tasker::storage::sql {

template <typename Conn>
class Pool {
 public:
  using Opener = std::function<absl::StatusOr<std::unique_ptr<Conn>>()>;
  Pool(int capacity, Opener open) : capacity_(capacity), open_(std::move(open)) {}

  absl::StatusOr<std::unique_ptr<Conn>> Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !idle_.empty() || opened_ < capacity_; });
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++opened_;
    lock.unlock();
    auto conn = open_();
    if (!conn.ok()) Discard();
    return conn;
  }

  // Returns a healthy connection to the pool.
  void Release(std::unique_ptr<Conn> conn) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(conn));
    cv_.notify_one();
  }

  // Forgets a broken connection (already destroyed by the caller).
  void Discard() {
    std::lock_guard<std::mutex> lock(mu_);
    --opened_;
    cv_.notify_one();
  }

 private:
  const int capacity_;
  Opener open_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int opened_ = 0;
};

}  // namespace tasker::storage::sql

#endif  // TASKER_STORAGE_SQL_POOL_H_
