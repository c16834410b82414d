// Durable timers: a task's setTimeout is the host call
// __callHostTool__('timer', 'sleep', {ms}). The executor records it delayed
// by `ms` (HostCall.delay_ms); a processor performs it when due, without the
// proxy. It is a call like any other: journaled, surviving restarts.
#ifndef TASKER_SERVICES_COMMON_TIMERS_H_
#define TASKER_SERVICES_COMMON_TIMERS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tasker::services {

inline constexpr char kTimerService[] = "timer";

// The delay of a timer call: its `ms` (a number >= 0, fractions truncated,
// at most one year). INVALID_ARGUMENT naming the field otherwise.
absl::StatusOr<int64_t> TimerDelayMs(absl::string_view method, absl::string_view args_json);

}  // namespace tasker::services

#endif  // TASKER_SERVICES_COMMON_TIMERS_H_
