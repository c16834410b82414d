// Structured logs: one JSON object per line on stderr.
//
//   Log(LogLevel::kInfo, "listening", {{"port", "50051"}});
//   -> {"ts":"2026-11-22T20:31:02.123Z","level":"info","component":"storage",
//       "msg":"listening","port":"50051"}
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

void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields = {});

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

// JSON string escaping (shared with other small JSON writers).
std::string JsonEscape(absl::string_view text);

}  // namespace tasker

#endif  // TASKER_RUNTIME_COMMON_LOG_H_
