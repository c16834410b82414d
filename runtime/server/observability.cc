#include "runtime/server/observability.h"

#include <atomic>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "google/protobuf/stubs/logging.h"
#include "grpc/support/log.h"
#include "runtime/common/metrics.h"
#include "runtime/common/trace.h"

namespace tasker {
namespace {

absl::string_view View(const grpc::string_ref& ref) { return absl::string_view(ref.data(), ref.size()); }

// Around every synchronous handler, on its thread: the caller's context in,
// and out again after (the thread serves other callers next).
class ObservabilityCallbacks : public grpc::Server::GlobalCallbacks {
 public:
  void PreSynchronousRequest(grpc::ServerContext* context) override {
    SetThreadLogContext(LogContextFromMetadata(context->client_metadata()));
  }
  void PostSynchronousRequest(grpc::ServerContext*) override { SetThreadLogContext(LogContext{}); }
};

void GprToJson(gpr_log_func_args* args) {
  LogLevel level = LogLevel::kInfo;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = LogLevel::kDebug;
  if (args->severity == GPR_LOG_SEVERITY_ERROR) level = LogLevel::kError;
  Log(level, args->message != nullptr ? args->message : "",
      {{"source", "grpc"}, {"file", args->file != nullptr ? args->file : ""}, {"line", std::to_string(args->line)}});
}

// Protobuf's own warnings (e.g. a string field with invalid UTF-8) as JSON lines too.
void ProtobufToJson(google::protobuf::LogLevel level, const char* filename, int line, const std::string& message) {
  LogLevel ours = LogLevel::kInfo;
  if (level == google::protobuf::LOGLEVEL_WARNING) ours = LogLevel::kWarning;
  if (level >= google::protobuf::LOGLEVEL_ERROR) ours = LogLevel::kError;
  Log(ours, message,
      {{"source", "protobuf"}, {"file", filename != nullptr ? filename : ""}, {"line", std::to_string(line)}});
}

metrics::Counters& Requests() {
  static auto* counters = new metrics::Counters("tasker_grpc_server_requests_total",
                                                "gRPC requests served, by full method name and status code.",
                                                {"method", "code"}, 1024);
  return *counters;
}

metrics::Histograms& RequestSeconds() {
  static auto* histograms = new metrics::Histograms("tasker_grpc_server_request_duration_seconds",
                                                    "Time from a request's headers to its status, by method.",
                                                    {"method"}, metrics::LatencyBuckets(), 256);
  return *histograms;
}

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(grpc::experimental::ServerRpcInfo* info) : method_(info->method()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      start_ = absl::Now();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const auto code = static_cast<absl::StatusCode>(methods->GetSendStatus().error_code());
      const std::string code_name = absl::StatusCodeToString(code);
      Requests().With({method_, code_name}).Increment();
      if (start_ != absl::InfinitePast()) RequestSeconds().With({method_}).Observe(metrics::SecondsSince(start_));
    }
    methods->Proceed();
  }

 private:
  const char* method_;
  absl::Time start_ = absl::InfinitePast();
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(info);
  }
};

}  // namespace

void InstallServerObservability() {
  static std::once_flag once;
  std::call_once(once, [] {
    grpc::Server::SetGlobalCallbacks(new ObservabilityCallbacks());
    gpr_set_log_function(GprToJson);
    google::protobuf::SetLogHandler(ProtobufToJson);
  });
}

LogContext LogContextFromMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  LogContext context;
  if (metadata.empty()) return context;
  if (auto it = metadata.find(kTraceParentHeader); it != metadata.end()) {
    if (auto parent = ParseTraceParent(View(it->second))) {
      context.trace_id = std::move(parent->trace_id);
      // Passed on as received: these services make no spans of their own
      // (W3C Trace Context allows a participant to forward it unchanged).
      context.traceparent = std::string(View(it->second));
    }
  }
  return context;
}

std::atomic<bool> g_request_metrics{false};

void EnableServerRequestMetrics() { g_request_metrics.store(true); }

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> ServerMetricsInterceptors() {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> out;
  if (g_request_metrics.load()) out.push_back(std::make_unique<MetricsInterceptorFactory>());
  return out;
}

}  // namespace tasker
