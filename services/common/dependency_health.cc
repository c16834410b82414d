#include "services/common/dependency_health.h"

#include <chrono>

#include "runtime/client/channel.h"

namespace tasker::services {

DependencyHealth::DependencyHealth(std::vector<Dependency> dependencies, OnChange on_change, absl::Duration interval,
                                   absl::Duration timeout)
    : dependencies_(std::move(dependencies)), on_change_(std::move(on_change)), interval_(interval),
      timeout_(timeout) {}

DependencyHealth::~DependencyHealth() { Stop(); }

void DependencyHealth::Start() {
  if (thread_.joinable() || dependencies_.empty()) return;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      lock.unlock();
      CheckOnce();
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(interval_)),
                   [this] { return stopping_; });
    }
  });
}

void DependencyHealth::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> DependencyHealth::CheckOnce() {
  std::vector<std::string> down;
  for (const auto& dependency : dependencies_) {
    auto health = CheckHealth(dependency.channel, "", timeout_);
    if (!health.ok() || *health != HealthStatus::kServing) down.push_back(dependency.name);
  }
  const bool serving = down.empty();
  if (!reported_ || serving != serving_.load()) {
    reported_ = true;
    serving_ = serving;
    if (on_change_) on_change_(serving, down);
  }
  return down;
}

}  // namespace tasker::services
