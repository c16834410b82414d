// Structured logs: one JSON object per line on stderr.
//
//   Log(LogLevel::kInfo, "listening", {{"port", "50051"}});
//   -> {"ts":"2026-11-22T20:31:02.123Z","level":"info","service":"storage",
//       "msg":"listening","port":"50051"}
//
// A line also carries the ids of the thread's current log context (the run
// being worked on, the request being served): "trace_id", "run_id" and
// "stack_run_id" when known (ScopedLogContext below), so that one run can be
// followed through every service by its id (docs/observability.md).
//
// Thread-safe. Never log secrets: callers pass only what is safe to print.
#ifndef TASKER_RUNTIME_COMMON_LOG_H_
#define TASKER_RUNTIME_COMMON_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace tasker {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

using LogField = std::pair<absl::string_view, std::string>;

// Process-wide settings; set once at start-up.
void SetLogComponent(absl::string_view component);
void SetLogLevel(LogLevel min_level);
// Parses "debug", "info", "warning", "error".
bool ParseLogLevel(absl::string_view text, LogLevel* level);
// Whether a line at `level` would be written (to skip building costly fields).
bool LogEnabled(LogLevel level);

void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields = {});

// The fields are built before the call: on a hot path, guard a debug line
// whose fields cost something with `if (LogEnabled(LogLevel::kDebug))`.
inline void LogDebug(absl::string_view msg,
                     std::initializer_list<LogField> fields = {}) {
  if (LogEnabled(LogLevel::kDebug)) Log(LogLevel::kDebug, msg, fields);
}
inline void LogInfo(absl::string_view msg,
                    std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, msg, fields);
}
inline void LogWarning(absl::string_view msg,
                       std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarning, msg, fields);
}
inline void LogError(absl::string_view msg,
                     std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, msg, fields);
}

// What the current thread works on: added to each of its log lines, and
// carried by its outgoing gRPC calls (runtime/client/channel.h: the W3C
// `traceparent` header). Empty members are left out.
struct LogContext {
  std::string trace_id;      // 32 lowercase hex digits (W3C trace-id)
  std::string run_id;        // the task run
  std::string stack_run_id;  // the stack run (root or call)
  // The `traceparent` outgoing calls carry (built once: the same value on
  // every call of a context costs gRPC's header compression nothing).
  std::string traceparent;
  bool empty() const { return trace_id.empty() && run_id.empty() && stack_run_id.empty(); }
};

// The calling thread's context (empty when none is set).
const LogContext& CurrentLogContext();

// Sets the thread's context for the scope's life, then restores the
// previous one. The reference form copies nothing: `context` must outlive
// the scope (e.g. a context kept with the run it names).
class ScopedLogContext {
 public:
  explicit ScopedLogContext(const LogContext& context);
  explicit ScopedLogContext(LogContext&& context);
  ~ScopedLogContext();
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  LogContext owned_;
  const LogContext* previous_;
};

// Replaces the thread's context without restoring it (the gRPC server's
// per-request hooks set and clear it around each handler).
void SetThreadLogContext(LogContext context);

// JSON string escaping (shared with other small JSON writers).
std::string JsonEscape(absl::string_view text);

}  // namespace tasker

#endif  // TASKER_RUNTIME_COMMON_LOG_H_
