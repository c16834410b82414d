#include "runtime/js/v8_setup.h"

#include <cmath>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libplatform/libplatform.h"
#include "runtime/js/natives.h"

namespace tasker::js {

namespace {

thread_local bool t_step_clock_set = false;
thread_local int64_t t_step_clock_ms = 0;

const intptr_t kExternalReferences[] = {
    reinterpret_cast<intptr_t>(NativeLog),
    reinterpret_cast<intptr_t>(NativeRandom),
    reinterpret_cast<intptr_t>(NativeLoad),
    0,
};
// 2: the warm-run prelude (journaled clock, seeded Math.random).
// 3: the task globals of issue 14, their sections loaded by NativeLoad.
constexpr uint16_t kExternalReferencesVersion = 3;

// V8's default platform, with the wall clock behind the step clock.
class TaskerPlatform : public v8::Platform {
 public:
  explicit TaskerPlatform(std::unique_ptr<v8::Platform> inner) : inner_(std::move(inner)) {}
  v8::Platform* inner() { return inner_.get(); }

  v8::PageAllocator* GetPageAllocator() override { return inner_->GetPageAllocator(); }
  void OnCriticalMemoryPressure() override { inner_->OnCriticalMemoryPressure(); }
  bool OnCriticalMemoryPressure(size_t length) override { return inner_->OnCriticalMemoryPressure(length); }
  int NumberOfWorkerThreads() override { return inner_->NumberOfWorkerThreads(); }
  std::shared_ptr<v8::TaskRunner> GetForegroundTaskRunner(v8::Isolate* isolate) override {
    return inner_->GetForegroundTaskRunner(isolate);
  }
  void CallOnWorkerThread(std::unique_ptr<v8::Task> task) override { inner_->CallOnWorkerThread(std::move(task)); }
  void CallBlockingTaskOnWorkerThread(std::unique_ptr<v8::Task> task) override {
    inner_->CallBlockingTaskOnWorkerThread(std::move(task));
  }
  void CallLowPriorityTaskOnWorkerThread(std::unique_ptr<v8::Task> task) override {
    inner_->CallLowPriorityTaskOnWorkerThread(std::move(task));
  }
  void CallDelayedOnWorkerThread(std::unique_ptr<v8::Task> task, double delay) override {
    inner_->CallDelayedOnWorkerThread(std::move(task), delay);
  }
  bool IdleTasksEnabled(v8::Isolate* isolate) override { return inner_->IdleTasksEnabled(isolate); }
  std::unique_ptr<v8::JobHandle> PostJob(v8::TaskPriority priority,
                                         std::unique_ptr<v8::JobTask> job_task) override {
    return inner_->PostJob(priority, std::move(job_task));
  }
  double MonotonicallyIncreasingTime() override { return inner_->MonotonicallyIncreasingTime(); }
  double CurrentClockTimeMillis() override {
    return t_step_clock_set ? static_cast<double>(t_step_clock_ms) : static_cast<double>(RealClockMs());
  }
  StackTracePrinter GetStackTracePrinter() override { return inner_->GetStackTracePrinter(); }
  v8::TracingController* GetTracingController() override { return inner_->GetTracingController(); }

 private:
  std::unique_ptr<v8::Platform> inner_;
};

TaskerPlatform* g_platform = nullptr;
int g_heap_limit_mb = 256;
std::once_flag g_init_once;

}  // namespace

const intptr_t* ExternalReferences() { return kExternalReferences; }
uint16_t ExternalReferencesVersion() { return kExternalReferencesVersion; }
std::string V8Version() { return v8::V8::GetVersion(); }
v8::Platform* DefaultPlatform() { return g_platform ? g_platform->inner() : nullptr; }

void SetStepClock(int64_t clock_ms) {
  t_step_clock_set = true;
  t_step_clock_ms = clock_ms;
}
void ClearStepClock() { t_step_clock_set = false; }
int HeapLimitMb() { return g_heap_limit_mb; }
int64_t RealClockMs() { return absl::ToUnixMillis(absl::Now()); }

void InitializeV8(const EngineOptions& options) {
  std::call_once(g_init_once, [&] {
    g_heap_limit_mb = options.heap_limit_mb;
    const std::string flags = absl::StrCat("--max-old-space-size=", options.heap_limit_mb,
                                           " --no-expose-wasm --stack-size=900 --single-threaded-gc");
    v8::V8::SetFlagsFromString(flags.c_str(), flags.size());
    v8::V8::InitializeICUDefaultLocation("");
    g_platform = new TaskerPlatform(v8::platform::NewDefaultPlatform());
    v8::V8::InitializePlatform(g_platform);
    v8::V8::Initialize();
  });
}

}  // namespace tasker::js
