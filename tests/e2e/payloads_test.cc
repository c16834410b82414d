// Payloads end to end (issue 12): real processes on SQLite. Data comes back
// exactly as it went in; bad input is refused with a clear error naming the
// field or limit; payloads beyond a limit fail the run instead of leaving it
// RUNNING; 10 MB payloads work through gRPC and HTTP.
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "runtime/client/channel.h"
#include "tests/e2e/stack.h"

namespace tasker::e2e {
namespace {

namespace v1 = ::tasker::v1;

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

class PayloadsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    StackOptions options;
    options.step_cpu = "5s";
    auto stack = Stack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack).release();
    // Echoes its input through a host call and returns both, so input, args,
    // call result and run result all carry the payload.
    ASSERT_TRUE(stack_
                    ->Publish("echo", R"(
      const echoed = await __callHostTool__('admin-debug', 'echo', input);
      return {input, echoed};)")
                    .ok());
    ASSERT_TRUE(stack_->Publish("identity", "return input;").ok());
    ASSERT_TRUE(stack_->Publish("echo-only", "return await __callHostTool__('admin-debug', 'echo', input);").ok());
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure() && stack_) std::fprintf(stderr, "%s\n", stack_->Logs().substr(0, 20000).c_str());
  }

  static v1::TaskRun RunToEnd(const std::string& task, const std::string& input) {
    auto id = stack_->Submit(task, input);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return {};
    auto run = stack_->Wait(*id, absl::Seconds(120));
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::TaskRun();
  }

  static v1::GetRunResponse Get(const std::string& id) {
    v1::GetRunRequest request;
    request.set_name(id);
    v1::GetRunResponse response;
    auto context = MakeContext(absl::Seconds(30));
    EXPECT_TRUE(stack_->api()->GetRun(context.get(), request, &response).ok());
    return response;
  }

  static Stack* stack_;
};

Stack* PayloadsTest::stack_ = nullptr;

TEST_F(PayloadsTest, KeyOrderNumbersAndLoneSurrogatesComeBackExactly) {
  const std::string input = R"({"b":1,"a":-0,"big":12345678901234567890,"e":1E3,"s":"\ud83d","pair":"\ud83d\ude00"})";
  v1::TaskRun run = RunToEnd("echo", input);
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.error().message();
  // The input is kept as submitted, byte for byte.
  EXPECT_EQ(run.input_json(), input);
  // The task sees JSON.parse(input); what it returns is JSON.stringify's
  // text, untouched: key order kept, the lone surrogate escaped.
  const std::string stringified =
      R"({"b":1,"a":0,"big":12345678901234567000,"e":1000,"s":"\ud83d","pair":"😀"})";
  EXPECT_EQ(run.result_json(),
            absl::StrCat(R"({"input":)", stringified, R"(,"echoed":)",
                         R"({"b":1,"a":0,"big":12345678901234567000,"e":1000,"s":"�","pair":"😀"}})"));
  v1::GetRunResponse got = Get(run.id());
  bool saw_call = false;
  for (const auto& s : got.stack_runs()) {
    if (s.kind() != v1::STACK_RUN_KIND_CALL) continue;
    saw_call = true;
    EXPECT_EQ(s.args_json(), stringified);
    // A provider (C++) sees a lone surrogate as U+FFFD; the order is kept.
    EXPECT_EQ(s.result_json(), R"({"b":1,"a":0,"big":12345678901234567000,"e":1000,"s":"�","pair":"😀"})");
  }
  EXPECT_TRUE(saw_call);
}

TEST_F(PayloadsTest, DepthIsLimitedWithAClearErrorAndDeepValuesWork) {
  // 512 levels (the documented minimum) work end to end.
  v1::TaskRun deep = RunToEnd("identity", Nested(512));
  ASSERT_EQ(deep.status(), v1::RUN_STATUS_COMPLETED) << deep.error().message();
  EXPECT_EQ(deep.result_json(), Nested(512));
  // 50,000 levels: refused, naming the limit; the executor survives.
  auto refused = stack_->Submit("identity", Nested(50000));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("input_json: nested deeper than 1000 levels (the limit)"),
            std::string::npos)
      << refused.status();
  httplib::Client http("127.0.0.1", stack_->http_port());
  auto http_deep = http.Post("/task/submit", absl::StrCat(R"({"name":"identity","input":)", Nested(50000), "}"),
                             "application/json");
  ASSERT_TRUE(http_deep);
  EXPECT_EQ(http_deep->status, 400);
  EXPECT_NE(http_deep->body.find("nested deeper than 1000 levels"), std::string::npos) << http_deep->body;
  EXPECT_EQ(RunToEnd("identity", "7").result_json(), "7");  // still serving
}

TEST_F(PayloadsTest, TenMegabytePayloadsWorkEndToEnd) {
  const std::string blob(10 << 20, 'x');
  const std::string input = absl::StrCat(R"({"blob":")", blob, R"("})");
  // Input, call args, call result and run result are each 10 MB.
  v1::TaskRun run = RunToEnd("echo-only", input);
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.error().message();
  // (EXPECT_TRUE: a failure must not print 10 MB.)
  EXPECT_TRUE(run.input_json() == input);
  EXPECT_TRUE(run.result_json() == input) << run.result_json().size();
  // And through the HTTP API.
  httplib::Client http("127.0.0.1", stack_->http_port());
  http.set_read_timeout(60, 0);
  auto submitted =
      http.Post("/task/submit", absl::StrCat(R"({"name":"identity","input":)", input, "}"), "application/json");
  ASSERT_TRUE(submitted);
  ASSERT_EQ(submitted->status, 200) << submitted->body.substr(0, 500);
  const std::string id = nlohmann::json::parse(submitted->body)["runId"];
  auto done = stack_->Wait(id, absl::Seconds(120));
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->status(), v1::RUN_STATUS_COMPLETED) << done->error().message();
  auto status = http.Get(("/task/status/" + id).c_str());
  ASSERT_TRUE(status);
  ASSERT_EQ(status->status, 200);
  EXPECT_TRUE(status->body.find(absl::StrCat(R"("result":)", input)) != std::string::npos);
}

