// The public API's trust boundary, in-process over a real SQLite store:
// TaskService on a real gRPC port and the HTTP gateway on a real HTTP(S)
// port, both over one TaskApi. The executor is never started (no runs are
// executed): the runs' stack runs are written through the store as an
// executor and a processor would, leases, reply_to and keystore values
// included, so that what the public side shows of them is what is checked.
//
// Covers: idempotency keys reused for a different request (ALREADY_EXISTS,
// HTTP 409), public views without internal fields and with keystore values
// redacted, HTTPS with and without client certificates.
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tasker/v1/task_service.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "runtime/common/status.h"
#include "runtime/server/server.h"
#include "services/executor/http_gateway.h"
#include "services/executor/task_api.h"
#include "services/executor/task_service.h"
#include "storage/open_store.h"
#include "tests/support/process.h"

namespace tasker::services {
namespace {

namespace v1 = ::tasker::v1;
using Json = nlohmann::json;

// What the internal side knows and the public side must not show.
constexpr char kExecutorOwner[] = "executor-owner-7f3a";
constexpr char kExecutorAddress[] = "10.9.8.7:4242";
constexpr char kProcessorOwner[] = "processor-owner-5c1d";
constexpr char kKeystoreSecret[] = "keystore-secret-4711";
constexpr char kWrittenSecret[] = "written-secret-9";

// Field names (proto JSON and HTTP) and values that are internal.
const std::vector<std::string>& InternalStrings() {
  static const auto* strings = new std::vector<std::string>{
      "leaseOwner", "leaseExpiresAt", "fencingToken", "replyTo",      "lease_owner",  "fencing_token",
      "reply_to",   kExecutorOwner,   kExecutorAddress, kProcessorOwner, kKeystoreSecret, kWrittenSecret};
  return *strings;
}

void ExpectNoInternals(const std::string& text, const std::string& where) {
  for (const auto& internal : InternalStrings()) {
    EXPECT_FALSE(absl::StrContains(text, internal)) << where << " shows '" << internal << "': " << text;
  }
}

class PublicApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenStore(absl::StrCat("sqlite://", tasker::testing::MakeTempDir("public"), "/t.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    // Never started: submitted runs stay PENDING for this test to drive.
    executor_ = std::make_unique<Executor>(ExecutorStores::Of(store_.get()), nullptr, nullptr, ExecutorConfig{});
    api_ = std::make_unique<TaskApi>(store_.get(), store_.get(), executor_.get());
    v1::PublishTaskFunctionRequest publish;
    publish.set_identifier("t");
    publish.set_code("return 1");
    ASSERT_TRUE(store_->PublishTaskFunction(publish).ok());
  }

  // TaskService on a real port, and a stub to it.
  v1::TaskService::Stub* Grpc() {
    if (!stub_) {
      service_ = std::make_unique<TaskService>(api_.get());
      runner_ = std::make_unique<ServerRunner>(ServerConfig{.component = "public-api-test", .authenticator = Authenticator::InsecureDev()});
      runner_->AddService(service_.get(), "*", Roles::All());
      auto started = runner_->Start();
      EXPECT_TRUE(started.ok()) << started;
      auto channel = MakeChannel({.target = runner_->local_target()});
      EXPECT_TRUE(channel.ok()) << channel.status();
      stub_ = v1::TaskService::NewStub(*channel);
    }
    return stub_.get();
  }

  // The HTTP gateway on a real port (HTTP, or HTTPS with `tls`).
  absl::StatusOr<HttpGateway*> Http(const HttpTlsOptions& tls = {}) {
    auto gateway = std::make_unique<HttpGateway>(api_.get(), Authenticator::InsecureDev());
    RETURN_IF_ERROR(gateway->Start("127.0.0.1:0", tls));
    gateways_.push_back(std::move(gateway));
    return gateways_.back().get();
  }

  // A submitted run whose root is held by an executor (lease, reply_to) and
  // has made four calls: a keystore get (answered with a secret), a keystore
  // set (its args carry a value), a call leased to a processor, and one
  // waiting for a retry. Returns the run id.
  std::string RunWithCalls(const std::string& key = "") {
    v1::SubmitTaskRunRequest submit;
    submit.set_task_identifier("t");
    submit.set_input_json(R"({"who":"me"})");
    submit.set_idempotency_key(key);
    auto submitted = store_->SubmitRun(submit);
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    v1::ClaimWorkRequest claim;
    claim.set_kind(v1::WORK_KIND_EXECUTE_ROOT);
    claim.set_owner(kExecutorOwner);
    claim.set_lease_ms(60000);
    claim.set_stack_run_id(submitted->root().id());
    claim.set_reply_to(kExecutorAddress);
    auto claimed = store_->ClaimWork(claim);
    EXPECT_TRUE(claimed.ok() && claimed->has_stack_run()) << claimed.status();
    v1::RecordCallsRequest record;
    record.set_root_stack_run_id(submitted->root().id());
    record.set_fencing_token(claimed->lease().fencing_token());
    auto* start = record.add_steps();
    start->set_seq(0);
    start->set_clock_ms(1000);
    const std::vector<std::array<std::string, 3>> calls = {
        {"keystore", "get", R"({"namespace":"app","key":"token"})"},
        {"keystore", "set", absl::StrCat(R"({"namespace":"app","key":"k","value":")", kWrittenSecret, R"("})")},
        {"admin-debug", "echo", R"({"x":1})"},
        {"admin-debug", "echo", R"({"x":2})"},
    };
    for (size_t i = 0; i < calls.size(); ++i) {
      auto* call = record.add_calls();
      call->set_index(static_cast<int>(i) + 1);
      call->set_step(0);
      call->set_call_id(absl::StrCat("c", i + 1));
      call->set_service(calls[i][0]);
      call->set_method(calls[i][1]);
      call->set_args_json(calls[i][2]);
    }
    record.set_dispatch_owner(kProcessorOwner);
    record.set_dispatch_lease_ms(60000);
    auto recorded = store_->RecordCalls(record);
    EXPECT_TRUE(recorded.ok()) << recorded.status();
    if (!recorded.ok()) return submitted->run().id();
    auto complete = [&](const v1::StackRunRecord& call, const std::string& result) {
      v1::CompleteCallRequest request;
      request.set_stack_run_id(call.id());
      request.set_fencing_token(call.fencing_token());
      request.set_result_json(result);
      auto completed = store_->CompleteCall(request);
      EXPECT_TRUE(completed.ok()) << completed.status();
    };
    complete(recorded->calls(0), absl::StrCat("\"", kKeystoreSecret, "\""));
    complete(recorded->calls(1), R"({"ok":true})");
    v1::RetryCallRequest retry;
    retry.set_stack_run_id(recorded->calls(3).id());
    retry.set_fencing_token(recorded->calls(3).fencing_token());
    retry.mutable_error()->set_message("busy");
    retry.mutable_error()->set_retryable(true);
    *retry.mutable_next_attempt_at() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now() + absl::Hours(1)));
    auto retried = store_->RetryCall(retry);
    EXPECT_TRUE(retried.ok()) << retried.status();
    return submitted->run().id();
  }

