// The server side of traces, logs and metrics (docs/observability.md).
//
// InstallServerObservability() (ServiceMain calls it first thing) makes every
// synchronous handler run with the trace its caller sent (the W3C
// `traceparent` header), so its log lines and its own outgoing calls carry
// it (passed on unchanged); and writes gRPC's and protobuf's own log lines
// as JSON lines too. Callback-API services (storage) take it with LogContextFromMetadata.
//
// ServerMetricsInterceptors() count every request by method and status code
// and time it (tasker_grpc_server_requests_total,
// tasker_grpc_server_request_duration_seconds).
#ifndef TASKER_RUNTIME_SERVER_OBSERVABILITY_H_
#define TASKER_RUNTIME_SERVER_OBSERVABILITY_H_

#include <map>
#include <memory>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "grpcpp/support/server_interceptor.h"
#include "runtime/common/log.h"

namespace tasker {

// Once per process, before the first grpc::Server is built (gRPC's global
// callbacks can be set only then). Idempotent.
void InstallServerObservability();

// The log context a caller's metadata names: the traceparent's trace id
// (none without a valid one), the header kept to pass on.
LogContext LogContextFromMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);

// Empty unless EnableServerRequestMetrics() was called: the interceptor
// costs every request some CPU, worth it only where metrics are scraped.
std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> ServerMetricsInterceptors();
void EnableServerRequestMetrics();

}  // namespace tasker

#endif  // TASKER_RUNTIME_SERVER_OBSERVABILITY_H_
