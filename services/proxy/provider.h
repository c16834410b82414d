// Providers: the external services task code reaches through
// __callHostTool__(service, method, args). Each provider turns a call into
// HTTP (or a Tasker-internal request) and returns JSON or a structured error.
#ifndef TASKER_SERVICES_PROXY_PROVIDER_H_
#define TASKER_SERVICES_PROXY_PROVIDER_H_

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/permissions.h"
#include "services/proxy/http_client.h"

namespace tasker::proxy {

// Ordered: a provider's answer keeps the key order the remote service (or the
// task's args) gave it.
using Json = nlohmann::ordered_json;

struct CallContext {
  std::string idempotency_key;
  std::string task_run_id;
  absl::Duration timeout = absl::Seconds(30);
  // The call being made, and what the task's function version may reach
  // (never null inside a provider). Providers check what only they know:
  // the user gapi acts as, the keystore namespace.
  std::string service;
  std::string method;
  const services::Grants* grants = nullptr;
  // "task <identifier> v<version> run <id>", for audit logs.
  std::string caller;
};

// The outcome of a call that reached the provider: a result, or an error
// the task sees as a rejected promise.
struct CallOutcome {
  bool ok = true;
  Json result;
  std::string error_code;  // "HTTP_404", "TIMEOUT", "AUTH", ...
  std::string error_message;
  bool retryable = false;
  Json error_details;

  static CallOutcome Ok(Json result) { return {true, std::move(result)}; }
  static CallOutcome Error(std::string code, std::string message, bool retryable, Json details = nullptr) {
    CallOutcome o;
    o.ok = false;
    o.error_code = std::move(code);
    o.error_message = std::move(message);
    o.retryable = retryable;
    o.error_details = std::move(details);
    return o;
  }
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual std::vector<std::string> methods() const = 0;
  // Absl errors are for the caller's mistakes (INVALID_ARGUMENT: unknown
  // method, malformed args); everything the remote side does is an outcome.
  virtual absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method,
                                           const Json& args) = 0;
};

// The outcome of a call the task's grants do not allow (PERMISSION_DENIED,
// final), logged for audit with the task's identity.
CallOutcome Denied(const CallContext& context, const absl::Status& status);

// Args as the task passed them: one object, or positional args whose first
// element is the object ([{customer: 'x'}]). null/[] -> {}.
absl::StatusOr<Json> NormalizeArgs(const Json& args);

// Typed reads of one argument of normalized (object) args. Absent or null ->
// the fallback; present with another type -> INVALID_ARGUMENT naming
// `args.<key>`. Never throws (nlohmann's value()/get<> do on a wrong type).
absl::StatusOr<std::string> StringArg(const Json& args, const char* key, const std::string& fallback = "");
// A string, or a number written as its JSON text (ids and counts that APIs
// take either way).
absl::StatusOr<std::string> ScalarArg(const Json& args, const char* key, const std::string& fallback = "");
// An integer within [min, max].
absl::StatusOr<int64_t> IntArg(const Json& args, const char* key, int64_t fallback, int64_t min, int64_t max);

// Maps an HTTP exchange to an outcome: 2xx -> JSON result; 429 and 5xx ->
// retryable; other 4xx -> final with the API's own message; a body that is
// not JSON on success -> final "MALFORMED_RESPONSE". Transport errors
// (timeouts, refused connections) -> retryable.
CallOutcome FromHttp(const absl::StatusOr<HttpResponse>& response);

// The API's error message from a JSON error body ({"error":{"message"}},
// {"error":"..."}, {"message": ...}), or the raw body's start.
std::string ApiErrorMessage(const std::string& body);

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_PROVIDER_H_