  // The stored stack runs, as storage (internal) shows them.
  std::vector<v1::StackRunRecord> Stored(const std::string& run_id) {
    v1::ListStackRunsRequest list;
    list.mutable_filter()->set_task_run_id(run_id);
    auto listed = store_->ListStackRuns(list);
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.ok() ? std::vector<v1::StackRunRecord>(listed->stack_runs().begin(), listed->stack_runs().end())
                       : std::vector<v1::StackRunRecord>{};
  }

  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<TaskApi> api_;
  std::unique_ptr<TaskService> service_;
  std::unique_ptr<ServerRunner> runner_;
  std::unique_ptr<v1::TaskService::Stub> stub_;
  std::vector<std::unique_ptr<HttpGateway>> gateways_;

  void TearDown() override {
    for (auto& gateway : gateways_) gateway->Stop();
    if (runner_) runner_->Shutdown();
  }
};

TEST_F(PublicApiTest, GetRunShowsNoInternalFieldsAndRedactsKeystoreValues) {
  const std::string run_id = RunWithCalls();
  // The setup holds what must be hidden (else the checks below prove nothing).
  const std::string stored = ProtoToJson([&] {
    v1::ListStackRunsResponse all;
    for (auto& s : Stored(run_id)) *all.add_stack_runs() = s;
    return all;
  }());
  for (const char* internal : {"leaseOwner", "fencingToken", "replyTo", kExecutorOwner, kExecutorAddress,
                               kProcessorOwner, kKeystoreSecret, kWrittenSecret}) {
    ASSERT_TRUE(absl::StrContains(stored, internal)) << internal << " not in " << stored;
  }

  v1::GetRunRequest request;
  request.set_name(run_id);
  v1::GetRunResponse response;
  auto context = MakeContext(absl::Seconds(10));
  grpc::Status status = Grpc()->GetRun(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.stack_runs_size(), 5);
  ExpectNoInternals(ProtoToJson(response), "GetRun (proto JSON)");
  ExpectNoInternals(ProtoToJsonWithPayloads(response), "GetRun (with payloads)");
  ExpectNoInternals(response.SerializeAsString(), "GetRun (wire bytes)");
  for (const auto& s : response.stack_runs()) {
    // The public StackRun has no lease fields at all; nothing of them rides
    // along as unknown fields either.
    EXPECT_EQ(s.GetReflection()->GetUnknownFields(s).field_count(), 0) << s.DebugString();
    EXPECT_EQ(s.name(), absl::StrCat("runs/", run_id, "/stackRuns/", s.id()));
    if (s.kind() == v1::STACK_RUN_KIND_ROOT) {
      EXPECT_EQ(s.status(), v1::STACK_RUN_STATUS_RUNNING);
      EXPECT_FALSE(s.has_next_attempt_at());
      continue;
    }
    // The public fields are all there.
    EXPECT_FALSE(s.id().empty());
    EXPECT_EQ(s.task_run_id(), run_id);
    EXPECT_FALSE(s.parent_id().empty());
    EXPECT_GE(s.call_index(), 1);
    EXPECT_EQ(s.call_id(), absl::StrCat("c", s.call_index()));
    switch (s.call_index()) {
      case 1:
        EXPECT_EQ(s.method(), "get");
        EXPECT_EQ(s.args_json(), R"({"namespace":"app","key":"token"})");
        EXPECT_EQ(s.result_json(), R"("[redacted]")");
        EXPECT_EQ(s.status(), v1::STACK_RUN_STATUS_COMPLETED);
        break;
      case 2:
        EXPECT_EQ(s.method(), "set");
        EXPECT_EQ(s.args_json(), R"({"namespace":"app","key":"k","value":"[redacted]"})");
        EXPECT_EQ(s.result_json(), R"({"ok":true})");
        break;
      case 3:
        EXPECT_EQ(s.args_json(), R"({"x":1})");
        EXPECT_EQ(s.status(), v1::STACK_RUN_STATUS_RUNNING);
        EXPECT_FALSE(s.has_next_attempt_at());
        break;
      case 4:
        // Waiting for its retry: when it is due is the user's business.
        EXPECT_EQ(s.status(), v1::STACK_RUN_STATUS_PENDING);
        EXPECT_TRUE(s.has_next_attempt_at());
        EXPECT_EQ(s.error().message(), "busy");
        break;
    }
  }

  // ListRuns and WatchRun carry the run (no internal fields to begin with).
  v1::ListRunsResponse listed;
  auto list_context = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(Grpc()->ListRuns(list_context.get(), v1::ListRunsRequest(), &listed).ok());
  ASSERT_EQ(listed.runs_size(), 1);
  ExpectNoInternals(ProtoToJson(listed), "ListRuns");
  v1::WatchRunRequest watch;
  watch.set_name(run_id);
  auto watch_context = MakeContext(absl::Seconds(10));
  auto reader = Grpc()->WatchRun(watch_context.get(), watch);
  v1::RunEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.run().id(), run_id);
  ExpectNoInternals(ProtoToJson(event), "WatchRun");
  watch_context->TryCancel();
  reader->Finish();
}

