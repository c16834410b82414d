// absl::Status helpers used everywhere inside Tasker, and the one place that
// converts to and from grpc::Status (at service boundaries only).
#ifndef TASKER_RUNTIME_COMMON_STATUS_H_
#define TASKER_RUNTIME_COMMON_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"

namespace tasker {

// absl and gRPC share the canonical code numbering; the message and code
// survive both directions unchanged.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Moves a StatusOr's value into *out, or converts its error: the one-line
// body of a thin gRPC handler.
template <typename T>
grpc::Status ReplyWith(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *out = std::move(result).value();
  return grpc::Status::OK;
}

// Prefixes a status message with context, keeping the code.
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
