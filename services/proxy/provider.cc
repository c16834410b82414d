#include "services/proxy/provider.h"

#include "absl/strings/str_cat.h"
#include "runtime/common/log.h"

namespace tasker::proxy {

CallOutcome Denied(const CallContext& context, const absl::Status& status) {
  LogWarning("audit", {{"event", "permission_denied"},
                       {"identity", context.caller},
                       {"call_service", context.service},
                       {"call_method", context.method},
                       {"reason", std::string(status.message())}});
  return CallOutcome::Error("PERMISSION_DENIED",
                            absl::StrCat(context.service, ".", context.method, ": ", status.message()), false);
}

absl::StatusOr<Json> NormalizeArgs(const Json& args) {
  if (args.is_null()) return Json::object();
  if (args.is_object()) return args;
  if (args.is_array()) {
    if (args.empty()) return Json::object();
    if (args[0].is_object()) return args[0];
  }
  return absl::InvalidArgumentError("args: expected an object or [object]");
}

namespace {
const Json* Present(const Json& args, const char* key) {
  if (!args.is_object()) return nullptr;
  auto it = args.find(key);
  if (it == args.end() || it->is_null()) return nullptr;
  return &*it;
}
}  // namespace

absl::StatusOr<std::string> StringArg(const Json& args, const char* key, const std::string& fallback) {
  const Json* v = Present(args, key);
  if (v == nullptr) return fallback;
  if (!v->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("args.", key, ": expected a string, got ", v->type_name()));
  }
  return v->get<std::string>();
}

absl::StatusOr<std::string> ScalarArg(const Json& args, const char* key, const std::string& fallback) {
  const Json* v = Present(args, key);
  if (v == nullptr) return fallback;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number()) return v->dump();
  return absl::InvalidArgumentError(
      absl::StrCat("args.", key, ": expected a string or a number, got ", v->type_name()));
}

absl::StatusOr<int64_t> IntArg(const Json& args, const char* key, int64_t fallback, int64_t min, int64_t max) {
  const Json* v = Present(args, key);
  if (v == nullptr) return fallback;
  const std::string range = absl::StrCat("an integer within ", min, "..", max);
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(max) || static_cast<int64_t>(u) < min) {
      return absl::InvalidArgumentError(absl::StrCat("args.", key, ": ", range));
    }
    return static_cast<int64_t>(u);
  }
  if (!v->is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat("args.", key, ": expected ", range, ", got ", v->type_name()));
  }
  const int64_t i = v->get<int64_t>();
  if (i < min || i > max) return absl::InvalidArgumentError(absl::StrCat("args.", key, ": ", range));
  return i;
}

std::string ApiErrorMessage(const std::string& body) {
  Json parsed = Json::parse(body, nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object()) {
    if (parsed.contains("error")) {
      const Json& e = parsed["error"];
      if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"];
      if (e.is_string()) {
        std::string text = e;
        if (parsed.contains("error_description") && parsed["error_description"].is_string()) {
          absl::StrAppend(&text, ": ", parsed["error_description"].get<std::string>());
        }
        return text;
      }
    }
    if (parsed.contains("message") && parsed["message"].is_string()) return parsed["message"];
  }
  return body.substr(0, 300);
}

CallOutcome FromHttp(const absl::StatusOr<HttpResponse>& response) {
  if (!response.ok()) {
    const bool timeout = response.status().code() == absl::StatusCode::kDeadlineExceeded;
    return CallOutcome::Error(timeout ? "TIMEOUT" : "UNAVAILABLE", std::string(response.status().message()),
                              response.status().code() != absl::StatusCode::kInvalidArgument);
  }
  const long status = response->status;
  if (status >= 200 && status < 300) {
    if (response->body.empty()) return CallOutcome::Ok(Json::object());
    Json parsed = Json::parse(response->body, nullptr, false);
    if (parsed.is_discarded()) {
      return CallOutcome::Error("MALFORMED_RESPONSE", "the service answered with a body that is not JSON", false);
    }
    return CallOutcome::Ok(std::move(parsed));
  }
  const bool retryable = status == 429 || status >= 500;
  Json details = Json::parse(response->body, nullptr, false);
  if (details.is_discarded()) details = nullptr;
  return CallOutcome::Error(absl::StrCat("HTTP_", status),
                            absl::StrCat("HTTP ", status, ": ", ApiErrorMessage(response->body)), retryable,
                            details);
}

}  // namespace tasker::proxy
