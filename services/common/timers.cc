#include "services/common/timers.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace tasker::services {

absl::StatusOr<int64_t> TimerDelayMs(absl::string_view method, absl::string_view args_json) {
  if (method != "sleep") {
    return absl::InvalidArgumentError(absl::StrCat("method: timer has no method '", method, "'; supported: sleep"));
  }
  const auto args = nlohmann::json::parse(args_json.begin(), args_json.end(), nullptr, /*allow_exceptions=*/false);
  constexpr double kMaxMs = 366.0 * 24 * 3600 * 1000;
  if (!args.is_object() || !args.contains("ms") || !args["ms"].is_number() || !(args["ms"].get<double>() >= 0) ||
      args["ms"].get<double>() > kMaxMs) {
    return absl::InvalidArgumentError("args.ms: a number of milliseconds within 0..31622400000 (a year) is required");
  }
  return static_cast<int64_t>(args["ms"].get<double>());
}

}  // namespace tasker::services