TEST_F(PublicApiTest, ARepeatedSubmitShowsTheHeldRootWithoutItsLease) {
  const std::string run_id = RunWithCalls("key-1");
  v1::SubmitRunRequest request;
  request.set_task_identifier("t");
  request.set_input_json(R"({"who":"me"})");
  request.set_idempotency_key("key-1");
  v1::SubmitRunResponse response;
  auto context = MakeContext(absl::Seconds(10));
  grpc::Status status = Grpc()->SubmitRun(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.created());
  EXPECT_EQ(response.run().id(), run_id);
  EXPECT_EQ(response.root().status(), v1::STACK_RUN_STATUS_RUNNING);
  ExpectNoInternals(ProtoToJson(response), "SubmitRun");
}

TEST_F(PublicApiTest, AnIdempotencyKeyReusedForAnotherInputIsAlreadyExistsOverGrpc) {
  v1::SubmitRunRequest request;
  request.set_task_identifier("t");
  request.set_input_json(R"({"n":1})");
  request.set_idempotency_key("k1");
  v1::SubmitRunResponse first, again, other;
  auto c1 = MakeContext(absl::Seconds(10)), c2 = MakeContext(absl::Seconds(10)), c3 = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(Grpc()->SubmitRun(c1.get(), request, &first).ok());
  ASSERT_TRUE(Grpc()->SubmitRun(c2.get(), request, &again).ok());
  EXPECT_TRUE(first.created());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.run().id(), first.run().id());
  request.set_input_json(R"({"n":2})");
  grpc::Status status = Grpc()->SubmitRun(c3.get(), request, &other);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  EXPECT_EQ(status.error_message(),
            absl::StrCat("idempotency_key 'k1': already used by run ", first.run().id(), " with a different input"));
}

