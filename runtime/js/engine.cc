// The cold API (a continuation per suspension) over LiveRun, CheckSyntax,
// and the names of failure kinds.
#include "runtime/js/engine.h"

#include <set>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "runtime/js/continuation.h"
#include "runtime/js/live_run.h"
#include "runtime/js/natives.h"
#include "runtime/js/v8_setup.h"
#include "v8.h"

namespace tasker::js {

namespace {

Outcome Failed(FailureKind kind, std::string name, std::string message) {
  Outcome out;
  out.kind = Outcome::Kind::kFailed;
  out.failure = kind;
  out.error_name = std::move(name);
  out.error_message = std::move(message);
  return out;
}

// Ends a cold step: a waiting run becomes a continuation.
void Suspend(LiveRun& run, Outcome* out) {
  auto checkpoint = run.Checkpoint(&out->stats);
  if (checkpoint.ok()) {
    out->continuation = std::move(*checkpoint);
    return;
  }
  std::vector<LogLine> logs = std::move(out->logs);
  const bool truncated = out->logs_truncated;
  const StepStats stats = out->stats;
  *out = checkpoint.status().code() == absl::StatusCode::kResourceExhausted
             ? Failed(FailureKind::kLimitExceeded, "LimitExceeded", std::string(checkpoint.status().message()))
             : Failed(FailureKind::kUnsupportedState, "UnsupportedState", std::string(checkpoint.status().message()));
  out->logs = std::move(logs);
  out->logs_truncated = truncated;
  out->stats = stats;
}

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
    case FailureKind::kNondeterminism:
      return "NONDETERMINISM";
  }
  return "UNKNOWN";
}

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
  thread_local absl::BitGen gen;
  Outcome out;
  auto run = LiveRun::Start(code, input_json, {.clock_ms = RealClockMs(), .random_seed = absl::Uniform<uint64_t>(gen)},
                            limits, &out);
  if (!run.ok()) return run.status();
  if (*run) Suspend(**run, &out);
  return out;
}

absl::StatusOr<Outcome> Resume(absl::string_view continuation, const std::vector<CallResult>& results,
                               const Limits& limits) {
  InitializeV8({});
  std::set<std::string> ids;
  for (const auto& r : results) {
    if (r.call_id.empty()) return absl::InvalidArgumentError("results: call_id must not be empty");
    if (!ids.insert(r.call_id).second) {
      return absl::InvalidArgumentError(absl::StrCat("results: call_id ", r.call_id, " appears twice"));
    }
  }
  const absl::Time start = absl::Now();
  auto restored = LiveRun::Restore(continuation, 1, limits);
  if (!restored.ok()) {
    return restored.status().code() == absl::StatusCode::kFailedPrecondition
               ? Failed(FailureKind::kVersionMismatch, "VersionMismatch", std::string(restored.status().message()))
               : Failed(FailureKind::kBadContinuation, "BadContinuation", std::string(restored.status().message()));
  }
  std::unique_ptr<LiveRun> run = std::move(*restored);
  const double restore_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  Outcome total;
  total.kind = Outcome::Kind::kSuspended;
  for (const CallResult& r : results) {
    auto out = run->Deliver(r, RealClockMs());
    if (!out.ok()) return out.status();
    for (auto& line : out->logs) total.logs.push_back(std::move(line));
    total.logs_truncated |= out->logs_truncated;
    total.stats.run_ms += out->stats.run_ms;
    for (auto& call : out->calls) total.calls.push_back(std::move(call));
    if (out->kind != Outcome::Kind::kSuspended) {
      out->logs = std::move(total.logs);
      out->logs_truncated = total.logs_truncated;
      out->stats.run_ms = total.stats.run_ms;
      out->stats.restore_ms = restore_ms;
      return std::move(*out);
    }
  }
  total.stats.restore_ms = restore_ms;
  Suspend(*run, &total);
  return total;
}

}  // namespace tasker::js
