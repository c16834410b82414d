#include "runtime/common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tasker {
namespace {

std::mutex& LogMutex() {
  static std::mutex mu;
  return mu;
}
std::string& Component() {
  static std::string component = "tasker";
  return component;
}
std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
// The thread's context: a pointer to a context owned by a ScopedLogContext
// or its creator, or to the thread's own (SetThreadLogContext).
const LogContext& EmptyContext() {
  static const LogContext* empty = new LogContext();
  return *empty;
}
thread_local const LogContext* t_context = nullptr;
thread_local LogContext t_request_context;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void SetLogComponent(absl::string_view component) {
  std::lock_guard<std::mutex> lock(LogMutex());
  Component() = std::string(component);
}

void SetLogLevel(LogLevel min_level) {
  g_min_level.store(static_cast<int>(min_level));
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed); }

const LogContext& CurrentLogContext() { return t_context != nullptr ? *t_context : EmptyContext(); }

ScopedLogContext::ScopedLogContext(const LogContext& context) : previous_(t_context) { t_context = &context; }

ScopedLogContext::ScopedLogContext(LogContext&& context) : owned_(std::move(context)), previous_(t_context) {
  t_context = &owned_;
}

ScopedLogContext::~ScopedLogContext() { t_context = previous_; }

void SetThreadLogContext(LogContext context) {
  t_request_context = std::move(context);
  t_context = &t_request_context;
}

bool ParseLogLevel(absl::string_view text, LogLevel* level) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning,
                     LogLevel::kError}) {
    if (text == LevelName(l)) {
      *level = l;
      return true;
    }
  }
  return false;
}

std::string JsonEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  std::string line = absl::StrCat(
      "{\"ts\":\"",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      "\",\"level\":\"", LevelName(level), "\"");
  {
    std::lock_guard<std::mutex> lock(LogMutex());
    absl::StrAppend(&line, ",\"service\":\"", JsonEscape(Component()), "\"");
  }
  absl::StrAppend(&line, ",\"msg\":\"", JsonEscape(msg), "\"");
  // The context's ids, unless the line names them itself.
  bool has_trace = false, has_run = false, has_stack_run = false;
  for (const auto& field : fields) {
    has_trace = has_trace || field.first == "trace_id";
    has_run = has_run || field.first == "run_id";
    has_stack_run = has_stack_run || field.first == "stack_run_id";
  }
  const LogContext& context = CurrentLogContext();
  if (!has_trace && !context.trace_id.empty()) {
    absl::StrAppend(&line, ",\"trace_id\":\"", JsonEscape(context.trace_id), "\"");
  }
  if (!has_run && !context.run_id.empty()) {
    absl::StrAppend(&line, ",\"run_id\":\"", JsonEscape(context.run_id), "\"");
  }
  if (!has_stack_run && !context.stack_run_id.empty()) {
    absl::StrAppend(&line, ",\"stack_run_id\":\"", JsonEscape(context.stack_run_id), "\"");
  }
  for (const auto& [key, value] : fields) {
    // A field must not repeat a key every line has (a JSON object with a
    // duplicate key reads differently in different parsers).
    const bool reserved = key == "ts" || key == "level" || key == "service" || key == "msg";
    absl::StrAppend(&line, ",\"", reserved ? "field_" : "", JsonEscape(key), "\":\"", JsonEscape(value), "\"");
  }
  line += "}\n";
  std::lock_guard<std::mutex> lock(LogMutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace tasker
