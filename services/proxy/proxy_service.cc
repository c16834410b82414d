#include "services/proxy/proxy_service.h"

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "runtime/common/log.h"
#include "runtime/common/metrics.h"
#include "runtime/common/status.h"
#include "runtime/common/trace.h"

namespace tasker::proxy {
namespace {

metrics::Counters& Calls() {
  static auto* counters = new metrics::Counters(
      "tasker_proxy_calls_total",
      "Host calls the proxy served, by service, method and gRPC code (names the proxy does not know: \"unknown\").",
      {"service", "method", "code"});
  return *counters;
}

metrics::Histograms& CallSeconds() {
  static auto* histograms = new metrics::Histograms(
      "tasker_proxy_call_duration_seconds", "Time the proxy took to answer a host call (its provider's time), by service.",
      {"service"});
  return *histograms;
}

}  // namespace

grpc::Status ProxyService::Call(grpc::ServerContext*, const v1::CallRequest* request, v1::CallResponse* response) {
  // The run the call is for: its ids and trace (the same as the caller's
  // traceparent names, for a processor's call).
  // A processor's idempotency key is "<run id>/<call's stack run id>".
  absl::string_view key = request->idempotency_key();
  absl::string_view call_id;
  if (!request->task_run_id().empty() && absl::StartsWith(key, request->task_run_id()) &&
      key.size() > request->task_run_id().size() + 1 && key[request->task_run_id().size()] == '/') {
    call_id = key.substr(request->task_run_id().size() + 1);
  }
  ScopedLogContext scoped(RunLogContext(request->task_run_id(), call_id));
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::CallResponse> answered = core_->Call(*request);
  const double seconds = metrics::SecondsSince(start);
  std::string code = absl::StatusCodeToString(answered.status().code());
  if (answered.ok() && answered->outcome_case() == v1::CallResponse::kError) code = answered->error().code();
  // Only a refused call may name what the proxy does not know.
  const bool known = answered.status().code() != absl::StatusCode::kInvalidArgument ||
                     core_->HasMethod(request->service(), request->method());
  const std::string& service = known ? request->service() : "unknown";
  const std::string& method = known ? request->method() : "unknown";
  // A provider's error codes are its own: bounded by the series cap.
  Calls().With({service, method, code}).Increment();
  CallSeconds().With({service}).Observe(seconds);
  // Per call: debug when it succeeded (info would be a line per host call).
  if (const LogLevel level = code == "OK" ? LogLevel::kDebug : LogLevel::kInfo; LogEnabled(level)) {
    Log(level, "call served",
        {{"call_service", request->service()},
         {"call_method", request->method()},
         {"code", code},
         {"ms", std::to_string(static_cast<int64_t>(seconds * 1000))}});
  }
  return ReplyWith(std::move(answered), response);
}

grpc::Status ProxyService::ListServices(grpc::ServerContext*, const v1::ListServicesRequest*,
                                        v1::ListServicesResponse* response) {
  *response = core_->ListServices();
  return grpc::Status::OK;
}

}  // namespace tasker::proxy
