// The JavaScript engine of Tasker: the types shared by the runtime, and a
// cold, snapshot-per-suspension API over it.
//
// The hot path is LiveRun (live_run.h): a run's isolate stays alive between
// host calls. Checkpoints (the continuation format, continuation.h) are
// written off the hot path; Rebuild (replay.h) restores a checkpoint and
// replays the journal. This file's Start/Resume turn every suspension into a
// continuation (checkpoint + restore per step): the cold path, used to test
// checkpoint fidelity and by the engine benchmark.
//
//   InitializeV8({});                                   // once per process
//   auto out = Start(code, R"({"customer":"x"})", limits);
//   while (out->kind == Outcome::Kind::kSuspended) {
//     std::vector<CallResult> results = PerformCalls(out->calls);
//     out = Resume(out->continuation, results, limits);  // any process
//   }
//
// A fatal V8 error (an abort) takes the whole process down: callers that
// must survive it run in worker processes (worker_host.h).
#ifndef TASKER_RUNTIME_JS_ENGINE_H_
#define TASKER_RUNTIME_JS_ENGINE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tasker::js {

struct EngineOptions {
  // Old-generation heap limit for every isolate in the process, in MiB.
  int heap_limit_mb = 256;
};

struct Limits {
  // CPU time one step (start or resume to the next suspension) may use.
  absl::Duration step_cpu = absl::Seconds(10);
  int max_calls_per_suspension = 256;
  size_t max_continuation_bytes = 64 << 20;
  // The run's result, JSON (kMaxPayloadBytes, 16 MiB).
  size_t max_result_bytes = 16 << 20;
  size_t max_log_bytes = 256 << 10;
  size_t max_log_lines = 2000;
};

struct HostCall {
  std::string call_id;  // "c<index>"
  std::string service;
  std::string method;  // dotted
  std::string args_json;
  int index = 0;  // the call's number in the run, 1-based
};

struct CallResult {
  std::string call_id;
  bool ok = true;
  std::string result_json = "null";  // when ok
  std::string error_message;         // when !ok
  std::string error_code;
  std::string error_details_json;    // optional
};

struct LogLine {
  double time_ms = 0;
  std::string level;
  std::string message;
};

enum class FailureKind {
  kTaskError,         // the task threw or rejected
  kTimeLimit,         // the step used more than Limits::step_cpu
  kMemoryLimit,       // the heap limit was reached
  kBadContinuation,   // corrupt or truncated continuation
  kVersionMismatch,   // continuation from another format / V8 / native table
  kUnsupportedState,  // state V8 cannot snapshot, or a task waiting on nothing
  kLimitExceeded,     // too many calls, too large a result or continuation
  kRuntimeCrash,      // the worker process running the step died
  kNondeterminism,    // replay diverged from the journal
};

const char* FailureKindName(FailureKind kind);

struct StepStats {
  double restore_ms = 0;   // deserialising the previous continuation
  double run_ms = 0;       // JavaScript
  double snapshot_ms = 0;  // CreateBlob + compression
  double compress_ms = 0;  // of which compression
  size_t raw_bytes = 0;    // uncompressed snapshot
  size_t stored_bytes = 0; // continuation as stored
  size_t heap_bytes = 0;   // the isolate's heap after the step
};

struct Outcome {
  enum class Kind { kCompleted, kFailed, kSuspended };
  Kind kind = Kind::kFailed;
  // kCompleted
  std::string result_json;
  // kFailed
  FailureKind failure = FailureKind::kTaskError;
  std::string error_name;
  std::string error_message;
  std::string error_stack;
  // kSuspended: waiting on host calls (those made in this step, if any, and
  // earlier ones). The cold API also sets the continuation.
  std::string continuation;
  std::vector<HostCall> calls;
  // Every step
  std::vector<LogLine> logs;
  bool logs_truncated = false;
  StepStats stats;
};

// Initialises V8 once per process (later calls are no-ops).
void InitializeV8(const EngineOptions& options);

// Version of the native callback table; part of the continuation format.
uint16_t ExternalReferencesVersion();
// The V8 version string this process runs.
std::string V8Version();

// Checks that `code` compiles as a task. INVALID_ARGUMENT with
// "line L, column C: SyntaxError: ..." otherwise.
absl::Status CheckSyntax(absl::string_view code);

// Runs a task from the start with `input_json` as its input.
// INVALID_ARGUMENT when input_json is not JSON; task failures are outcomes.
absl::StatusOr<Outcome> Start(absl::string_view code, absl::string_view input_json,
                              const Limits& limits);

// Resumes a suspended task, settling each pending call with its result.
// A bad continuation is a kFailed outcome (kBadContinuation /
// kVersionMismatch), never a crash. INVALID_ARGUMENT when `results` do not
// match the pending calls.
absl::StatusOr<Outcome> Resume(absl::string_view continuation, const std::vector<CallResult>& results,
                               const Limits& limits);

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_ENGINE_H_
