// Trace ids: W3C Trace Context (`traceparent`) and the trace id of a run.
//
// A run keeps one trace id for its whole life, across suspensions, evictions,
// takeovers and every process that touches it, without storing it: it is
// derived from the run id (TraceIdForRun: the first 16 bytes of
// SHA-256("tasker-run:" + run_id), in hex), so any service that knows the
// run id computes the same one. A client that submits a run with its own
// `traceparent` sees the submission under its trace; the executor answers
// with the run's trace in a `traceresponse` header and logs the link
// ("run submitted" with `client_trace_id`). docs/observability.md.
#ifndef TASKER_RUNTIME_COMMON_TRACE_H_
#define TASKER_RUNTIME_COMMON_TRACE_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "runtime/common/log.h"

namespace tasker {

// gRPC metadata keys (lowercase, as gRPC requires).
inline constexpr char kTraceParentHeader[] = "traceparent";
inline constexpr char kTraceResponseHeader[] = "traceresponse";

struct TraceParent {
  std::string trace_id;  // 32 lowercase hex digits, not all zero
  std::string span_id;   // 16 lowercase hex digits, not all zero
  bool sampled = true;
};

// Parses "00-<trace-id>-<parent-id>-<flags>" (version 00, or a later version's
// first four fields, as the spec asks). nullopt when malformed.
std::optional<TraceParent> ParseTraceParent(absl::string_view header);
// "00-<trace_id>-<span_id>-01" (-00 when not sampled).
std::string FormatTraceParent(absl::string_view trace_id, absl::string_view span_id, bool sampled = true);

// The run's trace id (see above). Empty for an empty run id.
std::string TraceIdForRun(absl::string_view run_id);
// Random ids (never all zero).
std::string NewTraceId();
std::string NewSpanId();

// A log context for work on a run: its derived trace id, its ids, and the
// traceparent its calls carry: 00-<trace id>-<span id>-01, the span id
// being the next 8 bytes of the same digest (the run is the span).
LogContext RunLogContext(absl::string_view run_id, absl::string_view stack_run_id = "");

}  // namespace tasker

#endif  // TASKER_RUNTIME_COMMON_TRACE_H_
