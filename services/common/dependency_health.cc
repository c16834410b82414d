#include "services/common/dependency_health.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"

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
  down_.resize(dependencies_.size(), false);
  for (size_t i = 0; i < dependencies_.size(); ++i) {
    const Dependency& dependency = dependencies_[i];
    absl::Status status;
    if (dependency.check) {
      status = dependency.check();
    } else {
      auto health = CheckHealth(dependency.channel, dependency.service, timeout_);
      if (!health.ok()) {
        status = health.status();
      } else if (*health != HealthStatus::kServing) {
        status = absl::UnavailableError(
            absl::StrCat("health of '", dependency.service, "' is ", *health == HealthStatus::kNotServing
                                                                            ? "NOT_SERVING"
                                                                            : "not SERVING"));
      }
    }
    if (!status.ok()) down.push_back(dependency.name);
    if (!status.ok() != down_[i]) {
      down_[i] = !status.ok();
      if (down_[i]) {
        LogWarning("dependency down", {{"dependency", dependency.name}, {"error", status.ToString()}});
      } else {
        LogInfo("dependency up", {{"dependency", dependency.name}});
      }
    }
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
