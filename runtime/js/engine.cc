#include "runtime/js/engine.h"

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libplatform/libplatform.h"
#include "runtime/js/continuation.h"
#include "v8.h"

namespace tasker::js {

// Embedded prelude.js (generated).
extern const char kPreludeSource[];

namespace {

// ---------------------------------------------------------------------------
// Per-step state reached from native callbacks through isolate data slot 0.
struct StepState {
  const Limits* limits = nullptr;
  std::vector<LogLine>* logs = nullptr;
  bool* logs_truncated = nullptr;
  size_t log_bytes = 0;
  std::atomic<bool> time_exceeded{false};
  std::atomic<bool> memory_exceeded{false};
};

StepState* State(v8::Isolate* isolate) { return static_cast<StepState*>(isolate->GetData(0)); }

std::function<double()>* g_clock = nullptr;

double NowMs() { return g_clock && *g_clock ? (*g_clock)() : absl::ToUnixMillis(absl::Now()); }

// --- Native callbacks (every one is in kExternalReferences) ------------------
void NativeLog(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  StepState* state = State(isolate);
  if (!state || info.Length() < 2) return;
  v8::String::Utf8Value level(isolate, info[0]);
  v8::String::Utf8Value text(isolate, info[1]);
  const size_t size = text.length();
  if (state->logs->size() >= state->limits->max_log_lines ||
      state->log_bytes + size > state->limits->max_log_bytes) {
    *state->logs_truncated = true;
    return;
  }
  state->log_bytes += size;
  state->logs->push_back({NowMs(), *level ? *level : "log", *text ? std::string(*text, size) : ""});
}

void NativeRandom(const v8::FunctionCallbackInfo<v8::Value>& info) {
  thread_local absl::BitGen gen;
  info.GetReturnValue().Set(absl::Uniform<double>(gen, 0.0, 1.0));
}

// The order of this table is part of the continuation format: append only,
// and bump kExternalReferencesVersion on any change.
const intptr_t kExternalReferences[] = {
    reinterpret_cast<intptr_t>(NativeLog),
    reinterpret_cast<intptr_t>(NativeRandom),
    0,
};
constexpr uint16_t kExternalReferencesVersion = 1;

// ---------------------------------------------------------------------------
// The platform: V8's default one, with the wall clock behind our seam.
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
  void CallOnWorkerThread(std::unique_ptr<v8::Task> task) override {
    inner_->CallOnWorkerThread(std::move(task));
  }
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
  double CurrentClockTimeMillis() override { return NowMs(); }
  StackTracePrinter GetStackTracePrinter() override { return inner_->GetStackTracePrinter(); }
  v8::TracingController* GetTracingController() override { return inner_->GetTracingController(); }

