#include "runtime/js/live_run.h"

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/js/array_buffer_budget.h"
#include "runtime/js/natives.h"
#include "runtime/js/v8_setup.h"
#include "runtime/js/watchdog.h"
#include "v8.h"

namespace tasker::js {

namespace {

void SetFailure(Outcome* out, FailureKind kind, std::string name, std::string message, std::string stack = "") {
  out->kind = Outcome::Kind::kFailed;
  out->failure = kind;
  out->error_name = std::move(name);
  out->error_message = std::move(message);
  out->error_stack = std::move(stack);
  out->result_json.clear();
  out->calls.clear();
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

}  // namespace

LiveRun::LiveRun(const Limits& limits) : state_(std::make_unique<IsolateState>()) { state_->limits = limits; }

LiveRun::~LiveRun() {
  if (creator_) {
    if (runtime_) runtime_->Reset();
    if (context_) context_->Reset();
    isolate_->Enter();  // balanced by the creator's own Exit
    creator_.reset();
  }
}

void LiveRun::set_replaying(bool replaying) { state_->replaying = replaying; }

namespace {

// Isolates of finished runs kept for the next run of the same code, per
// thread (an isolate without a Locker stays on its thread).
constexpr size_t kMaxReusable = 4;
constexpr size_t kMaxReusableHeap = size_t{8} << 20;

struct Kept {
  std::string code;
  std::thread::id thread;
  std::unique_ptr<LiveRun> run;
};

struct Reusable {
  std::mutex mu;
  std::deque<Kept> runs;  // oldest first
};

Reusable& KeptRuns() {
  static Reusable* kept = new Reusable();
  return *kept;
}

}  // namespace

void LiveRun::Release(std::unique_ptr<LiveRun> run) {
  if (!run) return;
  if (!run->finished_ || run->spent_ || !run->blob_.empty() || run->code_.empty() || !run->creator_ ||
      run->state_->memory_exceeded || run->state_->time_exceeded || run->heap_bytes_ > kMaxReusableHeap ||
      (run->array_buffers_ && run->array_buffers_->exceeded())) {
    return;  // destroyed here
  }
  run->runtime_->Reset();
  run->context_->Reset();
  std::unique_ptr<LiveRun> evicted;
  {
    Reusable& kept = KeptRuns();
    std::lock_guard<std::mutex> lock(kept.mu);
    std::string code = run->code_;
    kept.runs.push_back({std::move(code), std::this_thread::get_id(), std::move(run)});
    if (kept.runs.size() > kMaxReusable) {
      evicted = std::move(kept.runs.front().run);
      kept.runs.pop_front();
    }
  }
  // `evicted` is destroyed here, outside the lock.
}

namespace {

// Fresh isolates made ahead of need, per thread.
thread_local std::vector<std::unique_ptr<LiveRun>>* t_spares = nullptr;

std::vector<std::unique_ptr<LiveRun>>& Spares() {
  if (!t_spares) t_spares = new std::vector<std::unique_ptr<LiveRun>>();  // lives as long as the thread's work
  return *t_spares;
}

}  // namespace

bool LiveRun::PrepareSpare(int max) {
  if (static_cast<int>(Spares().size()) >= max) return false;
  InitializeV8({});
  std::unique_ptr<LiveRun> run(new LiveRun(Limits{}));
  if (!run->CreateIsolate(nullptr).ok()) return false;
  Spares().push_back(std::move(run));
  return true;
}

int LiveRun::SpareIsolates() { return static_cast<int>(Spares().size()); }

int LiveRun::ReusableIsolates() {
  Reusable& kept = KeptRuns();
  std::lock_guard<std::mutex> lock(kept.mu);
  return static_cast<int>(kept.runs.size());
}

void LiveRun::Reuse(const Limits& limits) {
  state_ = std::make_unique<IsolateState>();
  state_->limits = limits;
  isolate_->SetData(0, state_.get());
  steps_ = 0;
  calls_made_ = 0;
  heap_bytes_ = 0;
  finished_ = false;
  if (array_buffers_) array_buffers_->ResetExceeded();
  v8::Isolate::Scope isolate_scope(isolate_);
  v8::HandleScope handle_scope(isolate_);
  context_ = std::make_unique<v8::Global<v8::Context>>(isolate_, v8::Context::New(isolate_));
  runtime_ = std::make_unique<v8::Global<v8::Object>>();
}

absl::Status LiveRun::CreateIsolate(const std::string* blob) {
  v8::StartupData startup{nullptr, 0};
  if (blob) {
    blob_ = *blob;
    startup = {blob_.data(), static_cast<int>(blob_.size())};
    if (!startup.IsValid()) {
      return absl::FailedPreconditionError("the checkpoint's snapshot is not valid for this V8 build");
    }
  }
  creator_ = std::make_unique<v8::SnapshotCreator>(ExternalReferences(), blob ? &startup : nullptr);
  isolate_ = creator_->GetIsolate();
  array_buffers_ = std::make_unique<ArrayBufferBudget>(size_t{static_cast<size_t>(HeapLimitMb())} << 20);
  if (!ArrayBufferBudget::Install(creator_.get(), isolate_, array_buffers_.get())) {
    static std::once_flag warned;
    std::call_once(warned, [] {
      fprintf(stderr, "tasker-js: cannot install the ArrayBuffer budget in this V8 build; ArrayBuffers are unbudgeted\n");
    });
    array_buffers_.reset();
  }
  // The creator entered the isolate on this thread; every use enters it
  // again for its own duration, so that runs can interleave on one thread.
  isolate_->Exit();
  isolate_->SetData(0, state_.get());
  isolate_->AddNearHeapLimitCallback(OnNearHeapLimit, isolate_);
  v8::Isolate::Scope isolate_scope(isolate_);
  v8::HandleScope handle_scope(isolate_);
  v8::Local<v8::Context> context = v8::Context::New(isolate_);
  context_ = std::make_unique<v8::Global<v8::Context>>(isolate_, context);
  runtime_ = std::make_unique<v8::Global<v8::Object>>();
  if (blob) {
    v8::Context::Scope context_scope(context);
    v8::Local<v8::Object> restored;
    if (!context->GetDataFromSnapshotOnce<v8::Object>(0).ToLocal(&restored)) {
      return absl::DataLossError("the checkpoint holds no runtime state");
    }
    runtime_->Reset(isolate_, restored);
    v8::Local<v8::Value> made;
    if (CallMethod(isolate_, context, restored, "callsMade", {}, &made) && made->IsNumber()) {
      calls_made_ = made->Int32Value(context).FromMaybe(0);
    } else {
      return absl::FailedPreconditionError("the checkpoint was written by another runtime prelude");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LiveRun>> LiveRun::Start(absl::string_view code, absl::string_view input_json,
                                                        const StartValues& values, const Limits& limits,
                                                        Outcome* out) {
  InitializeV8({});
  if (code.empty()) return absl::InvalidArgumentError("code: must not be empty");
  std::unique_ptr<LiveRun> run;
  {
    Reusable& kept = KeptRuns();
    std::lock_guard<std::mutex> lock(kept.mu);
    for (auto it = kept.runs.rbegin(); it != kept.runs.rend(); ++it) {
      if (it->code == code && it->thread == std::this_thread::get_id()) {
        run = std::move(it->run);
        kept.runs.erase(std::next(it).base());
        break;
      }
    }
  }
  if (run) {
    run->Reuse(limits);
  } else if (!Spares().empty()) {
    run = std::move(Spares().back());
    Spares().pop_back();
    run->state_->limits = limits;
  } else {
    run.reset(new LiveRun(limits));
    absl::Status created = run->CreateIsolate(nullptr);
    if (!created.ok()) return created;
  }
  run->code_ = std::string(code);
  run->state_->replaying = values.replaying;
  SetStepClock(values.clock_ms);
  *out = run->Step([&](v8::Local<v8::Context>, Outcome* step_out) {
    return run->Begin(code, input_json.empty() ? "null" : input_json, values, step_out);
  });
  ClearStepClock();
  if (out->kind != Outcome::Kind::kSuspended) {
    Release(std::move(run));
    return std::unique_ptr<LiveRun>();
  }
  return run;
}

absl::StatusOr<Outcome> LiveRun::Deliver(const CallResult& r, int64_t clock_ms) {
  if (finished_ || spent_) return absl::FailedPreconditionError("the run is no longer live");
  if (r.call_id.empty()) return absl::InvalidArgumentError("result.call_id: must not be empty");
  bool unknown = false;
  SetStepClock(clock_ms);
  Outcome out = Step([&](v8::Local<v8::Context> context, Outcome*) {
    v8::Local<v8::Value> args[] = {
        Str(isolate_, r.call_id), v8::Boolean::New(isolate_, r.ok), Str(isolate_, r.ok ? r.result_json : "null"),
        Str(isolate_, r.error_message), Str(isolate_, r.error_code), Str(isolate_, r.error_details_json)};
    v8::Local<v8::Value> settled;
    if (!CallMethod(isolate_, context, runtime_->Get(isolate_), "settle",
                    std::vector<v8::Local<v8::Value>>(args, args + 6), &settled)) {
      return false;
    }
    unknown = settled->IsFalse();
    return true;
  });
  ClearStepClock();
  if (unknown) {
    --steps_;
    finished_ = false;
    return absl::InvalidArgumentError(absl::StrCat("result.call_id: no pending call '", r.call_id, "'"));
  }
  return out;
}

template <typename Body>
Outcome LiveRun::Step(Body body) {
  Outcome out;
  out.kind = Outcome::Kind::kSuspended;  // until the body fails or Settle() says otherwise
  state_->logs = &out.logs;
  state_->logs_truncated = &out.logs_truncated;
  state_->log_bytes = 0;
  state_->log_lines = 0;
  const absl::Time start = absl::Now();
  {
    v8::Isolate::Scope isolate_scope(isolate_);
    v8::HandleScope handle_scope(isolate_);
    v8::Local<v8::Context> context = context_->Get(isolate_);
    v8::Context::Scope context_scope(context);
    // Every piece of task code a step runs is under the watchdog: the body,
    // the microtasks (then callbacks, thenables), describing a thrown value
    // (getters, toString) and reading the outcome (toJSON and getters of
    // the result, the error's message and stack).
    const uint64_t watch = Watchdog::Get().Arm(isolate_, &state_->time_exceeded, state_->limits.step_cpu);
    // Sets the failure of a limit the step reached, if any.
    auto limited = [&] {
      if (state_->memory_exceeded) {
        isolate_->CancelTerminateExecution();
        SetFailure(&out, FailureKind::kMemoryLimit, "MemoryLimit",
                   absl::StrCat("memory limit exceeded (the JavaScript heap reached its limit of ", HeapLimitMb(),
                                " MiB)"));
      } else if (array_buffers_ && array_buffers_->exceeded()) {
        isolate_->CancelTerminateExecution();
        SetFailure(&out, FailureKind::kMemoryLimit, "MemoryLimit",
                   absl::StrCat("memory limit exceeded (ArrayBuffer and typed array memory reached its limit of ",
                                array_buffers_->limit() >> 20, " MiB)"));
      } else if (state_->time_exceeded) {
        isolate_->CancelTerminateExecution();
        SetFailure(&out, FailureKind::kTimeLimit, "TimeLimit",
                   absl::StrCat("time limit exceeded (", absl::FormatDuration(state_->limits.step_cpu),
                                " of CPU per step)"));
      } else {
        return false;
      }
      return true;
    };
    bool ok;
    {
      v8::TryCatch try_catch(isolate_);
      ok = body(context, &out);
      if (ok) isolate_->PerformMicrotaskCheckpoint();
      if (!limited()) {
        if (!ok && out.error_message.empty()) {
          SetFailure(&out, FailureKind::kTaskError, ExceptionName(isolate_, context, try_catch),
                     DescribeException(isolate_, context, try_catch), ExceptionStack(isolate_, context, try_catch));
        } else if (!ok) {
          out.kind = Outcome::Kind::kFailed;
        }
      }
    }
    if (ok && out.kind != Outcome::Kind::kFailed) Settle(&out);
    limited();
    Watchdog::Get().Disarm(watch);
    // The watchdog terminates a step past its budget until disarmed.
    if (state_->time_exceeded) isolate_->CancelTerminateExecution();
    out.stats.run_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    // Code caches of the runtime's scripts this step compiled first, with
    // the functions it ran (not after a limit stopped it).
    const bool stopped = out.kind == Outcome::Kind::kFailed && out.failure != FailureKind::kTaskError;
    for (auto& [cache, script] : state_->uncached) {
      if (!stopped) cache->MakeFrom(script.Get(isolate_));
    }
    state_->uncached.clear();
  }
  ++steps_;
  if (out.kind != Outcome::Kind::kSuspended) finished_ = true;
  MeasureHeap();
  out.stats.heap_bytes = heap_bytes_;
  state_->logs = nullptr;
  state_->logs_truncated = nullptr;
  return out;
}

bool LiveRun::Begin(absl::string_view code, absl::string_view input_json, const StartValues& values, Outcome* out) {
  v8::Local<v8::Context> context = isolate_->GetCurrentContext();
  v8::Local<v8::Object> native = v8::Object::New(isolate_);
  v8::Local<v8::Function> log, random, load;
  if (!v8::Function::New(context, NativeLog).ToLocal(&log) ||
      !v8::Function::New(context, NativeRandom).ToLocal(&random) ||
      !v8::Function::New(context, NativeLoad).ToLocal(&load) ||
      !native->CreateDataProperty(context, Str(isolate_, "log"), log).FromMaybe(false) ||
      !native->CreateDataProperty(context, Str(isolate_, "random"), random).FromMaybe(false) ||
      !native->CreateDataProperty(context, Str(isolate_, "load"), load).FromMaybe(false)) {
    SetFailure(out, FailureKind::kUnsupportedState, "Internal", "the runtime's native functions could not be made");
    return false;
  }
  v8::ScriptOrigin prelude_origin(isolate_, Str(isolate_, "tasker:prelude"));
  v8::Local<v8::Script> prelude;
  v8::Local<v8::Value> prelude_fn;
  static ScriptCache& prelude_cache = ScriptCache::For("prelude");
  if (!prelude_cache.Compile(context, kPreludeSource, &prelude_origin).ToLocal(&prelude) ||
      !prelude->Run(context).ToLocal(&prelude_fn)) {
    SetFailure(out, FailureKind::kUnsupportedState, "Internal", "the runtime prelude failed to load");
    return false;
  }
  v8::Local<v8::Value> prelude_args[] = {context->Global(), native};
  v8::Local<v8::Value> runtime_value;
  if (!prelude_fn.As<v8::Function>()->Call(context, v8::Undefined(isolate_), 2, prelude_args).ToLocal(&runtime_value) ||
      !runtime_value->IsObject()) {
    SetFailure(out, FailureKind::kUnsupportedState, "Internal", "the runtime prelude failed to run");
    return false;
  }
  v8::Local<v8::Object> runtime = runtime_value.As<v8::Object>();
  runtime_->Reset(isolate_, runtime);
  prelude_cache.MakeAtStepEnd(isolate_, prelude);

  v8::ScriptOrigin origin = TaskOrigin(isolate_);
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> wrapper;
  if (!v8::Script::Compile(context, Str(isolate_, WrapTask(code)), &origin).ToLocal(&script) ||
      !script->Run(context).ToLocal(&wrapper)) {
    return false;  // SyntaxError: described from the TryCatch
  }
  v8::Local<v8::Value> task = wrapper;
  if (IsCommonJs(code)) {
    v8::Local<v8::Object> module = v8::Object::New(isolate_);
    v8::Local<v8::Object> exports = v8::Object::New(isolate_);
    // A data property (no setter of the task's can intercept it).
    if (!module->CreateDataProperty(context, Str(isolate_, "exports"), exports).FromMaybe(false)) return false;
    v8::Local<v8::Value> args[] = {module, exports};
    v8::Local<v8::Value> ignored;
    if (!wrapper.As<v8::Function>()->Call(context, v8::Undefined(isolate_), 2, args).ToLocal(&ignored)) return false;
    v8::Local<v8::Value> resolved;
    if (!CallMethod(isolate_, context, runtime, "resolveExport", {module}, &resolved)) return false;
    if (!resolved->IsFunction()) {
      SetFailure(out, FailureKind::kTaskError, "TypeError",
                 "the task module exports no function (module.exports, exports.handler or any exported function)");
      return false;
    }
    task = resolved;
  }
  const uint32_t hi = static_cast<uint32_t>(values.random_seed >> 32);
  const uint32_t lo = static_cast<uint32_t>(values.random_seed);
  return CallMethod(isolate_, context, runtime, "run",
                    {task, Str(isolate_, input_json), v8::Integer::NewFromUnsigned(isolate_, hi),
                     v8::Integer::NewFromUnsigned(isolate_, lo)},
                    nullptr);
}

// Reads the task's state after the microtask queue drained.
void LiveRun::Settle(Outcome* out) {
  v8::Local<v8::Context> context = isolate_->GetCurrentContext();
  v8::Local<v8::Object> runtime = runtime_->Get(isolate_);
  v8::TryCatch try_catch(isolate_);
  v8::Local<v8::Value> state_value;
  if (!runtime->Get(context, Str(isolate_, "state")).ToLocal(&state_value)) {
    SetFailure(out, FailureKind::kUnsupportedState, "Internal", "runtime state unreadable");
    return;
  }
  const std::string state = ToStd(isolate_, state_value);
  if (state == "fulfilled") {
    v8::Local<v8::Value> json;
    if (!CallMethod(isolate_, context, runtime, "resultJson", {}, &json)) {
      SetFailure(out, FailureKind::kTaskError, "TypeError", ToStd(isolate_, try_catch.Exception()));
      return;
    }
    out->result_json = ToStd(isolate_, json);
    if (out->result_json.size() > state_->limits.max_result_bytes) {
      const size_t size = out->result_json.size();
      out->result_json.clear();
      SetFailure(out, FailureKind::kLimitExceeded, "LimitExceeded",
                 absl::StrCat("result of ", size, " bytes exceeds the limit of ", state_->limits.max_result_bytes));
      return;
    }
    out->kind = Outcome::Kind::kCompleted;
    return;
  }
  if (state == "rejected") {
    v8::Local<v8::Value> info;
    if (CallMethod(isolate_, context, runtime, "errorInfo", {}, &info) && info->IsArray()) {
      auto array = info.As<v8::Array>();
      v8::Local<v8::Value> message, stack, name;
      if (array->Get(context, 0).ToLocal(&message) && array->Get(context, 1).ToLocal(&stack) &&
          array->Get(context, 2).ToLocal(&name)) {
        SetFailure(out, FailureKind::kTaskError, ToStd(isolate_, name), ToStd(isolate_, message),
                   ToStd(isolate_, stack));
        return;
      }
    }
    SetFailure(out, FailureKind::kTaskError, "Error", "the task failed");
    return;
  }
  // Still pending: waiting on host calls, new or earlier.
  v8::Local<v8::Value> calls_value;
  if (!CallMethod(isolate_, context, runtime, "takeCalls", {}, &calls_value) ||
      !(calls_value->IsNull() || calls_value->IsObject())) {
    SetFailure(out, FailureKind::kUnsupportedState, "Internal", "cannot read the task's host calls");
    return;
  }
  // The calls: a list of {call: [id, service, method, args], next} (a
  // checkpoint of an earlier prelude has them as an array of those arrays).
  std::vector<v8::Local<v8::Value>> entries;
  size_t count = 0;
  if (calls_value->IsArray()) {
    auto array = calls_value.As<v8::Array>();
    for (uint32_t i = 0; i < array->Length(); ++i) {
      v8::Local<v8::Value> entry;
      if (array->Get(context, i).ToLocal(&entry)) entries.push_back(entry);
    }
    count = entries.size();
  } else {
    v8::Local<v8::String> call_key = Str(isolate_, "call"), next_key = Str(isolate_, "next");
    for (v8::Local<v8::Value> node = calls_value; node->IsObject(); ++count) {
      v8::Local<v8::Value> entry, next;
      if (!node.As<v8::Object>()->Get(context, call_key).ToLocal(&entry) ||
          !node.As<v8::Object>()->Get(context, next_key).ToLocal(&next)) {
        break;
      }
      if (static_cast<int>(count) < state_->limits.max_calls_per_suspension) entries.push_back(entry);
      node = next;
    }
  }
  if (count > static_cast<size_t>(state_->limits.max_calls_per_suspension)) {
    SetFailure(out, FailureKind::kLimitExceeded, "LimitExceeded",
               absl::StrCat(count, " host calls in one step exceeds the limit of ",
                            state_->limits.max_calls_per_suspension));
    return;
  }
  for (const v8::Local<v8::Value>& entry_value : entries) {
    if (!entry_value->IsArray()) continue;
    auto entry = entry_value.As<v8::Array>();
    HostCall call;
    v8::Local<v8::Value> field;
    if (entry->Get(context, 0).ToLocal(&field)) call.call_id = ToStd(isolate_, field);
    if (entry->Get(context, 1).ToLocal(&field)) call.service = ToStd(isolate_, field);
    if (entry->Get(context, 2).ToLocal(&field)) call.method = ToStd(isolate_, field);
    if (entry->Get(context, 3).ToLocal(&field)) call.args_json = ToStd(isolate_, field);
    int index = 0;
    if (call.call_id.size() > 1 && absl::SimpleAtoi(call.call_id.substr(1), &index)) call.index = index;
    calls_made_ = std::max(calls_made_, index);
    out->calls.push_back(std::move(call));
  }
  v8::Local<v8::Value> pending;
  const int outstanding = CallMethod(isolate_, context, runtime, "pendingCount", {}, &pending)
                              ? pending->Int32Value(context).FromMaybe(0)
                              : 0;
  if (outstanding == 0) {
    SetFailure(out, FailureKind::kUnsupportedState, "Deadlock",
               "the task is waiting on a promise that no host call will settle (only host calls, "
               "timers and fetch settle promises here: no other event source exists)");
    return;
  }
  out->kind = Outcome::Kind::kSuspended;
}

void LiveRun::MeasureHeap() {
  v8::HeapStatistics stats;
  isolate_->GetHeapStatistics(&stats);
  heap_bytes_ = stats.total_physical_size() + stats.malloced_memory() + stats.external_memory();
}

}  // namespace tasker::js
