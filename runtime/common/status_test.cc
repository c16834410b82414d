#include "runtime/common/status.h"

#include <string>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
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

// The details a client decodes from grpc::Status::error_details().
struct Decoded {
  google::rpc::Status status;
  google::rpc::ErrorInfo info;
  google::rpc::BadRequest bad_request;
  bool has_info = false;
  bool has_bad_request = false;
};

Decoded Decode(const grpc::Status& status) {
  Decoded out;
  EXPECT_TRUE(out.status.ParseFromString(status.error_details())) << status.error_message();
  for (const auto& any : out.status.details()) {
    if (any.UnpackTo(&out.info)) out.has_info = true;
    if (any.UnpackTo(&out.bad_request)) out.has_bad_request = true;
  }
  return out;
}

TEST(StatusDetails, InvalidArgumentNamesTheFieldInBadRequestAndErrorInfo) {
  grpc::Status wire = ToGrpcStatus(absl::InvalidArgumentError("args.table: must be a string, got number"));
  Decoded d = Decode(wire);
  EXPECT_EQ(d.status.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(d.status.message(), "args.table: must be a string, got number");
  ASSERT_TRUE(d.has_info);
  EXPECT_EQ(d.info.reason(), "INVALID_FIELD");
  EXPECT_EQ(d.info.domain(), "tasker.dev");
  EXPECT_EQ(d.info.metadata().at("field"), "args.table");
  ASSERT_TRUE(d.has_bad_request);
  ASSERT_EQ(d.bad_request.field_violations_size(), 1);
  EXPECT_EQ(d.bad_request.field_violations(0).field(), "args.table");
  EXPECT_EQ(d.bad_request.field_violations(0).description(), "must be a string, got number");
  // Indexed paths are fields too; prose is not.
  EXPECT_EQ(Decode(ToGrpcStatus(absl::InvalidArgumentError("calls[0].id: required"))).bad_request.field_violations(0).field(),
            "calls[0].id");
  Decoded prose = Decode(ToGrpcStatus(absl::InvalidArgumentError("the request is bad: really")));
  EXPECT_EQ(prose.info.reason(), "INVALID_ARGUMENT");
  EXPECT_TRUE(prose.has_bad_request);
  EXPECT_EQ(prose.bad_request.field_violations(0).field(), "");
}

TEST(StatusDetails, EveryErrorHasAReason) {
  for (int code = 1; code <= 16; ++code) {
    Decoded d = Decode(ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(code), "x")));
    ASSERT_TRUE(d.has_info) << code;
    EXPECT_FALSE(d.info.reason().empty()) << code;
    EXPECT_EQ(d.info.domain(), "tasker.dev");
    EXPECT_EQ(d.has_bad_request, code == static_cast<int>(absl::StatusCode::kInvalidArgument)) << code;
  }
  EXPECT_EQ(ErrorReasonOf(absl::NotFoundError("task run 'r1' not found")), "RUN_NOT_FOUND");
  EXPECT_EQ(ErrorReasonOf(absl::NotFoundError("stack run 's1' not found")), "STACK_RUN_NOT_FOUND");
  EXPECT_EQ(ErrorReasonOf(absl::NotFoundError("task function 't' not found")), "TASK_NOT_FOUND");
  EXPECT_EQ(ErrorReasonOf(absl::AlreadyExistsError("idempotency_key 'k': already used by run r1")),
            "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(ErrorReasonOf(absl::AbortedError("fencing_token: stale (1 < 2)")), "LEASE_LOST");
  EXPECT_EQ(ErrorReasonOf(absl::FailedPreconditionError("run already finished")), "FAILED_PRECONDITION");
  EXPECT_EQ(ErrorReasonOf(absl::UnavailableError("down")), "UNAVAILABLE");
}

TEST(StatusDetails, AnExplicitReasonSurvivesAHopBetweenServices) {
  absl::Status original = WithErrorReason(absl::FailedPreconditionError("run r1: already completed"),
                                          "RUN_ALREADY_FINISHED", {{"run", "r1"}});
  EXPECT_EQ(ErrorReasonOf(original), "RUN_ALREADY_FINISHED");
  // Storage -> executor -> client.
  absl::Status received = FromGrpcStatus(ToGrpcStatus(original));
  EXPECT_EQ(ErrorReasonOf(received), "RUN_ALREADY_FINISHED");
  EXPECT_EQ(ErrorReasonOf(Annotate(received, "cancel")), "RUN_ALREADY_FINISHED");
  Decoded d = Decode(ToGrpcStatus(received));
  EXPECT_EQ(d.info.reason(), "RUN_ALREADY_FINISHED");
  EXPECT_EQ(d.info.metadata().at("run"), "r1");
  // A derived reason is not kept as a payload: the status compares equal.
  EXPECT_EQ(FromGrpcStatus(ToGrpcStatus(absl::NotFoundError("run r1"))), absl::NotFoundError("run r1"));
}

}  // namespace
}  // namespace tasker