// Every error carries google.rpc.Status details a client can decode.
TEST_F(PublicApiTest, ErrorsCarryReasonsAndTheBadField) {
  auto decode = [](const grpc::Status& status, google::rpc::ErrorInfo* info, google::rpc::BadRequest* bad) {
    google::rpc::Status details;
    EXPECT_TRUE(details.ParseFromString(status.error_details())) << status.error_message();
    EXPECT_EQ(details.code(), status.error_code());
    for (const auto& any : details.details()) {
      any.UnpackTo(info);
      any.UnpackTo(bad);
    }
  };
  v1::GetRunRequest get;
  get.set_name("runs/run_nope");
  v1::GetRunResponse run;
  auto context = MakeContext(absl::Seconds(10));
  grpc::Status missing = Grpc()->GetRun(context.get(), get, &run);
  ASSERT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND) << missing.error_message();
  google::rpc::ErrorInfo info;
  google::rpc::BadRequest bad;
  decode(missing, &info, &bad);
  EXPECT_EQ(info.reason(), "RUN_NOT_FOUND");
  EXPECT_EQ(info.domain(), "tasker.dev");

  v1::SubmitRunRequest submit;
  submit.set_task_identifier("t");
  submit.set_input_json("{not json");
  v1::SubmitRunResponse submitted;
  auto submit_context = MakeContext(absl::Seconds(10));
  grpc::Status invalid = Grpc()->SubmitRun(submit_context.get(), submit, &submitted);
  ASSERT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << invalid.error_message();
  info.Clear();
  decode(invalid, &info, &bad);
  EXPECT_EQ(info.reason(), "INVALID_FIELD");
  EXPECT_EQ(info.metadata().at("field"), "input_json");
  ASSERT_EQ(bad.field_violations_size(), 1);
  EXPECT_EQ(bad.field_violations(0).field(), "input_json");
  EXPECT_FALSE(bad.field_violations(0).description().empty());

  // An explicit reason set deep in storage reaches the client, metadata and all.
  const std::string run_id = RunWithCalls();
  for (int attempt = 0; attempt < 2; ++attempt) {
    v1::CancelRunRequest cancel;
    cancel.set_name(absl::StrCat("runs/", run_id));
    v1::TaskRun cancelled;
    auto cancel_context = MakeContext(absl::Seconds(10));
    grpc::Status status = Grpc()->CancelRun(cancel_context.get(), cancel, &cancelled);
    if (attempt == 0) {
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(cancelled.name(), absl::StrCat("runs/", run_id));
      continue;
    }
    ASSERT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
    info.Clear();
    decode(status, &info, &bad);
    EXPECT_EQ(info.reason(), "RUN_ALREADY_FINISHED");
    EXPECT_EQ(info.metadata().at("run"), run_id);
    EXPECT_EQ(info.metadata().at("status"), "RUN_STATUS_CANCELLED");
  }

  // A name of another collection is refused, naming the field.
  get.set_name("tasks/t/versions/1");
  auto bad_name_context = MakeContext(absl::Seconds(10));
  grpc::Status bad_name = Grpc()->GetRun(bad_name_context.get(), get, &run);
  ASSERT_EQ(bad_name.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  bad.Clear();
  decode(bad_name, &info, &bad);
  ASSERT_EQ(bad.field_violations_size(), 1);
  EXPECT_EQ(bad.field_violations(0).field(), "name");
}

