#include "services/proxy/proxy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/common/json_text.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"

namespace tasker::proxy {
namespace {

// JSON text for a provider's answer; strings that are not valid UTF-8 (a
// remote service's bytes) get U+FFFD.
std::string DumpJson(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The task's args as nlohmann::json. Lone surrogates (valid in the JSON text
// JSON.stringify writes, refused by nlohmann) reach providers as U+FFFD.
absl::StatusOr<Json> ParseArgs(const std::string& text) {
  if (text.empty()) return Json(nullptr);
  RETURN_IF_ERROR(ValidateJson(text, "args_json"));
  Json args = Json::parse(RewriteLoneSurrogateEscapes(text, LoneSurrogates::kReplacementCharacter), nullptr, false);
  if (args.is_discarded()) return absl::InvalidArgumentError("args_json: not valid JSON");
  return args;
}

// The provider boundary: nothing a provider throws may leave it (an escaped
// exception terminates the proxy, and the processor then retries the call
// against a crash-looping proxy forever). A JSON type error is a malformed
// argument the provider read without checking; anything else is a final
// error the task sees.
absl::StatusOr<CallOutcome> CallProvider(Provider* provider, const CallContext& context, const std::string& method,
                                         const Json& args) {
  try {
    return provider->Call(context, method, args);
  } catch (const Json::type_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("args: a value has the wrong type for ", provider->name(), ".", method, " (", e.what(), ")"));
  } catch (const Json::exception& e) {
    return CallOutcome::Error("PROVIDER_ERROR", absl::StrCat(provider->name(), ".", method, " failed: ", e.what()),
                              false);
  } catch (const std::exception& e) {
    return CallOutcome::Error("PROVIDER_ERROR", absl::StrCat(provider->name(), ".", method, " failed: ", e.what()),
                              false);
  } catch (...) {
    return CallOutcome::Error("PROVIDER_ERROR", absl::StrCat(provider->name(), ".", method, " failed"), false);
  }
}

}  // namespace

void ProxyCore::Register(std::unique_ptr<Provider> provider) {
  RegisterUnowned(provider.get());
  owned_.push_back(std::move(provider));
}

void ProxyCore::RegisterUnowned(Provider* provider) { providers_[provider->name()] = provider; }

absl::StatusOr<v1::CallResponse> ProxyCore::Call(const v1::CallRequest& request) {
  auto it = providers_.find(request.service());
  if (it == providers_.end()) {
    std::vector<std::string> names;
    for (const auto& [name, p] : providers_) names.push_back(name);
    return absl::InvalidArgumentError(absl::StrCat("service: unknown service '", request.service(),
                                                   "'; supported: ", absl::StrJoin(names, ", ")));
  }
  Provider* provider = it->second;
  const auto methods = provider->methods();
  if (std::find(methods.begin(), methods.end(), request.method()) == methods.end()) {
    return absl::InvalidArgumentError(absl::StrCat("method: ", request.service(), " has no method '",
                                                   request.method(), "'; supported: ", absl::StrJoin(methods, ", ")));
  }
  if (request.deadline_ms() < 0 || request.deadline_ms() > 600000) {
    return absl::InvalidArgumentError("deadline_ms: must be within 0..600000");
  }
  ASSIGN_OR_RETURN(Json args, ParseArgs(request.args_json()));
  if (!request.has_caller() || request.caller().task_identifier().empty()) {
    return absl::PermissionDeniedError("caller: a host call must name the task it is made for");
  }
  const services::Grants grants(
      std::vector<std::string>(request.caller().permissions().begin(), request.caller().permissions().end()));
  CallContext context;
  context.idempotency_key = request.idempotency_key();
  context.task_run_id = request.task_run_id();
  if (request.deadline_ms() > 0) context.timeout = absl::Milliseconds(request.deadline_ms());
  context.service = request.service();
  context.method = request.method();
  context.grants = &grants;
  context.caller = absl::StrCat("task ", request.caller().task_identifier(), " v", request.caller().task_version(),
                                " run ", request.caller().task_run_id());
  const absl::Time start = absl::Now();
  absl::StatusOr<CallOutcome> outcome;
  if (absl::Status allowed = grants.CheckCall(request.service(), request.method()); !allowed.ok()) {
    outcome = Denied(context, allowed);
  } else {
    outcome = CallProvider(provider, context, request.method(), args);
  }
  const int64_t micros = absl::ToInt64Microseconds(absl::Now() - start);
  if (!outcome.ok()) return outcome.status();
  v1::CallResponse response;
  response.set_provider_micros(micros);
  if (outcome->ok) {
    response.set_result_json(DumpJson(outcome->result));
  } else {
    auto* error = response.mutable_error();
    error->set_code(outcome->error_code);
    error->set_message(outcome->error_message);
    error->set_retryable(outcome->retryable);
    if (!outcome->error_details.is_null()) error->set_details_json(DumpJson(outcome->error_details));
  }
  if (LogEnabled(LogLevel::kDebug)) {
    LogDebug("provider answered", {{"call_service", request.service()},
                                   {"call_method", request.method()},
                                   {"outcome", outcome->ok ? "ok" : outcome->error_code},
                                   {"micros", std::to_string(micros)}});
  }
  return response;
}

bool ProxyCore::HasMethod(const std::string& service, const std::string& method) const {
  auto it = providers_.find(service);
  if (it == providers_.end()) return false;
  const auto methods = it->second->methods();
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

v1::ListServicesResponse ProxyCore::ListServices() const {
  v1::ListServicesResponse out;
  for (const auto& [name, provider] : providers_) {
    auto* info = out.add_services();
    info->set_name(name);
    info->set_description(provider->description());
    for (const auto& m : provider->methods()) info->add_methods(m);
  }
  return out;
}

}  // namespace tasker::proxy
