// absl::Status helpers used everywhere inside Tasker, and the one place that
// converts to and from grpc::Status (at service boundaries only).
#ifndef TASKER_RUNTIME_COMMON_STATUS_H_
#define TASKER_RUNTIME_COMMON_STATUS_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace tasker {

// absl and gRPC share the canonical code numbering; the message and code
// survive both directions unchanged.
//
// Every error leaving a service carries google.rpc.Status details (gRPC's
// third Status argument, the grpc-status-details-bin trailer): a
// google.rpc.ErrorInfo {reason, domain "tasker.dev", metadata} and, for
// INVALID_ARGUMENT, a google.rpc.BadRequest naming the field. They come from
// the status's own details when it has some (set by WithErrorReason, or
// received from another service by FromGrpcStatus), else from the message by
// the codebase's convention "field: what is wrong" (e.g. "args.table: must
// be ..." -> field "args.table") and the code (see ErrorReasonOf).
grpc::Status ToGrpcStatus(const absl::Status& status);
// Keeps the details (as a payload) so that an error passed on by another
// service keeps its reason and field.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The domain of Tasker's ErrorInfo reasons.
inline constexpr char kErrorDomain[] = "tasker.dev";

// Gives `status` an explicit ErrorInfo reason (UPPER_SNAKE) and metadata,
// sent instead of the derived ones.
absl::Status WithErrorReason(absl::Status status, absl::string_view reason,
                             std::initializer_list<std::pair<absl::string_view, absl::string_view>> metadata = {});

// The reason ToGrpcStatus sends for `status`: its own, else derived from the
// code and message: INVALID_FIELD (a field is named) or INVALID_ARGUMENT,
// RUN_NOT_FOUND, STACK_RUN_NOT_FOUND, TASK_NOT_FOUND, KEY_NOT_FOUND,
// IDEMPOTENCY_KEY_REUSED, LEASE_LOST (a stale fencing token), else the code's
// name (FAILED_PRECONDITION, UNAVAILABLE, ...). "" for OK.
std::string ErrorReasonOf(const absl::Status& status);

// Moves a StatusOr's value into *out, or converts its error: the one-line
// body of a thin gRPC handler.
template <typename T>
grpc::Status ReplyWith(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *out = std::move(result).value();
  return grpc::Status::OK;
}

// Prefixes a status message with context, keeping the code and details.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace tasker

#define TASKER_STATUS_CONCAT_INNER_(a, b) a##b
#define TASKER_STATUS_CONCAT_(a, b) TASKER_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                                \
  do {                                                       \
    ::absl::Status tasker_status_ = (expr);                  \
    if (!tasker_status_.ok()) return tasker_status_;         \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on
// error returns its status, else moves the value into `lhs` (which may be a
// declaration such as `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr)                                         \
  ASSIGN_OR_RETURN_IMPL_(TASKER_STATUS_CONCAT_(tasker_statusor_, __LINE__), \
                         lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(statusor).value()

#endif  // TASKER_RUNTIME_COMMON_STATUS_H_