// Runs and functions are named and listed the AIP way.
TEST_F(PublicApiTest, ResourceNamesAndPaging) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(RunWithCalls());
  std::vector<std::string> seen;
  v1::ListRunsRequest list;
  list.set_page_size(2);
  list.set_task_identifier("t");
  for (int pages = 0; pages < 5; ++pages) {
    v1::ListRunsResponse page;
    auto context = MakeContext(absl::Seconds(10));
    ASSERT_TRUE(Grpc()->ListRuns(context.get(), list, &page).ok());
    EXPECT_LE(page.runs_size(), 2);
    for (const auto& r : page.runs()) {
      EXPECT_EQ(r.name(), absl::StrCat("runs/", r.id()));
      seen.push_back(r.id());
    }
    if (page.next_page_token().empty()) break;
    list.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(seen.size(), 3u);
  // Filters are top-level fields.
  v1::ListRunsRequest none;
  none.set_task_identifier("no-such-task");
  v1::ListRunsResponse empty;
  auto none_context = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(Grpc()->ListRuns(none_context.get(), none, &empty).ok());
  EXPECT_EQ(empty.runs_size(), 0);
  // GetRun by name, by bare id, and by number.
  for (const std::string& name : {absl::StrCat("runs/", ids[0]), ids[0]}) {
    v1::GetRunRequest get;
    get.set_name(name);
    v1::GetRunResponse got;
    auto context = MakeContext(absl::Seconds(10));
    ASSERT_TRUE(Grpc()->GetRun(context.get(), get, &got).ok()) << name;
    EXPECT_EQ(got.run().id(), ids[0]);
  }
  // Functions: "tasks/{identifier}/versions/{version}".
  v1::GetTaskFunctionRequest get_function;
  get_function.set_name("tasks/t");
  v1::TaskFunction function;
  auto function_context = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(Grpc()->GetTaskFunction(function_context.get(), get_function, &function).ok());
  EXPECT_EQ(function.name(), absl::StrCat("tasks/t/versions/", function.version()));
  get_function.set_name(function.name());
  auto again_context = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(Grpc()->GetTaskFunction(again_context.get(), get_function, &function).ok());
  v1::ListTaskFunctionsRequest list_functions;
  list_functions.set_page_size(1);
  v1::ListTaskFunctionsResponse functions;
  auto list_context = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(Grpc()->ListTaskFunctions(list_context.get(), list_functions, &functions).ok());
  ASSERT_EQ(functions.functions_size(), 1);
  EXPECT_EQ(functions.functions(0).name(), "tasks/t/versions/1");
}

