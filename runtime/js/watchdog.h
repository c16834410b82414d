// The CPU watchdog: one thread per process that stops JavaScript running
// longer than its step's CPU budget (or three times it in wall time, plus a
// second, when the thread is starved). Arm() before a step, Disarm() after;
// both are cheap (no thread is created per step). Once past its budget, a
// step's isolate is terminated again every 10 ms until Disarm(): callers
// CancelTerminateExecution() after Disarm().
#ifndef TASKER_RUNTIME_JS_WATCHDOG_H_
#define TASKER_RUNTIME_JS_WATCHDOG_H_

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <map>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "v8.h"

namespace tasker::js {

class Watchdog {
 public:
  // The process's watchdog (started on first use).
  static Watchdog& Get();

  // Watches the calling thread's CPU time while it runs `isolate`; sets
  // *exceeded and terminates the isolate's execution past `budget`. Several
  // threads may be armed at once. Returns the handle for Disarm().
  uint64_t Arm(v8::Isolate* isolate, std::atomic<bool>* exceeded, absl::Duration budget);
  void Disarm(uint64_t handle);

  // RAII arming of the watchdog for one step.
  class Scope {
   public:
    Scope(v8::Isolate* isolate, std::atomic<bool>* exceeded, absl::Duration budget)
        : handle_(Get().Arm(isolate, exceeded, budget)) {}
    ~Scope() { Get().Disarm(handle_); }

   private:
    uint64_t handle_;
  };

 private:
  struct Entry {
    v8::Isolate* isolate;
    std::atomic<bool>* exceeded;
    clockid_t clock;
    absl::Duration cpu_start;
    absl::Duration budget;
    absl::Time wall_deadline;
    bool fired = false;
  };

  Watchdog();
  void Loop();
  static absl::Duration CpuNow(clockid_t clock);

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> armed_;
  uint64_t next_ = 1;
  bool idle_ = true;
  std::thread thread_;
};

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_WATCHDOG_H_