 private:
  std::unique_ptr<v8::Platform> inner_;
};

TaskerPlatform* g_platform = nullptr;

// ---------------------------------------------------------------------------
// Stops JavaScript that uses more than its CPU budget.
class Watchdog {
 public:
  Watchdog(v8::Isolate* isolate, StepState* state, absl::Duration budget)
      : isolate_(isolate), state_(state), budget_(budget) {
    pthread_getcpuclockid(pthread_self(), &clock_);
    start_cpu_ = CpuNow();
    thread_ = std::thread([this] { Loop(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  absl::Duration CpuNow() {
    timespec ts{};
    clock_gettime(clock_, &ts);
    return absl::DurationFromTimespec(ts);
  }
  void Loop() {
    const absl::Time wall_deadline = absl::Now() + budget_ * 3 + absl::Seconds(1);
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_) {
      cv_.wait_for(lock, std::chrono::milliseconds(10));
      if (done_) break;
      if (CpuNow() - start_cpu_ > budget_ || absl::Now() > wall_deadline) {
        state_->time_exceeded = true;
        isolate_->TerminateExecution();
        break;
      }
    }
  }

  v8::Isolate* isolate_;
  StepState* state_;
  absl::Duration budget_;
  clockid_t clock_{};
  absl::Duration start_cpu_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

size_t OnNearHeapLimit(void* data, size_t current_heap_limit, size_t /*initial*/) {
  auto* isolate = static_cast<v8::Isolate*>(data);
  StepState* state = State(isolate);
  if (state) state->memory_exceeded = true;
  isolate->TerminateExecution();
  // Room for the termination to unwind; the step fails regardless.
  return current_heap_limit + 64 * 1024 * 1024;
}

// ---------------------------------------------------------------------------
v8::Local<v8::String> Str(v8::Isolate* isolate, absl::string_view text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                                 static_cast<int>(text.size()))
      .ToLocalChecked();
}

std::string ToStd(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 ? std::string(*utf8, utf8.length()) : std::string();
}

bool IsCommonJs(absl::string_view code) {
  static const std::regex kExports(R"((^|[^.\w$])(module\.exports|exports\.[A-Za-z_$][\w$]*)\s*=)");
  return std::regex_search(code.begin(), code.end(), kExports);
}

// Task code is wrapped on its own line so line numbers stay the user's.
std::string WrapTask(absl::string_view code) {
  if (IsCommonJs(code)) {
    return absl::StrCat("(function (module, exports) {\n", code, "\n})");
  }
  return absl::StrCat("(async function task(input) {\n", code, "\n})");
}

v8::ScriptOrigin TaskOrigin(v8::Isolate* isolate) {
  return v8::ScriptOrigin(isolate, Str(isolate, "task.js"), -1, 0);
}

// Message and location of an exception, "line L, column C: Name: message".
std::string DescribeException(v8::Isolate* isolate, v8::Local<v8::Context> context,
                              const v8::TryCatch& try_catch) {
  std::string text = try_catch.Exception().IsEmpty() ? "unknown error" : ToStd(isolate, try_catch.Exception());
  v8::Local<v8::Message> message = try_catch.Message();
  if (message.IsEmpty()) return text;
  int line = message->GetLineNumber(context).FromMaybe(0);
  int column = message->GetStartColumn(context).FromMaybe(0) + 1;
  return absl::StrCat("line ", line, ", column ", column, ": ", text);
}

std::string ExceptionName(v8::Isolate* isolate, v8::Local<v8::Context> context, const v8::TryCatch& try_catch) {
  v8::Local<v8::Value> e = try_catch.Exception();
  if (e.IsEmpty() || !e->IsObject()) return "Throw";
  v8::Local<v8::Value> name;
  if (e.As<v8::Object>()->Get(context, Str(isolate, "name")).ToLocal(&name) && name->IsString()) {
    return ToStd(isolate, name);
  }
  return "Error";
}

std::string ExceptionStack(v8::Isolate* isolate, v8::Local<v8::Context> context, const v8::TryCatch& try_catch) {
  v8::Local<v8::Value> stack;
  if (try_catch.StackTrace(context).ToLocal(&stack) && stack->IsString()) return ToStd(isolate, stack);
  return "";
}

class Step {
 public:
  Step(const Limits& limits) : limits_(limits) {
    state_.limits = &limits_;
    state_.logs = &out_.logs;
    state_.logs_truncated = &out_.logs_truncated;
  }

  // Runs one step; `blob` is the previous snapshot (empty: start).
  Outcome Run(const std::string& blob, absl::string_view code, absl::string_view input_json,
              const std::vector<CallResult>* results) {
    absl::Time t0 = absl::Now();
    v8::StartupData startup{blob.data(), static_cast<int>(blob.size())};
    if (!blob.empty() && !startup.IsValid()) {
      return Fail(FailureKind::kVersionMismatch, "VersionMismatch",
                  "the continuation's snapshot is not valid for this V8 build");
    }
    auto creator = std::make_unique<v8::SnapshotCreator>(kExternalReferences, blob.empty() ? nullptr : &startup);
    v8::Isolate* isolate = creator->GetIsolate();
    isolate->SetData(0, &state_);
    isolate->AddNearHeapLimitCallback(OnNearHeapLimit, isolate);
    bool snapshot = false;
    {
      v8::HandleScope handle_scope(isolate);
      v8::Local<v8::Context> context = v8::Context::New(isolate);
      v8::Context::Scope context_scope(context);
      out_.stats.restore_ms = blob.empty() ? 0 : absl::ToDoubleMilliseconds(absl::Now() - t0);
      snapshot = RunInContext(isolate, context, creator.get(), code, input_json, results);
    }
    if (!snapshot) {
      // The creator's isolate is disposed without a blob.
      creator.reset();
      return std::move(out_);
    }
    absl::Time snap_start = absl::Now();
    isolate->ClearKeptObjects();
    if (needs_full_gc_) {
      // Dead FinalizationRegistry targets must be collected and their
      // cleanup tasks run before the serializer sees them.
      isolate->LowMemoryNotification();
      while (v8::platform::PumpMessageLoop(g_platform->inner(), isolate)) {
      }
    }
    v8::StartupData created = creator->CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
    const absl::Time created_at = absl::Now();
    creator.reset();
    if (created.data == nullptr || created.raw_size <= 0) {
      delete[] created.data;
      return Fail(FailureKind::kUnsupportedState, "UnsupportedState", "V8 could not snapshot the task's state");
    }
    out_.stats.raw_bytes = static_cast<size_t>(created.raw_size);
    out_.continuation = EncodeContinuation(absl::string_view(created.data, created.raw_size),
                                           kExternalReferencesVersion, v8::V8::GetVersion());
    delete[] created.data;
    out_.stats.compress_ms = absl::ToDoubleMilliseconds(absl::Now() - created_at);
    out_.stats.stored_bytes = out_.continuation.size();
    out_.stats.snapshot_ms = absl::ToDoubleMilliseconds(absl::Now() - snap_start);
    if (out_.continuation.size() > limits_.max_continuation_bytes) {
      out_.continuation.clear();
      out_.calls.clear();
      return Fail(FailureKind::kLimitExceeded, "LimitExceeded",
                  absl::StrCat("continuation of ", out_.stats.stored_bytes, " bytes exceeds the limit of ",
                               limits_.max_continuation_bytes));
    }
    out_.kind = Outcome::Kind::kSuspended;
    return std::move(out_);
  }

 private:
  // Runs the JavaScript of the step inside the context's scopes. Returns
  // true when the step must end in a snapshot (the state is then attached).
  bool RunInContext(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::SnapshotCreator* creator,
                    absl::string_view code, absl::string_view input_json,
                    const std::vector<CallResult>* results) {
    const bool starting = results == nullptr;
    v8::Local<v8::Object> runtime;
    absl::Time run_start = absl::Now();
    {
      Watchdog watchdog(isolate, &state_, limits_.step_cpu);
      v8::TryCatch try_catch(isolate);
      bool ok = starting ? Begin(isolate, context, code, input_json, &runtime)
                         : Continue(isolate, context, *results, &runtime);
      if (ok) isolate->PerformMicrotaskCheckpoint();
      if (HitLimit(isolate)) return false;
      if (!ok) {
        if (out_.error_message.empty()) {
          Fail(FailureKind::kTaskError, ExceptionName(isolate, context, try_catch),
               DescribeException(isolate, context, try_catch), ExceptionStack(isolate, context, try_catch));
        }
        return false;
      }
    }
    out_.stats.run_ms = absl::ToDoubleMilliseconds(absl::Now() - run_start);
    if (!Settle(isolate, context, runtime)) return false;
    creator->AddData(context, runtime);
    creator->SetDefaultContext(context);
    return true;
  }

  Outcome Fail(FailureKind kind, std::string name, std::string message, std::string stack = "") {
    out_.kind = Outcome::Kind::kFailed;
    out_.failure = kind;
    out_.error_name = std::move(name);
    out_.error_message = std::move(message);
    out_.error_stack = std::move(stack);
    return out_;
  }

  bool HitLimit(v8::Isolate* isolate) {
    if (state_.memory_exceeded) {
      isolate->CancelTerminateExecution();
      Fail(FailureKind::kMemoryLimit, "MemoryLimit", "memory limit exceeded");
      return true;
    }
    if (state_.time_exceeded) {
      isolate->CancelTerminateExecution();
      Fail(FailureKind::kTimeLimit, "TimeLimit",
           absl::StrCat("time limit exceeded (", absl::FormatDuration(limits_.step_cpu), " of CPU per step)"));
      return true;
    }
    return false;
  }

  bool CallMethod(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> runtime,
                  const char* name, std::vector<v8::Local<v8::Value>> args, v8::Local<v8::Value>* result) {
    v8::Local<v8::Value> fn;
    if (!runtime->Get(context, Str(isolate, name)).ToLocal(&fn) || !fn->IsFunction()) return false;
    v8::Local<v8::Value> value;
    if (!fn.As<v8::Function>()->Call(context, runtime, static_cast<int>(args.size()), args.data()).ToLocal(&value)) {
      return false;
    }
    if (result) *result = value;
    return true;
  }

  bool Begin(v8::Isolate* isolate, v8::Local<v8::Context> context, absl::string_view code,
             absl::string_view input_json, v8::Local<v8::Object>* runtime) {
    v8::Local<v8::Object> native = v8::Object::New(isolate);
    native->Set(context, Str(isolate, "log"), v8::Function::New(context, NativeLog).ToLocalChecked()).Check();
    native->Set(context, Str(isolate, "random"), v8::Function::New(context, NativeRandom).ToLocalChecked()).Check();
    v8::ScriptOrigin prelude_origin(isolate, Str(isolate, "tasker:prelude"));
    v8::Local<v8::Script> prelude;
    v8::Local<v8::Value> prelude_fn;
    if (!v8::Script::Compile(context, Str(isolate, kPreludeSource), &prelude_origin).ToLocal(&prelude) ||
        !prelude->Run(context).ToLocal(&prelude_fn)) {
      Fail(FailureKind::kUnsupportedState, "Internal", "the runtime prelude failed to load");
      return false;
    }
    v8::Local<v8::Value> prelude_args[] = {context->Global(), native};
    v8::Local<v8::Value> runtime_value;
    if (!prelude_fn.As<v8::Function>()->Call(context, v8::Undefined(isolate), 2, prelude_args).ToLocal(&runtime_value)) {
      Fail(FailureKind::kUnsupportedState, "Internal", "the runtime prelude failed to run");
      return false;
    }
    *runtime = runtime_value.As<v8::Object>();

    v8::ScriptOrigin origin = TaskOrigin(isolate);
    v8::Local<v8::Script> script;
    v8::Local<v8::Value> wrapper;
    if (!v8::Script::Compile(context, Str(isolate, WrapTask(code)), &origin).ToLocal(&script) ||
        !script->Run(context).ToLocal(&wrapper)) {
      return false;  // SyntaxError: reported by the caller from the TryCatch
    }
    v8::Local<v8::Value> task = wrapper;
    if (IsCommonJs(code)) {
      v8::Local<v8::Object> module = v8::Object::New(isolate);
      v8::Local<v8::Object> exports = v8::Object::New(isolate);
      module->Set(context, Str(isolate, "exports"), exports).Check();
      v8::Local<v8::Value> args[] = {module, exports};
      v8::Local<v8::Value> ignored;
      if (!wrapper.As<v8::Function>()->Call(context, v8::Undefined(isolate), 2, args).ToLocal(&ignored)) return false;
      v8::Local<v8::Value> resolved;
      if (!CallMethod(isolate, context, *runtime, "resolveExport", {module}, &resolved)) return false;
      if (!resolved->IsFunction()) {
        Fail(FailureKind::kTaskError, "TypeError",
             "the task module exports no function (module.exports, exports.handler or any exported function)");
        return false;
      }
      task = resolved;
    }
    return CallMethod(isolate, context, *runtime, "run", {task, Str(isolate, input_json)}, nullptr);
  }

  bool Continue(v8::Isolate* isolate, v8::Local<v8::Context> context, const std::vector<CallResult>& results,
                v8::Local<v8::Object>* runtime) {
    v8::Local<v8::Object> restored;
    if (!context->GetDataFromSnapshotOnce<v8::Object>(0).ToLocal(&restored)) {
      Fail(FailureKind::kBadContinuation, "BadContinuation", "the continuation holds no runtime state");
      return false;
    }
    *runtime = restored;
    for (const CallResult& r : results) {
      v8::Local<v8::Value> args[] = {
          Str(isolate, r.call_id), v8::Boolean::New(isolate, r.ok), Str(isolate, r.ok ? r.result_json : "null"),
          Str(isolate, r.error_message), Str(isolate, r.error_code), Str(isolate, r.error_details_json)};
      v8::Local<v8::Value> settled;
      if (!CallMethod(isolate, context, restored, "settle", std::vector<v8::Local<v8::Value>>(args, args + 6),
                      &settled)) {
        return false;
      }
    }
    return true;
  }

  // Reads the task's state after the microtask queue drained. Returns true
  // when the step must end in a snapshot.
  bool Settle(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> runtime) {
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::Value> state_value;
    if (!runtime->Get(context, Str(isolate, "state")).ToLocal(&state_value)) {
      Fail(FailureKind::kUnsupportedState, "Internal", "runtime state unreadable");
      return false;
    }
    const std::string state = ToStd(isolate, state_value);
    if (state == "fulfilled") {
      v8::Local<v8::Value> json;
      if (!CallMethod(isolate, context, runtime, "resultJson", {}, &json)) {
        Fail(FailureKind::kTaskError, "TypeError", ToStd(isolate, try_catch.Exception()));
        return false;
      }
      out_.result_json = ToStd(isolate, json);
      if (out_.result_json.size() > limits_.max_result_bytes) {
        Fail(FailureKind::kLimitExceeded, "LimitExceeded",
             absl::StrCat("result of ", out_.result_json.size(), " bytes exceeds the limit of ",
                          limits_.max_result_bytes));
        out_.result_json.clear();
        return false;
      }
      out_.kind = Outcome::Kind::kCompleted;
      return false;
    }
    if (state == "rejected") {
      v8::Local<v8::Value> info;
      if (CallMethod(isolate, context, runtime, "errorInfo", {}, &info) && info->IsArray()) {
        auto array = info.As<v8::Array>();
        Fail(FailureKind::kTaskError, ToStd(isolate, array->Get(context, 2).ToLocalChecked()),
             ToStd(isolate, array->Get(context, 0).ToLocalChecked()),
             ToStd(isolate, array->Get(context, 1).ToLocalChecked()));
      } else {
        Fail(FailureKind::kTaskError, "Error", "the task failed");
      }
      return false;
    }
    // Still pending: it must be waiting on host calls made in this step.
    v8::Local<v8::Value> calls_value;
    if (!CallMethod(isolate, context, runtime, "takeCalls", {}, &calls_value) || !calls_value->IsArray()) {
      Fail(FailureKind::kUnsupportedState, "Internal", "cannot read the task's host calls");
      return false;
    }
    auto calls = calls_value.As<v8::Array>();
    if (calls->Length() == 0) {
      Fail(FailureKind::kUnsupportedState, "Deadlock",
           "the task is waiting on a promise that no host call will settle (timers and other "
           "event sources are not available; await __callHostTool__ results only)");
      return false;
    }
    if (static_cast<int>(calls->Length()) > limits_.max_calls_per_suspension) {
      Fail(FailureKind::kLimitExceeded, "LimitExceeded",
           absl::StrCat(calls->Length(), " host calls in one suspension exceeds the limit of ",
                        limits_.max_calls_per_suspension));
      return false;
    }
    for (uint32_t i = 0; i < calls->Length(); ++i) {
      auto entry = calls->Get(context, i).ToLocalChecked().As<v8::Array>();
      HostCall call;
      call.call_id = ToStd(isolate, entry->Get(context, 0).ToLocalChecked());
      call.service = ToStd(isolate, entry->Get(context, 1).ToLocalChecked());
      call.method = ToStd(isolate, entry->Get(context, 2).ToLocalChecked());
      call.args_json = ToStd(isolate, entry->Get(context, 3).ToLocalChecked());
      out_.calls.push_back(std::move(call));
    }
    // Hazards V8 10.2 cannot serialize become clear errors, not aborts. The
    // full GCs they need are paid only by tasks that use Intl or
    // FinalizationRegistry.
    v8::Local<v8::Value> needs;
    if (!CallMethod(isolate, context, runtime, "snapshotNeeds", {}, &needs) || !needs->IsArray()) {
      Fail(FailureKind::kUnsupportedState, "Internal", "cannot read the task's snapshot needs");
      return false;
    }
    const bool has_intl = needs.As<v8::Array>()->Get(context, 0).ToLocalChecked()->Int32Value(context).FromMaybe(0) > 0;
    needs_full_gc_ = needs.As<v8::Array>()->Get(context, 1).ToLocalChecked()->Int32Value(context).FromMaybe(0) > 0;
    if (has_intl) {
      isolate->ClearKeptObjects();
      isolate->LowMemoryNotification();
      v8::Local<v8::Value> hazard;
      if (CallMethod(isolate, context, runtime, "snapshotHazard", {}, &hazard) && hazard->IsString()) {
        out_.calls.clear();
        Fail(FailureKind::kUnsupportedState, "UnsupportedState", ToStd(isolate, hazard));
        return false;
      }
    }
    return true;
  }

  bool needs_full_gc_ = false;
  Limits limits_;
  StepState state_;
  Outcome out_;
};

std::once_flag g_init_once;

}  // namespace

const char* FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kTaskError:
      return "TASK_ERROR";
    case FailureKind::kTimeLimit:
      return "TIME_LIMIT";
    case FailureKind::kMemoryLimit:
      return "MEMORY_LIMIT";
    case FailureKind::kBadContinuation:
      return "BAD_CONTINUATION";
    case FailureKind::kVersionMismatch:
      return "VERSION_MISMATCH";
    case FailureKind::kUnsupportedState:
      return "UNSUPPORTED_STATE";
    case FailureKind::kLimitExceeded:
      return "LIMIT_EXCEEDED";
    case FailureKind::kRuntimeCrash:
      return "RUNTIME_CRASH";
  }
  return "UNKNOWN";
}

void InitializeV8(const EngineOptions& options) {
  std::call_once(g_init_once, [&] {
    g_clock = new std::function<double()>(options.clock_ms);
    const std::string flags = absl::StrCat("--max-old-space-size=", options.heap_limit_mb,
                                           " --no-expose-wasm --stack-size=900");
    v8::V8::SetFlagsFromString(flags.c_str(), flags.size());
    v8::V8::InitializeICUDefaultLocation("");
    g_platform = new TaskerPlatform(v8::platform::NewDefaultPlatform());
    v8::V8::InitializePlatform(g_platform);
    v8::V8::Initialize();
  });
}

uint16_t ExternalReferencesVersion() { return kExternalReferencesVersion; }

std::string V8Version() { return v8::V8::GetVersion(); }

absl::Status CheckSyntax(absl::string_view code) {
  InitializeV8({});
  v8::Isolate::CreateParams params;
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  params.array_buffer_allocator = allocator.get();
  v8::Isolate* isolate = v8::Isolate::New(params);
  absl::Status status;
  {
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::ScriptOrigin origin = TaskOrigin(isolate);
    v8::Local<v8::Script> script;
    if (!v8::Script::Compile(context, Str(isolate, WrapTask(code)), &origin).ToLocal(&script)) {
      status = absl::InvalidArgumentError(absl::StrCat("code: ", DescribeException(isolate, context, try_catch)));
    }
  }
  isolate->Dispose();
  return status;
}

absl::StatusOr<Outcome> Start(absl::string_view code, absl::string_view input_json, const Limits& limits) {
  InitializeV8({});
  if (code.empty()) return absl::InvalidArgumentError("code: must not be empty");
  Step step(limits);
  return step.Run("", code, input_json.empty() ? "null" : input_json, nullptr);
}

absl::StatusOr<Outcome> Resume(absl::string_view continuation, const std::vector<CallResult>& results,
                               const Limits& limits) {
  InitializeV8({});
  auto blob = DecodeContinuation(continuation, kExternalReferencesVersion, v8::V8::GetVersion());
  if (!blob.ok()) {
    Outcome out;
    out.kind = Outcome::Kind::kFailed;
    out.failure = blob.status().code() == absl::StatusCode::kFailedPrecondition ? FailureKind::kVersionMismatch
                                                                               : FailureKind::kBadContinuation;
    out.error_name = out.failure == FailureKind::kVersionMismatch ? "VersionMismatch" : "BadContinuation";
    out.error_message = std::string(blob.status().message());
    return out;
  }
  std::set<std::string> ids;
  for (const auto& r : results) {
    if (r.call_id.empty()) return absl::InvalidArgumentError("results: call_id must not be empty");
    if (!ids.insert(r.call_id).second) {
      return absl::InvalidArgumentError(absl::StrCat("results: call_id ", r.call_id, " appears twice"));
    }
  }
  Step step(limits);
  return step.Run(*blob, "", "", &results);
}

}  // namespace tasker::js