TEST(PublicViewTest, RedactsKeystoreValuesWhateverTheirShape) {
  v1::StackRunRecord s;
  s.set_kind(v1::STACK_RUN_KIND_CALL);
  s.set_service("Keystore");
  s.set_method("getKey");
  s.set_result_json(R"({"nested":"secret"})");
  EXPECT_EQ(PublicView(s).result_json(), R"("[redacted]")");
  // Not answered yet: nothing to redact.
  s.clear_result_json();
  EXPECT_EQ(PublicView(s).result_json(), "");
  // A set's args given as [object] (the provider accepts it) are redacted whole.
  s.set_method("set");
  s.set_args_json(R"([{"namespace":"a","key":"b","value":"secret"}])");
  EXPECT_EQ(PublicView(s).args_json(), R"("[redacted]")");
  // Other members keep their exact text.
  s.set_args_json(R"({"key" : "b","n":1.50,"value":{"deep":"secret"}})");
  EXPECT_EQ(PublicView(s).args_json(), R"({"key":"b","n":1.50,"value":"[redacted]"})");
  // Other services' payloads are untouched; the lease fields do not exist in
  // the public message, not even as unknown fields.
  v1::StackRunRecord other;
  other.set_id("s1");
  other.set_task_run_id("r1");
  other.set_service("gapi");
  other.set_method("get");
  other.set_args_json(R"({"value":1})");
  other.set_result_json(R"("plain")");
  other.set_lease_owner("x");
  other.set_fencing_token(7);
  other.set_reply_to("10.0.0.1:1");
  other.mutable_caller()->add_permissions("*");
  const v1::StackRun shown = PublicView(other);
  EXPECT_EQ(shown.args_json(), R"({"value":1})");
  EXPECT_EQ(shown.result_json(), R"("plain")");
  EXPECT_EQ(shown.name(), "runs/r1/stackRuns/s1");
  EXPECT_EQ(shown.GetReflection()->GetUnknownFields(shown).field_count(), 0);
  EXPECT_FALSE(absl::StrContains(shown.SerializeAsString(), "10.0.0.1")) << shown.DebugString();
}

// Every public field of TaskRun and StackRun is the record's field of the same
// number, name and type: PublicView's conversion (a parse of the record's
// bytes) relies on it. `name` is the public message's own.
TEST(PublicViewTest, PublicMessagesAreWireSubsetsOfTheRecords) {
  auto check = [](const google::protobuf::Descriptor* public_message, const google::protobuf::Descriptor* record) {
    int shared = 0;
    for (int i = 0; i < public_message->field_count(); ++i) {
      const auto* field = public_message->field(i);
      if (field->name() == "name") continue;
      const auto* same = record->FindFieldByNumber(field->number());
      ASSERT_NE(same, nullptr) << public_message->name() << "." << field->name();
      EXPECT_EQ(same->name(), field->name());
      EXPECT_EQ(same->type(), field->type()) << field->name();
      EXPECT_EQ(same->is_repeated(), field->is_repeated()) << field->name();
      if (field->message_type() != nullptr) EXPECT_EQ(same->message_type(), field->message_type()) << field->name();
      if (field->enum_type() != nullptr) EXPECT_EQ(same->enum_type(), field->enum_type()) << field->name();
      ++shared;
    }
    EXPECT_GT(shared, 10);
    EXPECT_EQ(record->FindFieldByNumber(public_message->FindFieldByName("name")->number()), nullptr);
  };
  check(v1::TaskRun::descriptor(), v1::TaskRunRecord::descriptor());
  check(v1::StackRun::descriptor(), v1::StackRunRecord::descriptor());
  // And the record's internal fields are reserved in the public message.
  for (const char* internal : {"lease_owner", "lease_expires_at", "fencing_token", "reply_to", "caller"}) {
    EXPECT_EQ(v1::StackRun::descriptor()->FindFieldByName(internal), nullptr) << internal;
    EXPECT_TRUE(v1::StackRun::descriptor()->IsReservedName(internal)) << internal;
  }
}