TEST_F(PayloadsTest, PayloadsBeyondTheLimitFailTheRunNamingTheLimit) {
  // Input: refused at submission.
  auto big_input = stack_->Submit("identity", absl::StrCat(R"({"blob":")", std::string(17 << 20, 'x'), R"("})"));
  EXPECT_EQ(big_input.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big_input.status().message().find("input_json"), std::string::npos) << big_input.status();
  EXPECT_NE(big_input.status().message().find("above the limit of 16777216 bytes"), std::string::npos);
  // Call args built by the task: the run fails (it used to stay RUNNING and
  // be re-executed every lease period).
  ASSERT_TRUE(stack_->Publish("big-args", R"(
    await __callHostTool__('admin-debug', 'echo', {blob: 'y'.repeat(17 * 1024 * 1024)});
    return 'unreachable';)")
                  .ok());
  v1::TaskRun args = RunToEnd("big-args", "{}");
  EXPECT_EQ(args.status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(args.error().code(), "PAYLOAD_TOO_LARGE");
  EXPECT_NE(args.error().message().find("the args of call 1 (admin-debug echo)"), std::string::npos)
      << args.error().message();
  EXPECT_NE(args.error().message().find("16 MiB"), std::string::npos) << args.error().message();
  // A result beyond the limit.
  ASSERT_TRUE(stack_->Publish("big-result", "return 'z'.repeat(17 * 1024 * 1024);").ok());
  v1::TaskRun result = RunToEnd("big-result", "{}");
  EXPECT_EQ(result.status(), v1::RUN_STATUS_FAILED);
  EXPECT_NE(result.error().message().find("exceeds the limit of 16777216"), std::string::npos)
      << result.error().message();
}

TEST_F(PayloadsTest, HttpFieldsOfTheWrongTypeAnswer400NamingTheField) {
  httplib::Client http("127.0.0.1", stack_->http_port());
  struct Case {
    const char* path;
    const char* body;
    const char* field;
  };
  for (const Case& c : {Case{"/task/submit", R"({"name":42,"input":{}})", "name: must be a string, got a number"},
                        Case{"/task/submit", R"({"name":"identity","idempotencyKey":[1]})",
                             "idempotencyKey: must be a string, got an array"},
                        Case{"/task/submit", R"({"taskName":{"a":1}})", "taskName: must be a string, got an object"},
                        Case{"/task/store-function", R"({"name":"x","code":7})", "code: must be a string"},
                        Case{"/task/store-function", R"({"name":"x","code":"return 1","metadata":[1]})",
                             "metadata: must be a JSON object, got an array"},
                        Case{"/task/submit", R"([1,2])", "body: must be a JSON object"},
                        Case{"/task/submit", R"({"name":"identity","input":{"a":1,}})", "body: not valid JSON"},
                        Case{"/functions/v1/tasks/identity", R"({"a":)", "body: not valid JSON"}}) {
    auto res = http.Post(c.path, c.body, "application/json");
    ASSERT_TRUE(res) << c.body;
    EXPECT_EQ(res->status, 400) << c.body << " -> " << res->body;
    nlohmann::json error = nlohmann::json::parse(res->body, nullptr, false);
    ASSERT_FALSE(error.is_discarded()) << res->body;
    // The old platform's routes answer {"success":false,"error":"...","code"}; the others {"error":{code,message}}.
    const bool old_shape = error["error"].is_string();
    EXPECT_EQ(old_shape ? error["code"] : error["error"]["code"], "INVALID_ARGUMENT") << res->body;
    const std::string message = old_shape ? error["error"] : error["error"]["message"];
    EXPECT_NE(message.find(c.field), std::string::npos) << c.body << " -> " << res->body;
  }
  // HTTP keeps the key order of inputs too.
  auto submitted = http.Post("/task/submit", R"({"name":"identity","input":{"z":1,"a":[true,null]}})",
                             "application/json");
  ASSERT_TRUE(submitted);
  ASSERT_EQ(submitted->status, 200) << submitted->body;
  auto done = stack_->Wait(nlohmann::json::parse(submitted->body)["runId"], absl::Seconds(60));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->result_json(), R"({"z":1,"a":[true,null]})");
}

TEST_F(PayloadsTest, ClientsSendingTheRemovedValueFieldAreToldTheNewOne) {
  v1::SubmitRunRequest request;
  request.set_task_identifier("identity");
  // Field 3 was `google.protobuf.Value input`.
  request.GetReflection()->MutableUnknownFields(&request)->AddLengthDelimited(3, "\x1a\x01x");
  v1::SubmitRunResponse response;
  auto context = MakeContext(absl::Seconds(10));
  grpc::Status status = stack_->api()->SubmitRun(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("input_json"), std::string::npos) << status.error_message();
}

}  // namespace
}  // namespace tasker::e2e
