#include "runtime/common/status.h"

#include <string>

#include "gtest/gtest.h"

namespace tasker {
namespace {

TEST(StatusConversion, EveryCodeRoundTrips) {
  // 0..16 are every canonical code gRPC and absl define.
  for (int code = 0; code <= 16; ++code) {
    const std::string message =
        code == 0 ? "" : "field 'x' is bad: code " + std::to_string(code);
    absl::Status original(static_cast<absl::StatusCode>(code), message);
    grpc::Status wire = ToGrpcStatus(original);
    EXPECT_EQ(static_cast<int>(wire.error_code()), code);
    EXPECT_EQ(wire.error_message(), message);
    absl::Status back = FromGrpcStatus(wire);
    EXPECT_EQ(back, original) << "code " << code;
  }
}

TEST(StatusConversion, NamedCodesMatch) {
  EXPECT_EQ(ToGrpcStatus(absl::UnauthenticatedError("no")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("no")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ToGrpcStatus(absl::AbortedError("no")).error_code(),
            grpc::StatusCode::ABORTED);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "late")),
            absl::DeadlineExceededError("late"));
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("x is odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int half, Half(x));
  ASSIGN_OR_RETURN(auto quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMacros, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status(), absl::InvalidArgumentError("x is odd"));
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(3).code(), absl::StatusCode::kInvalidArgument);
}

TEST(StatusAnnotate, KeepsCode) {
  EXPECT_EQ(Annotate(absl::NotFoundError("run r1"), "GetRun"),
            absl::NotFoundError("GetRun: run r1"));
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

}  // namespace
}  // namespace tasker