TEST(PublicViewTest, RunNamesAcceptResourceNamesAndBareIds) {
  EXPECT_EQ(*RunIdFromName("runs/abc"), "abc");
  EXPECT_EQ(*RunIdFromName("abc"), "abc");
  EXPECT_EQ(*RunIdFromName("17"), "17");
  EXPECT_EQ(RunIdFromName("tasks/x/versions/1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunIdFromName("runs/").status().code(), absl::StatusCode::kInvalidArgument);
  v1::TaskRunRecord run;
  run.set_id("abc");
  EXPECT_EQ(PublicView(run).name(), "runs/abc");
  v1::TaskFunction function;
  function.set_identifier("t");
  function.set_version(3);
  EXPECT_EQ(PublicView(function).name(), "tasks/t/versions/3");
}

// --- HTTP ---

TEST_F(PublicApiTest, HttpAnswers409ForAnIdempotencyKeyReusedForAnotherRequest) {
  auto gateway = Http();
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  httplib::Client http("127.0.0.1", (*gateway)->port());
  const std::string body = R"({"name":"t","input":{"a":1},"idempotencyKey":"k1"})";
  auto first = http.Post("/task/submit", body, "application/json");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  const Json created = Json::parse(first->body);
  EXPECT_EQ(created["created"], true);
  auto again = http.Post("/task/submit", body, "application/json");
  ASSERT_TRUE(again);
  ASSERT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(Json::parse(again->body)["runId"], created["runId"]);
  EXPECT_EQ(Json::parse(again->body)["created"], false);

  const std::string message = absl::StrCat("idempotency_key 'k1': already used by run ",
                                           created["runId"].get<std::string>(), " with a different input");
  auto different = http.Post("/task/submit", R"({"name":"t","input":{"a":2},"idempotencyKey":"k1"})",
                             "application/json");
  ASSERT_TRUE(different);
  EXPECT_EQ(different->status, 409) << different->body;
  EXPECT_EQ(different->get_header_value("Content-Type"), "application/json");
  // The old platform's error shape on its route.
  EXPECT_EQ(Json::parse(different->body),
            Json({{"success", false}, {"error", message}, {"code", "ALREADY_EXISTS"}}));
  // The path form takes the key from the Idempotency-Key header.
  auto via_path = http.Post("/functions/v1/tasks/t", {{"Idempotency-Key", "k1"}}, R"({"a":3})", "application/json");
  ASSERT_TRUE(via_path);
  EXPECT_EQ(via_path->status, 409) << via_path->body;
  EXPECT_EQ(Json::parse(via_path->body)["error"]["code"], "ALREADY_EXISTS");
  v1::ListTaskRunsRequest list;
  EXPECT_EQ(store_->ListTaskRuns(list)->runs_size(), 1);
}

TEST_F(PublicApiTest, HttpStatusShowsNoInternalFields) {
  const std::string run_id = RunWithCalls();
  auto gateway = Http();
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  httplib::Client http("127.0.0.1", (*gateway)->port());
  auto got = http.Get(("/task/status/" + run_id).c_str());
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200) << got->body;
  const Json run = Json::parse(got->body);
  EXPECT_EQ(run["run_id"], run_id);
  EXPECT_EQ(run["id"], 1);  // its number
  EXPECT_EQ(run["input"], Json::parse(R"({"who":"me"})"));
  ExpectNoInternals(got->body, "GET /task/status");
}

// --- HTTPS ---

// A self-signed certificate for 127.0.0.1 (a CA of itself) made with the
// openssl command: `dir`/`name`.pem and `dir`/`name`.key.
void MakeCertificate(const std::string& dir, const std::string& name) {
  auto [rc, out] = tasker::testing::RunCommand(absl::StrCat(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1",
      " -addext subjectAltName=IP:127.0.0.1 -keyout ", dir, "/", name, ".key -out ", dir, "/", name, ".pem 2>&1"));
  ASSERT_EQ(rc, 0) << out;
}

class HttpsTest : public PublicApiTest {
 protected:
  void SetUp() override {
    PublicApiTest::SetUp();
    dir_ = tasker::testing::MakeTempDir("tls");
    for (const char* name : {"server", "other", "client", "stranger"}) MakeCertificate(dir_, name);
  }
  std::string File(const std::string& name) const { return absl::StrCat(dir_, "/", name); }
  HttpTlsOptions Tls() const { return {.cert_file = File("server.pem"), .key_file = File("server.key")}; }

  // A client that trusts only `ca` (a file in dir_).
  std::unique_ptr<httplib::SSLClient> Client(int port, const std::string& ca, const std::string& cert = "") {
    auto client = cert.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", port)
                               : std::make_unique<httplib::SSLClient>("127.0.0.1", port, File(cert + ".pem"),
                                                                      File(cert + ".key"));
    client->set_ca_cert_path(File(ca).c_str());
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(5);
    client->set_read_timeout(5);
    return client;
  }

  std::string dir_;
};

TEST_F(HttpsTest, ServesHttpsOnlyToClientsThatVerifyItsCertificate) {
  auto gateway = Http(Tls());
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  const int port = (*gateway)->port();
  auto client = Client(port, "server.pem");
  auto health = client->Get("/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Json::parse(health->body)["status"], "ok");
  auto submitted = client->Post("/task/submit", R"({"name":"t","input":[1]})", "application/json");
  ASSERT_TRUE(submitted) << httplib::to_string(submitted.error());
  EXPECT_EQ(submitted->status, 200) << submitted->body;
  EXPECT_EQ(Json::parse(submitted->body)["created"], true);

  // Plain HTTP gets no answer.
  httplib::Client plain("127.0.0.1", port);
  plain.set_connection_timeout(5);
  plain.set_read_timeout(5);
  auto refused = plain.Get("/health");
  EXPECT_FALSE(refused) << refused->status << " " << refused->body;
  // A client trusting another CA does not accept the server (the check is real).
  auto mistrusting = Client(port, "other.pem")->Get("/health");
  EXPECT_FALSE(mistrusting);
  // The server is still up.
  EXPECT_TRUE(Client(port, "server.pem")->Get("/health"));
}

TEST_F(HttpsTest, WithAClientCaOnlyClientsWithACertificateItSignedGetIn) {
  HttpTlsOptions tls = Tls();
  tls.client_ca_file = File("client.pem");
  auto gateway = Http(tls);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  const int port = (*gateway)->port();
  auto with_cert = Client(port, "server.pem", "client")->Get("/health");
  ASSERT_TRUE(with_cert) << httplib::to_string(with_cert.error());
  EXPECT_EQ(with_cert->status, 200);
  auto without_cert = Client(port, "server.pem")->Get("/health");
  EXPECT_FALSE(without_cert) << without_cert->status;
  auto unknown_cert = Client(port, "server.pem", "stranger")->Get("/health");
  EXPECT_FALSE(unknown_cert) << unknown_cert->status;
  EXPECT_TRUE(Client(port, "server.pem", "client")->Get("/health"));
}

TEST_F(HttpsTest, BadTlsFilesAreRefusedNamingTheOption) {
  auto expect_refused = [&](const HttpTlsOptions& tls, const std::string& prefix) {
    auto gateway = Http(tls);
    ASSERT_FALSE(gateway.ok()) << prefix;
    EXPECT_EQ(gateway.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(gateway.status().message(), prefix)) << gateway.status();
  };
  expect_refused({.cert_file = File("missing.pem"), .key_file = File("server.key")}, "http_tls_cert: cannot load");
  expect_refused({.cert_file = File("server.pem"), .key_file = File("server.pem")}, "http_tls_key: cannot load");
  expect_refused({.cert_file = File("server.pem"), .key_file = File("other.key")}, "http_tls_key: '");
  expect_refused({.cert_file = File("server.pem"), .key_file = File("server.key"), .client_ca_file = File("nope")},
                 "http_tls_client_ca: cannot load");
  expect_refused({.cert_file = File("server.pem")}, "http_tls_cert, http_tls_key: give both");
  expect_refused({.client_ca_file = File("client.pem")}, "http_tls_client_ca: needs");
}

}  // namespace
}  // namespace tasker::services
