#include "runtime/js/watchdog.h"

#include "absl/time/clock.h"

namespace tasker::js {

Watchdog& Watchdog::Get() {
  static Watchdog* watchdog = new Watchdog();  // never destroyed: outlives every step
  return *watchdog;
}

Watchdog::Watchdog() : thread_([this] { Loop(); }) { thread_.detach(); }

absl::Duration Watchdog::CpuNow(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return absl::DurationFromTimespec(ts);
}

uint64_t Watchdog::Arm(v8::Isolate* isolate, std::atomic<bool>* exceeded, absl::Duration budget) {
  clockid_t clock{};
  pthread_getcpuclockid(pthread_self(), &clock);
  Entry entry{isolate, exceeded, clock, CpuNow(clock), budget, absl::Now() + budget * 3 + absl::Seconds(1)};
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t handle = next_++;
  armed_.emplace(handle, entry);
  if (idle_) cv_.notify_one();
  return handle;
}

void Watchdog::Disarm(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_.erase(handle);
}

void Watchdog::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (armed_.empty()) {
      idle_ = true;
      cv_.wait(lock, [this] { return !armed_.empty(); });
      idle_ = false;
    }
    // Armed: look every 10 ms (steps shorter than that are never checked).
    cv_.wait_for(lock, std::chrono::milliseconds(10));
    const absl::Time now = absl::Now();
    // A step past its budget is terminated again at every look until it is
    // disarmed: V8 10.2 swallows a termination in places (formatting an
    // error's stack whose toString throws), and task code could then run on.
    for (auto& [handle, e] : armed_) {
      if (e.fired || CpuNow(e.clock) - e.cpu_start > e.budget || now > e.wall_deadline) {
        e.fired = true;
        e.exceeded->store(true);
        e.isolate->TerminateExecution();
      }
    }
  }
}

}  // namespace tasker::js
