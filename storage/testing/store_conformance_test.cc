// ONE conformance suite for the Store, run against every backend: SQLite (a
// file in a temp dir) and a real Postgres server started for this test.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "runtime/server/server.h"
#include "storage/remote/remote_store.h"
#include "storage/sql/migrations.h"
#include "services/storage/storage_service.h"
#include "storage/postgres/postgres_database.h"
#include "storage/postgres/postgres_store.h"
#include "storage/sqlite/sqlite_database.h"
#include "storage/sqlite/sqlite_store.h"
#include "storage/open_store.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace tasker::storage {
namespace {

// Payloads are JSON text, stored and returned byte for byte.
std::string Json(const std::string& text) { return text; }
std::string ToJsonText(const std::string& text) { return text.empty() ? "null" : text; }

// The newest migration of both backends.
constexpr int kLatestSchemaVersion = 6;

// What StoreTest::Record adds to a RecordCallsRequest.
struct RecordOptions {
  std::string dispatch_owner;
  int64_t dispatch_lease_ms = 0;
  std::vector<std::string> logs;
  // Per call (by position); missing: 0.
  std::vector<int64_t> delays_ms;
};

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    now_micros_ = absl::ToUnixMicros(absl::FromCivil(absl::CivilSecond(2026, 1, 1), absl::UTCTimeZone()));
    auto url = NewDatabaseUrl();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    auto store = Open();
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  absl::StatusOr<std::string> NewDatabaseUrl() {
    static std::atomic<int> counter{0};
    if (GetParam() != "postgres") {
      return absl::StrCat("sqlite://", tasker::testing::MakeTempDir("store"), "/tasks.db");
    }
    std::string error;
    auto* pg = tasker::testing::SharedPostgres(&error);
    if (!pg) return absl::UnavailableError(error);
    return pg->CreateDatabase(absl::StrCat("conf_", getpid(), "_", counter++));
  }

  absl::StatusOr<std::unique_ptr<Store>> Open() {
    StoreOptions options;
    options.clock = [this] { return absl::FromUnixMicros(now_micros_.load()); };
    options.limits.max_payload_bytes = 64 * 1024;
    if (GetParam() != "sqlite-grpc") return OpenStore(url_, options);
    // The same suite through the gRPC boundary: SqlStore behind the Storage
    // service on a real loopback port, used through RemoteStore.
    auto backend = OpenStore(url_, options);
    if (!backend.ok()) return backend.status();
    backend_ = std::move(*backend);
    service_ = std::make_unique<StorageService>(backend_.get());
    runner_ = std::make_unique<ServerRunner>(ServerConfig{.component = "storage-test", .authenticator = tasker::Authenticator::InsecureDev()});
    runner_->AddService(service_.get(), "*", tasker::Roles::All());
    if (auto started = runner_->Start(); !started.ok()) return started;
    auto channel = MakeChannel({.target = runner_->local_target()});
    if (!channel.ok()) return channel.status();
    return std::unique_ptr<Store>(new RemoteStore(*channel));
  }

  void TearDown() override {
    store_.reset();
    if (runner_) runner_->Shutdown();
  }

  void Advance(absl::Duration d) { now_micros_ += absl::ToInt64Microseconds(d); }

  // The store's database opened directly, under the store's API.
  absl::StatusOr<std::unique_ptr<sql::Database>> OpenDatabase() {
    if (GetParam() != "postgres") return sql::OpenSqlite({.path = url_.substr(strlen("sqlite://"))});
    return sql::OpenPostgres({.url = url_});
  }

  v1::TaskFunction Publish(const std::string& id, const std::string& code = "return 1") {
    v1::PublishTaskFunctionRequest request;
    request.set_identifier(id);
    request.set_code(code);
    auto f = store_->PublishTaskFunction(request);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *f : v1::TaskFunction();
  }

  v1::SubmitTaskRunResponse Submit(const std::string& task, const std::string& input = "{}",
                               const std::string& key = "") {
    v1::SubmitTaskRunRequest request;
    request.set_task_identifier(task);
    request.set_input_json(Json(input));
    request.set_idempotency_key(key);
    auto r = store_->SubmitRun(request);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::SubmitTaskRunResponse();
  }

  absl::StatusOr<v1::ClaimWorkResponse> Claim(v1::WorkKind kind, const std::string& owner,
                                              int64_t lease_ms = 30000, const std::string& id = "",
                                              const std::string& reply_to = "") {
    v1::ClaimWorkRequest request;
    request.set_kind(kind);
    request.set_owner(owner);
    request.set_lease_ms(lease_ms);
    request.set_stack_run_id(id);
    request.set_reply_to(reply_to);
    return store_->ClaimWork(request);
  }

  // Records `calls` calls of the held root `claim`, numbered after the run's
  // last call and made in the journal's last step (the start, seq 0, is
  // appended when the journal is empty). Call ids are "c<index>".
  absl::StatusOr<v1::RecordCallsResponse> Record(const v1::ClaimWorkResponse& claim, int calls,
                                                 const RecordOptions& options = {}) {
    v1::GetJournalRequest get;
    get.set_root_stack_run_id(claim.stack_run().id());
    auto journal = store_->GetJournal(get);
    if (!journal.ok()) return journal.status();
    v1::RecordCallsRequest request;
    request.set_root_stack_run_id(claim.stack_run().id());
    request.set_fencing_token(claim.lease().fencing_token());
    int step = journal->steps_size() - 1;
    if (journal->steps_size() == 0) {
      auto* start = request.add_steps();
      start->set_seq(0);
      start->set_clock_ms(absl::ToUnixMillis(absl::FromUnixMicros(now_micros_.load())));
      start->set_random_seed(0xfedcba9876543210ull);
      step = 0;
    }
    const int first = journal->calls_size() == 0
                          ? 1
                          : journal->calls(journal->calls_size() - 1).call_index() + 1;
    for (int i = 0; i < calls; ++i) {
      auto* call = request.add_calls();
      call->set_index(first + i);
      call->set_step(step);
      call->set_call_id(absl::StrCat("c", first + i));
      call->set_service("admin-debug");
      call->set_method("echo");
      call->set_args_json(Json(absl::StrCat("{\"i\":", first + i, "}")));
      if (i < static_cast<int>(options.delays_ms.size())) call->set_delay_ms(options.delays_ms[i]);
    }
    request.set_dispatch_owner(options.dispatch_owner);
    request.set_dispatch_lease_ms(options.dispatch_lease_ms);
    for (const auto& line : options.logs) request.add_logs()->set_message(line);
    return store_->RecordCalls(request);
  }

  // A checkpoint of the held root `claim` covering the journal's steps
  // before `step`.
  static v1::Continuation Checkpoint(int step, const std::string& data = std::string("snap\0shot", 9)) {
    v1::Continuation c;
    c.set_data(data);
    c.set_format_version(1);
    c.set_v8_version("10.2");
    c.set_step(step);
    return c;
  }

  // PutCheckpoint on the held root `claim`: appends a delivery step for each
  // of `delivered` (call ids, seq after the journal's last), stores
  // `checkpoint` when given, releases the root when `release`.
  absl::StatusOr<v1::PutCheckpointResponse> Put(const v1::ClaimWorkResponse& claim,
                                                const std::vector<std::string>& delivered,
                                                const v1::Continuation* checkpoint, bool release) {
    v1::GetJournalRequest get;
    get.set_root_stack_run_id(claim.stack_run().id());
    auto journal = store_->GetJournal(get);
    if (!journal.ok()) return journal.status();
    v1::PutCheckpointRequest request;
    request.set_root_stack_run_id(claim.stack_run().id());
    request.set_fencing_token(claim.lease().fencing_token());
    int seq = journal->steps_size();
    for (const auto& id : delivered) {
      auto* step = request.add_steps();
      step->set_seq(seq++);
      step->set_trigger_call_id(id);
      step->set_clock_ms(1000 + seq);
    }
    if (checkpoint) *request.mutable_checkpoint() = *checkpoint;
    request.set_release(release);
    return store_->PutCheckpoint(request);
  }

  // Records `calls` calls on a held root and releases it (the run evicted
  // while its calls are outstanding).
  absl::Status RecordAndRelease(const v1::ClaimWorkResponse& claim, int calls) {
    auto recorded = Record(claim, calls);
    if (!recorded.ok()) return recorded.status();
    const v1::Continuation checkpoint = Checkpoint(1);
    return Put(claim, {}, &checkpoint, true).status();
  }

  absl::StatusOr<v1::Journal> Journal(const std::string& root_id) {
    v1::GetJournalRequest get;
    get.set_root_stack_run_id(root_id);
    return store_->GetJournal(get);
  }

  absl::StatusOr<v1::CompleteCallResponse> CompleteCall(const v1::ClaimWorkResponse& claim,
                                                        const std::string& result_json) {
    return Complete(claim.stack_run().id(), claim.lease().fencing_token(), result_json);
  }

  absl::StatusOr<v1::CompleteCallResponse> Complete(const std::string& id, int64_t token,
                                                    const std::string& result_json) {
    v1::CompleteCallRequest request;
    request.set_stack_run_id(id);
    request.set_fencing_token(token);
    request.set_result_json(Json(result_json));
    return store_->CompleteCall(request);
  }

  v1::TaskRunRecord GetRun(const std::string& id) {
    v1::GetTaskRunRequest request;
    request.set_id(id);
    request.set_include_logs(true);
    auto run = store_->GetTaskRun(request);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::TaskRunRecord();
  }

  int CountStackRuns(const std::string& run_id) {
    v1::ListStackRunsRequest request;
    request.mutable_filter()->set_task_run_id(run_id);
    request.mutable_page()->set_limit(1000);
    auto list = store_->ListStackRuns(request);
    EXPECT_TRUE(list.ok());
    return list.ok() ? list->stack_runs_size() : -1;
  }

  std::atomic<int64_t> now_micros_{0};
  std::string url_;
  std::unique_ptr<Store> backend_;
  std::unique_ptr<StorageService> service_;
  std::unique_ptr<ServerRunner> runner_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, PublishCreatesImmutableIncreasingVersions) {
  auto v1f = Publish("gmail-search", "return 1");
  auto v2f = Publish("gmail-search", "return 2");
  EXPECT_EQ(v1f.version(), 1);
  EXPECT_EQ(v2f.version(), 2);
  EXPECT_EQ(v1f.code_sha256().size(), 64u);
  v1::GetFunctionRequest get;
  get.set_identifier("gmail-search");
  EXPECT_EQ(store_->GetTaskFunction(get)->code(), "return 2");
  get.set_version(1);
  EXPECT_EQ(store_->GetTaskFunction(get)->code(), "return 1");
  get.set_version(3);
  EXPECT_EQ(store_->GetTaskFunction(get).status().code(), absl::StatusCode::kNotFound);
  get.set_identifier("nope");
  get.set_version(0);
  EXPECT_EQ(store_->GetTaskFunction(get).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, PublishRejectsBadInputNamingTheField) {
  v1::PublishTaskFunctionRequest request;
  request.set_identifier("bad name!");
  request.set_code("x");
  auto r = store_->PublishTaskFunction(request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("identifier"), std::string::npos);
  request.set_identifier("ok");
  request.set_code("");
  r = store_->PublishTaskFunction(request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("code"), std::string::npos);
  v1::ListFunctionsRequest list;
  EXPECT_EQ(store_->ListTaskFunctions(list)->functions_size(), 0);
}

TEST_P(StoreTest, ConcurrentPublishesGetDistinctVersions) {
  std::vector<std::thread> threads;
  absl::Mutex mu;
  std::set<int64_t> versions;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        v1::PublishTaskFunctionRequest request;
        request.set_identifier("hot");
        request.set_code("return 0");
        auto f = store_->PublishTaskFunction(request);
        ASSERT_TRUE(f.ok()) << f.status();
        absl::MutexLock lock(&mu);
        versions.insert(f->version());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(versions.size(), 20u);
  EXPECT_EQ(*versions.rbegin(), 20);
}

TEST_P(StoreTest, ListFunctionsLatestAndVersionsWithPaging) {
  for (const char* id : {"a", "b", "c"}) Publish(id);
  Publish("b", "return 'b2'");
  v1::ListFunctionsRequest request;
  request.mutable_page()->set_limit(2);
  request.set_omit_code(true);
  auto page1 = store_->ListTaskFunctions(request);
  ASSERT_TRUE(page1.ok()) << page1.status();
  ASSERT_EQ(page1->functions_size(), 2);
  EXPECT_EQ(page1->functions(0).identifier(), "a");
  EXPECT_EQ(page1->functions(1).identifier(), "b");
  EXPECT_EQ(page1->functions(1).version(), 2);
  EXPECT_TRUE(page1->functions(0).code().empty());
  request.mutable_page()->set_page_token(page1->next_page_token());
  auto page2 = store_->ListTaskFunctions(request);
  ASSERT_EQ(page2->functions_size(), 1);
  EXPECT_EQ(page2->functions(0).identifier(), "c");
  EXPECT_TRUE(page2->next_page_token().empty());
  v1::ListFunctionsRequest versions;
  versions.set_identifier("b");
  auto all = store_->ListTaskFunctions(versions);
  ASSERT_EQ(all->functions_size(), 2);
  EXPECT_EQ(all->functions(0).version(), 2);
  v1::ListFunctionsRequest bad;
  bad.mutable_page()->set_page_token("%%%");
  EXPECT_EQ(store_->ListTaskFunctions(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, SubmitCreatesRunAndRootAndPinsVersion) {
  Publish("t", "return 1");
  auto r = Submit("t", R"({"customer":"x","n":[1,2]})");
  EXPECT_TRUE(r.created());
  EXPECT_EQ(r.run().status(), v1::RUN_STATUS_PENDING);
  EXPECT_EQ(r.run().task_version(), 1);
  EXPECT_EQ(r.root().status(), v1::STACK_RUN_STATUS_PENDING);
  EXPECT_EQ(r.root().kind(), v1::STACK_RUN_KIND_ROOT);
  EXPECT_EQ(r.run().root_stack_run_id(), r.root().id());
  Publish("t", "return 2");
  auto fetched = GetRun(r.run().id());
  EXPECT_EQ(fetched.task_version(), 1);
  EXPECT_EQ(ToJsonText(fetched.input_json()), ToJsonText(Json(R"({"customer":"x","n":[1,2]})")));
}

TEST_P(StoreTest, RunsAndStackRunsAreNumberedAndARunIsFoundByItsNumber) {
  Publish("t", "return 1");
  auto first = Submit("t", "{}");
  auto second = Submit("t", "{}");
  const v1::TaskRunRecord a = GetRun(first.run().id());
  const v1::TaskRunRecord b = GetRun(second.run().id());
  EXPECT_EQ(a.number(), 1);
  EXPECT_EQ(b.number(), 2);
  const v1::TaskRunRecord by_number = GetRun("2");
  EXPECT_EQ(by_number.id(), second.run().id());
  EXPECT_EQ(by_number.number(), 2);
  v1::GetTaskRunRequest missing;
  missing.set_id("99");
  EXPECT_EQ(store_->GetTaskRun(missing).status().code(), absl::StatusCode::kNotFound);
  // Calls are numbered after the roots, in the order they were recorded.
  auto claim = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec");
  ASSERT_TRUE(claim.ok() && claim->has_stack_run());
  ASSERT_TRUE(Record(*claim, 2).ok());
  v1::ListStackRunsRequest list;
  list.mutable_filter()->set_task_run_id(claim->stack_run().task_run_id());
  auto listed = store_->ListStackRuns(list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::map<int, int64_t> numbers;  // call index -> number
  for (const auto& s : listed->stack_runs()) numbers[s.call_index()] = s.number();
  ASSERT_EQ(numbers.size(), 3u);
  EXPECT_GE(numbers[0], 1);
  EXPECT_EQ(numbers[1], 3);  // two roots first
  EXPECT_EQ(numbers[2], 4);
}

TEST_P(StoreTest, ADelayedCallWaitsPendingForItsTimeLeasedToNobody) {
  Publish("t", "return 1");
  Submit("t", "{}");
  auto claim = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec");
  ASSERT_TRUE(claim.ok() && claim->has_stack_run());
  auto recorded = Record(*claim, 2, {.dispatch_owner = "dispatch/exec", .dispatch_lease_ms = 5000,
                                     .delays_ms = {1500, 0}});
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_EQ(recorded->calls_size(), 2);
  const v1::StackRunRecord& timer = recorded->calls(0);
  EXPECT_EQ(timer.status(), v1::STACK_RUN_STATUS_PENDING);
  EXPECT_TRUE(timer.lease_owner().empty());
  EXPECT_EQ(google::protobuf::util::TimeUtil::TimestampToMicroseconds(timer.next_attempt_at()) -
                google::protobuf::util::TimeUtil::TimestampToMicroseconds(timer.created_at()),
            1500 * 1000);
  // The undelayed sibling is leased for dispatch as usual.
  EXPECT_EQ(recorded->calls(1).status(), v1::STACK_RUN_STATUS_RUNNING);
  EXPECT_EQ(recorded->calls(1).lease_owner(), "dispatch/exec");
  // Not claimable before its time, claimable after.
  auto early = Claim(v1::WORK_KIND_PERFORM_CALL, "proc");
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_stack_run());
  Advance(absl::Milliseconds(1500));
  auto due = Claim(v1::WORK_KIND_PERFORM_CALL, "proc");
  ASSERT_TRUE(due.ok() && due->has_stack_run());
  EXPECT_EQ(due->stack_run().id(), timer.id());
  // A delay beyond a year is refused, naming the field.
  Publish("u", "return 1");
  Submit("u", "{}");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec");
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  auto refused = Record(*root, 1, {.delays_ms = {int64_t{400} * 24 * 3600 * 1000}});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("calls[0].delay_ms"), std::string::npos) << refused.status();
}

// Payloads are JSON text kept byte for byte: key order, -0, integers beyond
// 2^53, exponents and lone-surrogate escapes come back exactly as written.
TEST_P(StoreTest, PayloadsRoundTripByteForByte) {
  const std::string exact =
      R"({"b":1,"a":-0,"big":12345678901234567890,"e":1e400,"s":"\ud83d half","nested":[{"z":0,"y":[]}]})";
  v1::PublishTaskFunctionRequest publish;
  publish.set_identifier("t");
  publish.set_code("return 1");
  publish.set_metadata_json(R"({"z":"last","a":"first"})");
  auto function = store_->PublishTaskFunction(publish);
  ASSERT_TRUE(function.ok()) << function.status();
  EXPECT_EQ(function->metadata_json(), R"({"z":"last","a":"first"})");
  v1::GetFunctionRequest get_function;
  get_function.set_identifier("t");
  EXPECT_EQ(store_->GetTaskFunction(get_function)->metadata_json(), R"({"z":"last","a":"first"})");

  auto submitted = Submit("t", exact);
  EXPECT_EQ(GetRun(submitted.run().id()).input_json(), exact);
  auto claim = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec-1");
  ASSERT_TRUE(claim.ok()) << claim.status();
  EXPECT_EQ(claim->task_run().input_json(), exact);
  v1::RecordCallsRequest record;
  record.set_root_stack_run_id(claim->stack_run().id());
  record.set_fencing_token(claim->lease().fencing_token());
  auto* start = record.add_steps();
  start->set_seq(0);
  auto* call = record.add_calls();
  call->set_index(1);
  call->set_call_id("c1");
  call->set_service("admin-debug");
  call->set_method("echo");
  call->set_args_json(exact);
  auto* second = record.add_calls();
  second->set_index(2);
  second->set_call_id("c2");
  second->set_service("admin-debug");
  second->set_method("echo");
  ASSERT_TRUE(store_->RecordCalls(record).ok());
  auto c1 = Claim(v1::WORK_KIND_PERFORM_CALL, "proc-1");
  auto c2 = Claim(v1::WORK_KIND_PERFORM_CALL, "proc-1");
  ASSERT_TRUE(c1.ok() && c2.ok());
  if (c1->stack_run().call_id() != "c1") std::swap(c1, c2);
  EXPECT_EQ(c1->stack_run().args_json(), exact);
  auto done = CompleteCall(*c1, exact);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->call().result_json(), exact);
  EXPECT_EQ(c2->stack_run().args_json(), "null");  // empty args: JSON null
  v1::CompleteCallRequest failed;
  failed.set_stack_run_id(c2->stack_run().id());
  failed.set_fencing_token(c2->lease().fencing_token());
  failed.mutable_error()->set_message("bad \xF0\x9F\x98\x80");
  failed.mutable_error()->set_code("HTTP_400");
  failed.mutable_error()->set_details_json(R"({"why":"\ud83d","n":-0})");
  ASSERT_TRUE(store_->CompleteCall(failed).ok());
  auto journal = Journal(claim->stack_run().id());
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(journal->calls(0).result_json(), exact);
  EXPECT_EQ(journal->calls(1).error().details_json(), R"({"why":"\ud83d","n":-0})");
  EXPECT_EQ(journal->calls(1).error().message(), "bad \xF0\x9F\x98\x80");
  EXPECT_EQ(journal->calls(1).error().code(), "HTTP_400");
}

TEST_P(StoreTest, PayloadsThatAreNotJsonOrTooDeepAreRefusedNamingTheField) {
  Publish("t");
  v1::SubmitTaskRunRequest request;
  request.set_task_identifier("t");
  for (const std::string& bad : {std::string("{\"a\":"), std::string("undefined"), std::string("{'a':1}"),
                                 std::string(1001, '[') + std::string(1001, ']'), std::string(50000, '[')}) {
    request.set_input_json(bad);
    auto refused = store_->SubmitRun(request);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad.substr(0, 20);
    EXPECT_NE(refused.status().message().find("input_json"), std::string::npos) << refused.status();
  }
  request.set_input_json(std::string(1000, '[') + std::string(1000, ']'));
  EXPECT_TRUE(store_->SubmitRun(request).ok());
  v1::PublishTaskFunctionRequest publish;
  publish.set_identifier("u");
  publish.set_code("return 1");
  publish.set_metadata_json("[1]");
  auto refused = store_->PublishTaskFunction(publish);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("metadata_json"), std::string::npos) << refused.status();
  v1::ListTaskRunsRequest list;
  EXPECT_EQ(store_->ListTaskRuns(list)->runs_size(), 1);  // only the valid one
}

TEST_P(StoreTest, IdempotencyKeyReturnsTheFirstRunOnlyForTheSameRequest) {
  Publish("t");
  Publish("t");  // version 2: submits without a version pin it
  Publish("other");
  auto first = Submit("t", R"({"a":1})", "key-1");
  auto again = Submit("t", R"({"a":1})", "key-1");
  EXPECT_TRUE(first.created());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(first.run().id(), again.run().id());
  EXPECT_EQ(again.root().id(), first.root().id());
  EXPECT_EQ(first.run().task_version(), 2);

  auto refused = [&](v1::SubmitTaskRunRequest request) {
    request.set_idempotency_key("key-1");
    auto r = store_->SubmitRun(request);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << r.status();
    EXPECT_NE(r.status().message().find("idempotency_key 'key-1': already used by run " + first.run().id()),
              std::string::npos)
        << r.status();
    return std::string(r.status().message());
  };
  v1::SubmitTaskRunRequest request;
  request.set_task_identifier("t");
  // Byte for byte: the same value written differently is a different input.
  request.set_input_json(R"({"a": 1})");
  EXPECT_NE(refused(request).find("with a different input"), std::string::npos);
  request.set_input_json(R"({"a":2})");
  EXPECT_NE(refused(request).find("with a different input"), std::string::npos);
  request.clear_input_json();  // null
  refused(request);
  request.set_input_json(R"({"a":1})");
  request.set_task_version(1);
  EXPECT_NE(refused(request).find("version 2"), std::string::npos);
  request.set_task_identifier("other");
  request.set_task_version(0);
  EXPECT_NE(refused(request).find("of task 't'"), std::string::npos);

  // The pinned version named explicitly is the same request.
  request.set_task_identifier("t");
  request.set_task_version(2);
  request.set_idempotency_key("key-1");
  auto pinned = store_->SubmitRun(request);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->run().id(), first.run().id());
  EXPECT_FALSE(pinned->created());

  // An empty input and "null" are the same input (an empty field means null).
  auto null_first = Submit("t", "", "key-2");
  auto null_again = Submit("t", "null", "key-2");
  EXPECT_TRUE(null_first.created());
  EXPECT_EQ(null_again.run().id(), null_first.run().id());

  v1::ListTaskRunsRequest list;
  EXPECT_EQ(store_->ListTaskRuns(list)->runs_size(), 2);
}

// Submits racing with one key: one run. With different inputs the loser is
// refused; with the same input it gets the winner's run.
TEST_P(StoreTest, ConcurrentSubmitsWithOneKeyCreateOneRun) {
  Publish("t");
  constexpr int kRounds = 25;
  for (int i = 0; i < kRounds; ++i) {
    const bool same_input = i % 5 == 4;
    const std::string key = absl::StrCat("race-", i);
    std::atomic<int> ready{0};
    absl::StatusOr<v1::SubmitTaskRunResponse> results[2];
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        v1::SubmitTaskRunRequest request;
        request.set_task_identifier("t");
        request.set_idempotency_key(key);
        request.set_input_json(same_input ? "{}" : absl::StrCat("{\"thread\":", t, "}"));
        ++ready;
        while (ready < 2) {
        }
        results[t] = store_->SubmitRun(request);
      });
    }
    for (auto& thread : threads) thread.join();
    if (same_input) {
      ASSERT_TRUE(results[0].ok() && results[1].ok()) << results[0].status() << " / " << results[1].status();
      EXPECT_EQ(results[0]->run().id(), results[1]->run().id());
      EXPECT_NE(results[0]->created(), results[1]->created());
    } else {
      ASSERT_NE(results[0].ok(), results[1].ok()) << results[0].status() << " / " << results[1].status();
      const int winner = results[0].ok() ? 0 : 1;
      EXPECT_TRUE(results[winner]->created());
      EXPECT_EQ(results[winner]->run().input_json(), absl::StrCat("{\"thread\":", winner, "}"));
      const absl::Status& lost = results[1 - winner].status();
      EXPECT_EQ(lost.code(), absl::StatusCode::kAlreadyExists) << lost;
      EXPECT_NE(lost.message().find(results[winner]->run().id()), std::string::npos) << lost;
    }
  }
  v1::ListTaskRunsRequest list;
  list.mutable_page()->set_limit(1000);
  EXPECT_EQ(store_->ListTaskRuns(list)->runs_size(), kRounds);
  v1::ListStackRunsRequest roots;
  roots.mutable_page()->set_limit(1000);
  EXPECT_EQ(store_->ListStackRuns(roots)->stack_runs_size(), kRounds);
}

TEST_P(StoreTest, SubmitRejectsUnknownTaskAndOversizedInputStoringNothing) {
  Publish("t");
  v1::SubmitTaskRunRequest request;
  request.set_task_identifier("missing");
  EXPECT_EQ(store_->SubmitRun(request).status().code(), absl::StatusCode::kNotFound);
  request.set_task_identifier("t");
  request.set_task_version(9);
  EXPECT_EQ(store_->SubmitRun(request).status().code(), absl::StatusCode::kNotFound);
  request.set_task_version(0);
  request.set_input_json(Json(absl::StrCat("\"", std::string(70000, 'x'), "\"")));
  auto big = store_->SubmitRun(request);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("input"), std::string::npos);
  request.clear_task_identifier();
  EXPECT_EQ(store_->SubmitRun(request).status().code(), absl::StatusCode::kInvalidArgument);
  v1::ListTaskRunsRequest list;
  EXPECT_EQ(store_->ListTaskRuns(list)->runs_size(), 0);
}

TEST_P(StoreTest, WarmRunLifecycleRecordCompleteEvictRestoreFinish) {
  Publish("t");
  auto submitted = Submit("t");
  auto claim = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec-1", 30000, "", "127.0.0.1:7001");
  ASSERT_TRUE(claim.ok()) << claim.status();
  ASSERT_TRUE(claim->has_stack_run());
  EXPECT_EQ(claim->stack_run().id(), submitted.root().id());
  EXPECT_EQ(claim->stack_run().reply_to(), "127.0.0.1:7001");
  EXPECT_EQ(claim->task_run().status(), v1::RUN_STATUS_RUNNING);
  EXPECT_GT(claim->lease().fencing_token(), 0);
  // Nothing else to execute.
  EXPECT_FALSE(Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec-2")->has_stack_run());

  // Three calls committed before they are performed; the run stays warm.
  auto recorded = Record(*claim, 3);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_EQ(recorded->calls_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const auto& c = recorded->calls(i);
    EXPECT_EQ(c.call_index(), i + 1);
    EXPECT_EQ(c.call_id(), absl::StrCat("c", i + 1));
    EXPECT_EQ(c.step(), 0);
    EXPECT_EQ(c.status(), v1::STACK_RUN_STATUS_PENDING);
    EXPECT_EQ(c.parent_id(), submitted.root().id());
    EXPECT_EQ(c.suspension(), 1);
  }
  auto root = store_->GetStackRun(submitted.root().id());
  EXPECT_EQ(root->status(), v1::STACK_RUN_STATUS_RUNNING);
  EXPECT_EQ(root->waiting(), 3);
  EXPECT_EQ(root->suspension(), 1);
  EXPECT_EQ(root->fencing_token(), claim->lease().fencing_token());
  // The run waits on its calls; its root stays leased to the executor.
  EXPECT_EQ(GetRun(submitted.run().id()).status(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD);
  EXPECT_EQ(GetRun(submitted.run().id()).suspend_count(), 1);
  // A warm root is not resumable.
  EXPECT_FALSE(Claim(v1::WORK_KIND_RESUME_PARENT, "exec-2")->has_stack_run());

  std::vector<v1::ClaimWorkResponse> calls;
  for (int i = 0; i < 3; ++i) {
    auto c = Claim(v1::WORK_KIND_PERFORM_CALL, "proc-1");
    ASSERT_TRUE(c.ok() && c->has_stack_run());
    EXPECT_EQ(c->stack_run().service(), "admin-debug");
    EXPECT_EQ(c->stack_run().call_index(), i + 1);
    calls.push_back(*c);
  }
  EXPECT_FALSE(Claim(v1::WORK_KIND_PERFORM_CALL, "proc-1")->has_stack_run());
  // A result for a warm parent is pushed to its holder; the parent stays RUNNING.
  auto r3 = CompleteCall(calls[2], R"({"v":3})");
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_FALSE(r3->parent_ready());
  EXPECT_EQ(r3->reply_to(), "127.0.0.1:7001");
  EXPECT_EQ(r3->parent_id(), submitted.root().id());
  EXPECT_EQ(r3->call().status(), v1::STACK_RUN_STATUS_COMPLETED);
  root = store_->GetStackRun(submitted.root().id());
  EXPECT_EQ(root->status(), v1::STACK_RUN_STATUS_RUNNING);
  EXPECT_EQ(root->waiting(), 2);

  // The task saw c3 (step 1); the executor checkpoints and evicts the run.
  const v1::Continuation checkpoint = Checkpoint(2);
  auto evicted = Put(*claim, {"c3"}, &checkpoint, true);
  ASSERT_TRUE(evicted.ok()) << evicted.status();
  EXPECT_FALSE(evicted->ready());
  root = store_->GetStackRun(submitted.root().id());
  EXPECT_EQ(root->status(), v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD);
  EXPECT_TRUE(root->lease_owner().empty());
  EXPECT_FALSE(root->has_lease_expires_at());
  EXPECT_TRUE(root->reply_to().empty());
  EXPECT_EQ(GetRun(submitted.run().id()).status(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD);
  EXPECT_FALSE(Claim(v1::WORK_KIND_RESUME_PARENT, "exec-2")->has_stack_run());

  // A result for an evicted parent wakes it, once.
  auto r1 = CompleteCall(calls[0], R"({"v":1})");
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_TRUE(r1->parent_ready());
  EXPECT_TRUE(r1->reply_to().empty());
  EXPECT_EQ(store_->GetStackRun(submitted.root().id())->status(), v1::STACK_RUN_STATUS_READY_TO_RESUME);
  v1::CompleteCallRequest failed;
  failed.set_stack_run_id(calls[1].stack_run().id());
  failed.set_fencing_token(calls[1].lease().fencing_token());
  failed.mutable_error()->set_message("HTTP 404 from provider");
  failed.mutable_error()->set_code("HTTP_404");
  auto r2 = store_->CompleteCall(failed);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_FALSE(r2->parent_ready());  // already ready
  EXPECT_TRUE(r2->reply_to().empty());
  EXPECT_EQ(r2->parent_id(), submitted.root().id());
  EXPECT_EQ(store_->GetStackRun(submitted.root().id())->waiting(), 0);

  // Everything a rebuild needs, in order.
  auto journal = Journal(submitted.root().id());
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(journal->root().id(), submitted.root().id());
  EXPECT_EQ(journal->run().id(), submitted.run().id());
  EXPECT_EQ(ToJsonText(journal->run().input_json()), ToJsonText(Json("{}")));
  ASSERT_TRUE(journal->has_checkpoint());
  EXPECT_EQ(journal->checkpoint().data(), std::string("snap\0shot", 9));
  EXPECT_EQ(journal->checkpoint().step(), 2);
  EXPECT_EQ(journal->checkpoint().v8_version(), "10.2");
  ASSERT_EQ(journal->steps_size(), 2);
  EXPECT_EQ(journal->steps(0).seq(), 0);
  EXPECT_EQ(journal->steps(0).trigger_call_id(), "");
  EXPECT_EQ(journal->steps(0).random_seed(), 0xfedcba9876543210ull);  // a uint64 past INT64_MAX
  EXPECT_EQ(journal->steps(0).clock_ms(), absl::ToUnixMillis(absl::FromUnixMicros(now_micros_.load())));
  EXPECT_EQ(journal->steps(1).seq(), 1);
  EXPECT_EQ(journal->steps(1).trigger_call_id(), "c3");
  ASSERT_EQ(journal->calls_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(journal->calls(i).call_index(), i + 1);
  EXPECT_EQ(ToJsonText(journal->calls(0).result_json()), ToJsonText(Json(R"({"v":1})")));
  EXPECT_EQ(ToJsonText(journal->calls(0).args_json()), ToJsonText(Json(R"({"i":1})")));
  EXPECT_EQ(journal->calls(1).status(), v1::STACK_RUN_STATUS_FAILED);
  EXPECT_EQ(journal->calls(1).error().code(), "HTTP_404");
  EXPECT_EQ(journal->calls(2).status(), v1::STACK_RUN_STATUS_COMPLETED);

  // Restored elsewhere, under a new token and a new reply_to.
  auto restored = Claim(v1::WORK_KIND_RESUME_PARENT, "exec-2", 30000, "", "127.0.0.1:7002");
  ASSERT_TRUE(restored.ok() && restored->has_stack_run());
  EXPECT_GT(restored->lease().fencing_token(), claim->lease().fencing_token());
  EXPECT_EQ(restored->stack_run().reply_to(), "127.0.0.1:7002");
  EXPECT_EQ(restored->task_run().status(), v1::RUN_STATUS_RUNNING);
  // The old holder is fenced off.
  EXPECT_EQ(Record(*claim, 1).status().code(), absl::StatusCode::kAborted);
  // It delivers c1 and c2 (steps 2, 3) without releasing, then makes a fourth
  // call, dispatched by itself.
  auto kept = Put(*restored, {"c1", "c2"}, nullptr, false);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_FALSE(kept->ready());
  EXPECT_EQ(store_->GetStackRun(submitted.root().id())->status(), v1::STACK_RUN_STATUS_RUNNING);
  auto fourth = Record(*restored, 1, {.dispatch_owner = "exec-2", .dispatch_lease_ms = 30000});
  ASSERT_TRUE(fourth.ok()) << fourth.status();
  ASSERT_EQ(fourth->calls_size(), 1);
  EXPECT_EQ(fourth->calls(0).call_index(), 4);
  EXPECT_EQ(fourth->calls(0).step(), 3);
  EXPECT_EQ(fourth->calls(0).suspension(), 2);
  auto r4 = Complete(fourth->calls(0).id(), fourth->calls(0).fencing_token(), "[1,2,3]");
  ASSERT_TRUE(r4.ok()) << r4.status();
  EXPECT_EQ(r4->reply_to(), "127.0.0.1:7002");
  EXPECT_FALSE(r4->parent_ready());

  v1::CompleteRunRequest done;
  done.set_root_stack_run_id(submitted.root().id());
  done.set_fencing_token(restored->lease().fencing_token());
  done.set_result_json(Json(R"({"ok":true,"count":4})"));
  auto finished = store_->CompleteRun(done);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_TRUE(finished->has_completed_at());
  EXPECT_EQ(ToJsonText(finished->result_json()), ToJsonText(Json(R"({"ok":true,"count":4})")));
  EXPECT_EQ(finished->suspend_count(), 2);
  // Never completes twice.
  EXPECT_EQ(store_->CompleteRun(done).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CountStackRuns(submitted.run().id()), 5);
  // Finished calls keep their outcome.
  journal = Journal(submitted.root().id());
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(journal->calls(3).status(), v1::STACK_RUN_STATUS_COMPLETED);
  EXPECT_EQ(journal->calls(1).status(), v1::STACK_RUN_STATUS_FAILED);
  EXPECT_EQ(journal->steps_size(), 4);
}

TEST_P(StoreTest, RecordCallsLeasesThemForDispatchOrLeavesThemPending) {
  Publish("t");
  auto submitted = Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec", 30000);
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  const auto lease_before = store_->GetStackRun(root->stack_run().id())->lease_expires_at();
  Advance(absl::Seconds(1));
  auto dispatched = Record(*root, 2, {.dispatch_owner = "exec/dispatch", .dispatch_lease_ms = 5000,
                                      .logs = {"calling", "twice"}});
  ASSERT_TRUE(dispatched.ok()) << dispatched.status();
  ASSERT_EQ(dispatched->calls_size(), 2);
  for (const auto& c : dispatched->calls()) {
    EXPECT_EQ(c.status(), v1::STACK_RUN_STATUS_RUNNING);
    EXPECT_EQ(c.lease_owner(), "exec/dispatch");
    EXPECT_EQ(c.fencing_token(), 1);
    EXPECT_EQ(c.attempt(), 1);
    EXPECT_EQ(google::protobuf::util::TimeUtil::TimestampToMicroseconds(c.lease_expires_at()),
              now_micros_.load() + 5000000);
  }
  // Leased: no processor claims them.
  EXPECT_FALSE(Claim(v1::WORK_KIND_PERFORM_CALL, "proc")->has_stack_run());
  // The root: still RUNNING under the same lease, two calls outstanding.
  auto held = store_->GetStackRun(root->stack_run().id());
  EXPECT_EQ(held->status(), v1::STACK_RUN_STATUS_RUNNING);
  EXPECT_EQ(held->fencing_token(), root->lease().fencing_token());
  EXPECT_EQ(held->lease_owner(), "exec");
  EXPECT_EQ(held->lease_expires_at().seconds(), lease_before.seconds());
  EXPECT_EQ(held->waiting(), 2);
  EXPECT_EQ(held->suspension(), 1);
  auto run = GetRun(submitted.run().id());
  EXPECT_EQ(run.status(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD);
  EXPECT_EQ(run.suspend_count(), 1);
  EXPECT_EQ(google::protobuf::util::TimeUtil::TimestampToMicroseconds(run.suspended_at()), now_micros_.load());
  ASSERT_EQ(run.logs_size(), 2);
  EXPECT_EQ(run.logs(1).message(), "twice");

  // Without dispatch_owner: PENDING for any processor, claimable at once.
  auto pending = Record(*root, 1);
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->calls_size(), 1);
  const auto& c = pending->calls(0);
  EXPECT_EQ(c.status(), v1::STACK_RUN_STATUS_PENDING);
  EXPECT_EQ(c.fencing_token(), 0);
  EXPECT_EQ(c.attempt(), 0);
  EXPECT_TRUE(c.lease_owner().empty());
  EXPECT_EQ(c.call_index(), 3);
  EXPECT_EQ(c.suspension(), 2);
  EXPECT_EQ(GetRun(submitted.run().id()).suspend_count(), 2);
  EXPECT_EQ(store_->GetStackRun(root->stack_run().id())->waiting(), 3);
  auto claimed = Claim(v1::WORK_KIND_PERFORM_CALL, "proc");
  ASSERT_TRUE(claimed.ok() && claimed->has_stack_run());
  EXPECT_EQ(claimed->stack_run().id(), c.id());
  EXPECT_EQ(claimed->lease().fencing_token(), 1);
  // A dispatched call completes under the lease it was created with.
  auto done = Complete(dispatched->calls(0).id(), 1, "true");
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(store_->GetStackRun(root->stack_run().id())->waiting(), 2);
}

TEST_P(StoreTest, DispatchedCallIsClaimableByAnotherOwnerAfterItsLeaseExpires) {
  Publish("t");
  Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec", 60000);
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  auto dispatched = Record(*root, 1, {.dispatch_owner = "exec", .dispatch_lease_ms = 200});
  ASSERT_TRUE(dispatched.ok()) << dispatched.status();
  const std::string id = dispatched->calls(0).id();
  EXPECT_FALSE(Claim(v1::WORK_KIND_PERFORM_CALL, "proc-b")->has_stack_run());
  Advance(absl::Milliseconds(300));
  auto taken = Claim(v1::WORK_KIND_PERFORM_CALL, "proc-b");
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_TRUE(taken->has_stack_run());
  EXPECT_EQ(taken->stack_run().id(), id);
  EXPECT_EQ(taken->lease().fencing_token(), 2);
  EXPECT_EQ(taken->stack_run().attempt(), 2);
  EXPECT_EQ(taken->stack_run().lease_owner(), "proc-b");
  // The dispatcher's late answer is refused; the new holder's is taken.
  EXPECT_EQ(Complete(id, 1, R"("late")").status().code(), absl::StatusCode::kAborted);
  auto ok = CompleteCall(*taken, R"("fresh")");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->call().result_json(), R"("fresh")");
}

TEST_P(StoreTest, JournalStepsMustFollowTheJournal) {
  Publish("t");
  auto submitted = Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec");
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  auto request = [&](std::vector<int> seqs, int call_index, int call_step) {
    v1::RecordCallsRequest r;
    r.set_root_stack_run_id(root->stack_run().id());
    r.set_fencing_token(root->lease().fencing_token());
    for (int seq : seqs) {
      auto* step = r.add_steps();
      step->set_seq(seq);
      step->set_clock_ms(1);
    }
    auto* call = r.add_calls();
    call->set_index(call_index);
    call->set_step(call_step);
    call->set_service("admin-debug");
    call->set_method("echo");
    return r;
  };
  // The journal starts at seq 0.
  auto late_start = store_->RecordCalls(request({1}, 1, 1));
  EXPECT_EQ(late_start.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(late_start.status().message().find("steps[0].seq"), std::string::npos) << late_start.status();
  // Steps of one request are contiguous.
  auto gap = store_->RecordCalls(request({0, 2}, 1, 0));
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(gap.status().message().find("steps[1].seq"), std::string::npos) << gap.status();
  // No steps on an empty journal: a call cannot be in any step.
  auto no_step = store_->RecordCalls(request({}, 1, 0));
  EXPECT_EQ(no_step.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(no_step.status().message().find("calls[0].step"), std::string::npos) << no_step.status();
  ASSERT_TRUE(store_->RecordCalls(request({0}, 1, 0)).ok());
  // Again from 0, or past the next one.
  for (int seq : {0, 2}) {
    auto wrong = store_->RecordCalls(request({seq}, 2, seq));
    EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(wrong.status().message().find(absl::StrCat("steps[0].seq: ", seq,
                                                         " does not follow the journal's last step 0")),
              std::string::npos)
        << wrong.status();
  }
  // A call in a step the journal does not have yet.
  auto future = store_->RecordCalls(request({1}, 2, 2));
  EXPECT_EQ(future.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(future.status().message().find("calls[0].step"), std::string::npos) << future.status();
  // PutCheckpoint follows the same rule.
  v1::PutCheckpointRequest put;
  put.set_root_stack_run_id(root->stack_run().id());
  put.set_fencing_token(root->lease().fencing_token());
  put.add_steps()->set_seq(5);
  auto put_gap = store_->PutCheckpoint(put);
  EXPECT_EQ(put_gap.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(put_gap.status().message().find("steps[0].seq"), std::string::npos) << put_gap.status();
  // Nothing of the refused requests was written.
  auto journal = Journal(root->stack_run().id());
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(journal->steps_size(), 1);
  EXPECT_EQ(journal->calls_size(), 1);
  EXPECT_EQ(journal->root().suspension(), 1);
  EXPECT_EQ(GetRun(submitted.run().id()).suspend_count(), 1);
  ASSERT_TRUE(store_->RecordCalls(request({1, 2}, 2, 2)).ok());
  EXPECT_EQ(Journal(root->stack_run().id())->steps_size(), 3);
}

TEST_P(StoreTest, CallIndexesIncreaseAcrossTheRun) {
  Publish("t");
  Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec");
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  auto request = [&](std::vector<int> indexes) {
    v1::RecordCallsRequest r;
    r.set_root_stack_run_id(root->stack_run().id());
    r.set_fencing_token(root->lease().fencing_token());
    for (int index : indexes) {
      auto* call = r.add_calls();
      call->set_index(index);
      call->set_service("admin-debug");
      call->set_method("echo");
    }
    return r;
  };
  auto first = request({1, 2});
  first.add_steps()->set_seq(0);
  auto zero = request({0});
  zero.add_steps()->set_seq(0);
  auto bad = store_->RecordCalls(zero);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("calls[0].index"), std::string::npos) << bad.status();
  auto repeated = request({3, 3});
  repeated.add_steps()->set_seq(0);
  bad = store_->RecordCalls(repeated);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("calls[1].index"), std::string::npos) << bad.status();
  ASSERT_TRUE(store_->RecordCalls(first).ok());
  for (int index : {1, 2}) {
    bad = store_->RecordCalls(request({index, 7}));
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(bad.status().message().find("calls[0].index"), std::string::npos) << bad.status();
  }
  // Greater than the last is enough (numbers may skip).
  auto skipped = store_->RecordCalls(request({5}));
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ(skipped->calls(0).call_index(), 5);
  auto journal = Journal(root->stack_run().id());
  ASSERT_EQ(journal->calls_size(), 3);
  EXPECT_EQ(journal->calls(2).call_index(), 5);
  EXPECT_EQ(journal->root().waiting(), 3);
}

TEST_P(StoreTest, StaleTokenIsAbortedAndNothingIsWritten) {
  Publish("t");
  auto submitted = Submit("t");
  auto a = Claim(v1::WORK_KIND_EXECUTE_ROOT, "a", 1000);
  ASSERT_TRUE(a.ok() && a->has_stack_run());
  v1::ClaimWorkResponse stale = *a;
  stale.mutable_lease()->set_fencing_token(a->lease().fencing_token() + 7);
  EXPECT_EQ(Record(stale, 1, {.logs = {"never"}}).status().code(), absl::StatusCode::kAborted);
  const v1::Continuation checkpoint = Checkpoint(0);
  EXPECT_EQ(Put(stale, {"x"}, &checkpoint, true).status().code(), absl::StatusCode::kAborted);
  // The lease expires and another executor takes the run over.
  Advance(absl::Milliseconds(1500));
  auto b = Claim(v1::WORK_KIND_EXECUTE_ROOT, "b", 30000, "", "b:1");
  ASSERT_TRUE(b.ok() && b->has_stack_run());
  EXPECT_EQ(Record(*a, 1).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Put(*a, {}, &checkpoint, true).status().code(), absl::StatusCode::kAborted);
  auto journal = Journal(submitted.root().id());
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(journal->steps_size(), 0);
  EXPECT_EQ(journal->calls_size(), 0);
  EXPECT_FALSE(journal->has_checkpoint());
  EXPECT_EQ(journal->root().status(), v1::STACK_RUN_STATUS_RUNNING);
  EXPECT_EQ(journal->root().suspension(), 0);
  EXPECT_EQ(journal->root().reply_to(), "b:1");
  auto run = GetRun(submitted.run().id());
  EXPECT_EQ(run.suspend_count(), 0);
  EXPECT_EQ(run.logs_size(), 0);
  EXPECT_EQ(CountStackRuns(submitted.run().id()), 1);
}

// Many threads write at once (the executor's and processor's hot path): on
// SQLite the writes share commits (group commit), through gRPC they share
// WriteBatch round trips. Each keeps its own outcome: the stale ones are
// refused and write nothing, the others all land.
TEST_P(StoreTest, ConcurrentHotPathWritesEachKeepTheirOwnOutcome) {
  Publish("t");
  constexpr int kRuns = 24;
  std::vector<v1::SubmitTaskRunResponse> runs;
  std::vector<v1::ClaimWorkResponse> claims;
  for (int i = 0; i < kRuns; ++i) {
    runs.push_back(Submit("t"));
    auto claim = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec", 30000, runs.back().root().id());
    ASSERT_TRUE(claim.ok() && claim->has_stack_run()) << claim.status();
    if (i % 3 == 2) claim->mutable_lease()->set_fencing_token(claim->lease().fencing_token() + 7);
    claims.push_back(*claim);
  }
  std::vector<absl::StatusOr<v1::RecordCallsResponse>> recorded(kRuns, absl::UnknownError("not run"));
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kRuns; ++i) {
      threads.emplace_back([&, i] { recorded[i] = Record(claims[i], 2, {.dispatch_owner = "d", .dispatch_lease_ms = 60000}); });
    }
    for (auto& t : threads) t.join();
  }
  std::vector<v1::StackRunRecord> calls;
  for (int i = 0; i < kRuns; ++i) {
    auto journal = Journal(runs[i].root().id());
    ASSERT_TRUE(journal.ok()) << journal.status();
    if (i % 3 == 2) {
      EXPECT_EQ(recorded[i].status().code(), absl::StatusCode::kAborted) << i;
      EXPECT_EQ(journal->calls_size(), 0) << i;
      EXPECT_EQ(journal->steps_size(), 0) << i;
      continue;
    }
    ASSERT_TRUE(recorded[i].ok()) << i << ": " << recorded[i].status();
    ASSERT_EQ(recorded[i]->calls_size(), 2) << i;
    for (const auto& call : recorded[i]->calls()) {
      EXPECT_EQ(call.parent_id(), runs[i].root().id());
      calls.push_back(call);
    }
    EXPECT_EQ(journal->calls_size(), 2) << i;
    EXPECT_EQ(journal->steps_size(), 1) << i;
  }
  // Their results, all at once; every fourth with a stale token.
  std::vector<absl::StatusOr<v1::CompleteCallResponse>> completed(calls.size(), absl::UnknownError("not run"));
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < calls.size(); ++i) {
      threads.emplace_back([&, i] {
        const int64_t token = calls[i].fencing_token() + (i % 4 == 3 ? 5 : 0);
        completed[i] = Complete(calls[i].id(), token, absl::StrCat("{\"n\":", i, "}"));
      });
    }
    for (auto& t : threads) t.join();
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    auto row = store_->GetStackRun(calls[i].id());
    ASSERT_TRUE(row.ok()) << row.status();
    if (i % 4 == 3) {
      EXPECT_EQ(completed[i].status().code(), absl::StatusCode::kAborted) << i;
      EXPECT_EQ(row->status(), v1::STACK_RUN_STATUS_RUNNING) << i;
      continue;
    }
    ASSERT_TRUE(completed[i].ok()) << i << ": " << completed[i].status();
    EXPECT_EQ(completed[i]->call().id(), calls[i].id());
    EXPECT_EQ(row->status(), v1::STACK_RUN_STATUS_COMPLETED) << i;
    EXPECT_EQ(ToJsonText(row->result_json()), ToJsonText(Json(absl::StrCat("{\"n\":", i, "}")))) << i;
  }
}

// WriteBatch: one round trip (and on SQLite one commit) for several writes,
// each with its own result; a bad or refused op leaves the others alone.
TEST_P(StoreTest, WriteBatchGivesEveryOpItsOwnResult) {
  Publish("t");
  auto a = Submit("t");
  auto b = Submit("t");
  auto c = Submit("t");
  auto ca = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec", 30000, a.root().id());
  auto cb = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec", 30000, b.root().id());
  auto cc = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec", 30000, c.root().id());
  ASSERT_TRUE(ca.ok() && cb.ok() && cc.ok());
  auto record = [&](const v1::ClaimWorkResponse& claim, int64_t token) {
    v1::WriteOp op;
    auto* r = op.mutable_record_calls();
    r->set_root_stack_run_id(claim.stack_run().id());
    r->set_fencing_token(token);
    auto* step = r->add_steps();
    step->set_seq(0);
    step->set_clock_ms(1);
    auto* call = r->add_calls();
    call->set_index(1);
    call->set_call_id("c1");
    call->set_service("admin-debug");
    call->set_method("echo");
    return op;
  };
  v1::WriteBatchRequest request;
  *request.add_ops() = record(*ca, ca->lease().fencing_token());
  *request.add_ops() = record(*cb, cb->lease().fencing_token() + 1);  // stale
  request.add_ops();                                                  // no op
  auto* complete = request.add_ops()->mutable_complete_run();
  complete->set_root_stack_run_id(cc->stack_run().id());
  complete->set_fencing_token(cc->lease().fencing_token());
  complete->set_result_json(Json("[1,2]"));
  *request.add_ops() = record(*ca, ca->lease().fencing_token());  // the same call again: refused
  auto batch = store_->WriteBatch(request);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->results_size(), 5);
  EXPECT_EQ(batch->results(0).code(), 0) << batch->results(0).message();
  ASSERT_EQ(batch->results(0).record_calls().calls_size(), 1);
  EXPECT_EQ(batch->results(0).record_calls().calls(0).call_id(), "c1");
  EXPECT_EQ(batch->results(1).code(), static_cast<int>(absl::StatusCode::kAborted));
  EXPECT_FALSE(batch->results(1).has_record_calls());
  EXPECT_EQ(batch->results(2).code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(batch->results(2).message().find("ops[2]"), std::string::npos) << batch->results(2).message();
  EXPECT_EQ(batch->results(3).code(), 0) << batch->results(3).message();
  EXPECT_EQ(batch->results(3).complete_run().status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_NE(batch->results(4).code(), 0);
  EXPECT_EQ(Journal(a.root().id())->calls_size(), 1);
  EXPECT_EQ(Journal(b.root().id())->calls_size(), 0);
  EXPECT_EQ(Journal(b.root().id())->steps_size(), 0);
  EXPECT_EQ(GetRun(c.run().id()).status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(GetRun(b.run().id()).status(), v1::RUN_STATUS_RUNNING);
  if (GetParam() == "sqlite-grpc") {
    v1::WriteBatchRequest too_many;
    for (int i = 0; i < 1001; ++i) *too_many.add_ops() = record(*cb, cb->lease().fencing_token());
    auto refused = store_->WriteBatch(too_many);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("ops"), std::string::npos) << refused.status();
    EXPECT_EQ(Journal(b.root().id())->calls_size(), 0);
  }
}

// The database's grouped writes: every function its own unit (a failing one
// is rolled back alone), one commit for all.
TEST_P(StoreTest, GroupedTransactionsRollBackOnlyTheFailingOne) {
  if (GetParam() == "sqlite-grpc") GTEST_SKIP() << "a database-level test; runs on sqlite and postgres";
  auto db = OpenDatabase();
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->ExecScript("CREATE TABLE grouped (k TEXT PRIMARY KEY)").ok());
  auto insert = [](const std::string& k) {
    return [k](sql::Tx& tx) { return tx.Exec("INSERT INTO grouped (k) VALUES (?)", {k}).status(); };
  };
  std::vector<sql::Database::TxFn> fns = {
      insert("a"),
      [](sql::Tx& tx) -> absl::Status {
        if (auto s = tx.Exec("INSERT INTO grouped (k) VALUES (?)", {std::string("b")}).status(); !s.ok()) return s;
        return absl::FailedPreconditionError("changed my mind");
      },
      insert("a"),  // a duplicate: ALREADY_EXISTS, alone
      insert("c"),
  };
  auto statuses = (*db)->TransactGroup(fns);
  ASSERT_EQ(statuses.size(), 4u);
  EXPECT_TRUE(statuses[0].ok()) << statuses[0];
  EXPECT_EQ(statuses[1].code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(statuses[2].code(), absl::StatusCode::kAlreadyExists) << statuses[2];
  EXPECT_TRUE(statuses[3].ok()) << statuses[3];
  std::vector<std::string> keys;
  ASSERT_TRUE((*db)->Transact(false, [&](sql::Tx& tx) -> absl::Status {
                     auto rows = tx.Query("SELECT k FROM grouped ORDER BY k");
                     if (!rows.ok()) return rows.status();
                     for (const auto& row : *rows) keys.push_back(row.Str(0));
                     return absl::OkStatus();
                   }).ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "c"}));
}

TEST_P(StoreTest, ReleaseSuspendsOrReadiesByUndeliveredResults) {
  Publish("t");
  auto submitted = Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec", 30000, "", "exec:1");
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  auto recorded = Record(*root, 2, {.dispatch_owner = "exec", .dispatch_lease_ms = 30000});
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  // c1's result arrives while the run is warm, and is lost with the push.
  auto r1 = Complete(recorded->calls(0).id(), 1, "1");
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->reply_to(), "exec:1");
  // Released without showing c1 delivered: READY_TO_RESUME at once.
  const v1::Continuation checkpoint = Checkpoint(1, "first");
  auto released = Put(*root, {}, &checkpoint, true);
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_TRUE(released->ready());
  auto state = store_->GetStackRun(submitted.root().id());
  EXPECT_EQ(state->status(), v1::STACK_RUN_STATUS_READY_TO_RESUME);
  EXPECT_TRUE(state->lease_owner().empty());
  EXPECT_TRUE(state->reply_to().empty());
  EXPECT_EQ(GetRun(submitted.run().id()).status(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD);
  // Once released, the old token is no longer held.
  EXPECT_EQ(Record(*root, 1).status().code(), absl::StatusCode::kFailedPrecondition);

  auto again = Claim(v1::WORK_KIND_RESUME_PARENT, "exec2", 30000, "", "exec2:1");
  ASSERT_TRUE(again.ok() && again->has_stack_run());
  EXPECT_EQ(again->stack_run().id(), submitted.root().id());
  // Now it shows c1 delivered and releases again, keeping its checkpoint:
  // nothing to see until c2 finishes.
  released = Put(*again, {"c1"}, nullptr, true);
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_FALSE(released->ready());
  EXPECT_EQ(store_->GetStackRun(submitted.root().id())->status(), v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD);
  EXPECT_FALSE(Claim(v1::WORK_KIND_RESUME_PARENT, "exec3")->has_stack_run());
  auto journal = Journal(submitted.root().id());
  ASSERT_TRUE(journal.ok());
  EXPECT_EQ(journal->checkpoint().data(), "first");
  ASSERT_EQ(journal->steps_size(), 2);
  EXPECT_EQ(journal->steps(1).trigger_call_id(), "c1");
  // c2's (failed) result wakes it.
  v1::CompleteCallRequest fail;
  fail.set_stack_run_id(recorded->calls(1).id());
  fail.set_fencing_token(1);
  fail.mutable_error()->set_message("quota");
  auto r2 = store_->CompleteCall(fail);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_TRUE(r2->parent_ready());
  EXPECT_TRUE(r2->reply_to().empty());
  EXPECT_TRUE(Claim(v1::WORK_KIND_RESUME_PARENT, "exec3")->has_stack_run());
}

TEST_P(StoreTest, CheckpointsNeverGoBack) {
  Publish("t");
  Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec");
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  ASSERT_TRUE(Record(*root, 1).ok());  // step 0
  v1::Continuation c = Checkpoint(1, "at-1");
  auto put = Put(*root, {}, &c, false);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_FALSE(put->ready());
  // Kept RUNNING under the lease.
  auto held = store_->GetStackRun(root->stack_run().id());
  EXPECT_EQ(held->status(), v1::STACK_RUN_STATUS_RUNNING);
  EXPECT_EQ(held->lease_owner(), "exec");
  // Older: refused, naming the field.
  c = Checkpoint(0, "at-0");
  auto older = Put(*root, {}, &c, false);
  EXPECT_EQ(older.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(older.status().message().find("checkpoint.step"), std::string::npos) << older.status();
  // Beyond the journal (last step 0, so at most 1): refused.
  c = Checkpoint(2, "at-2");
  auto beyond = Put(*root, {}, &c, false);
  EXPECT_EQ(beyond.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(beyond.status().message().find("checkpoint.step"), std::string::npos) << beyond.status();
  // With the step appended in the same request, it is within the journal.
  auto appended = Put(*root, {"c1"}, &c, false);
  ASSERT_TRUE(appended.ok()) << appended.status();
  // The same step replaces it.
  c = Checkpoint(2, "at-2-again");
  ASSERT_TRUE(Put(*root, {}, &c, false).ok());
  // Malformed checkpoints name the field.
  c = Checkpoint(2, "");
  auto empty = Put(*root, {}, &c, false);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("checkpoint.data"), std::string::npos) << empty.status();
  c = Checkpoint(-1);
  EXPECT_EQ(Put(*root, {}, &c, false).status().code(), absl::StatusCode::kInvalidArgument);
  auto journal = Journal(root->stack_run().id());
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(journal->checkpoint().data(), "at-2-again");
  EXPECT_EQ(journal->checkpoint().step(), 2);
  EXPECT_EQ(journal->checkpoint().stack_run_id(), root->stack_run().id());
  EXPECT_EQ(journal->steps_size(), 2);
  // GetContinuation reads the same row.
  EXPECT_EQ(store_->GetContinuation(root->stack_run().id())->step(), 2);
}

TEST_P(StoreTest, GetJournalNamesWhatIsWrong) {
  Publish("t");
  auto submitted = Submit("t");
  auto journal = Journal(submitted.root().id());
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_FALSE(journal->has_checkpoint());
  EXPECT_EQ(journal->steps_size(), 0);
  EXPECT_EQ(journal->calls_size(), 0);
  EXPECT_EQ(journal->run().id(), submitted.run().id());
  EXPECT_EQ(Journal("sr_missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Journal("").status().code(), absl::StatusCode::kInvalidArgument);
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec");
  auto recorded = Record(*root, 1);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  auto of_call = Journal(recorded->calls(0).id());
  EXPECT_EQ(of_call.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(of_call.status().message().find("root_stack_run_id"), std::string::npos) << of_call.status();
}

TEST_P(StoreTest, RenewLeasesExtendsHeldOnesAndListsLostOnes) {
  Publish("t");
  Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec", 30000);
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  // 600 dispatched calls: more than one statement's worth of ids.
  auto recorded = Record(*root, 600, {.dispatch_owner = "exec", .dispatch_lease_ms = 30000});
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_EQ(recorded->calls_size(), 600);
  // One has finished.
  ASSERT_TRUE(Complete(recorded->calls(0).id(), 1, "0").ok());
  v1::RenewLeasesRequest request;
  request.set_owner("exec");
  request.set_lease_ms(60000);
  auto* lease = request.add_leases();
  lease->set_stack_run_id(root->stack_run().id());
  lease->set_fencing_token(root->lease().fencing_token());
  for (int i = 0; i < recorded->calls_size(); ++i) {
    if (i == 1) continue;
    lease = request.add_leases();
    lease->set_stack_run_id(recorded->calls(i).id());
    lease->set_fencing_token(recorded->calls(i).fencing_token());
  }
  lease = request.add_leases();
  lease->set_stack_run_id("sr_missing");
  lease->set_fencing_token(1);
  // A stale token.
  lease = request.add_leases();
  lease->set_stack_run_id(recorded->calls(1).id());
  lease->set_fencing_token(9);
  Advance(absl::Seconds(20));
  auto renewed = store_->RenewLeases(request);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  std::set<std::string> lost(renewed->lost().begin(), renewed->lost().end());
  EXPECT_EQ(lost, (std::set<std::string>{recorded->calls(0).id(), "sr_missing", recorded->calls(1).id()}))
      << renewed->DebugString();
  EXPECT_EQ(renewed->lost_size(), 3);
  // Past the original 30 s, only the call whose renewal was lost is claimable.
  Advance(absl::Seconds(20));
  auto expired = Claim(v1::WORK_KIND_PERFORM_CALL, "proc");
  ASSERT_TRUE(expired.ok() && expired->has_stack_run());
  EXPECT_EQ(expired->stack_run().id(), recorded->calls(1).id());
  ASSERT_TRUE(CompleteCall(*expired, "1").ok());
  EXPECT_FALSE(Claim(v1::WORK_KIND_PERFORM_CALL, "proc")->has_stack_run());
  EXPECT_FALSE(Claim(v1::WORK_KIND_EXECUTE_ROOT, "other")->has_stack_run());
  EXPECT_FALSE(Claim(v1::WORK_KIND_RESUME_PARENT, "other")->has_stack_run());
  auto held = store_->GetStackRun(recorded->calls(599).id());
  EXPECT_EQ(google::protobuf::util::TimeUtil::TimestampToMicroseconds(held->lease_expires_at()),
            now_micros_.load() - 20000000 + 60000000);
  EXPECT_EQ(held->lease_owner(), "exec");
  // Past the renewed expiry they are claimable again, and a renewal with the
  // old token is lost once another owner claimed.
  Advance(absl::Seconds(50));
  auto taken = Claim(v1::WORK_KIND_PERFORM_CALL, "proc");
  ASSERT_TRUE(taken.ok() && taken->has_stack_run());
  EXPECT_EQ(taken->lease().fencing_token(), 2);
  v1::RenewLeasesRequest one;
  one.set_owner("exec");
  one.set_lease_ms(1000);
  *one.add_leases() = request.leases(0);  // the root: still RUNNING with its token
  lease = one.add_leases();
  lease->set_stack_run_id(taken->stack_run().id());
  lease->set_fencing_token(1);
  renewed = store_->RenewLeases(one);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  ASSERT_EQ(renewed->lost_size(), 1);
  EXPECT_EQ(renewed->lost(0), taken->stack_run().id());
  // Bad requests.
  one.set_owner("");
  EXPECT_EQ(store_->RenewLeases(one).status().code(), absl::StatusCode::kInvalidArgument);
  one.set_owner("exec");
  one.set_lease_ms(50);
  EXPECT_EQ(store_->RenewLeases(one).status().code(), absl::StatusCode::kInvalidArgument);
  one.set_lease_ms(1000);
  one.add_leases();
  auto no_id = store_->RenewLeases(one);
  EXPECT_EQ(no_id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_id.status().message().find("leases[2].stack_run_id"), std::string::npos) << no_id.status();
  v1::RenewLeasesRequest many;
  many.set_owner("exec");
  many.set_lease_ms(1000);
  for (int i = 0; i < 10001; ++i) many.add_leases()->set_stack_run_id("sr_x");
  EXPECT_EQ(store_->RenewLeases(many).status().code(), absl::StatusCode::kInvalidArgument);
  v1::RenewLeasesRequest none;
  none.set_owner("exec");
  none.set_lease_ms(1000);
  auto empty = store_->RenewLeases(none);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->lost_size(), 0);
}

TEST_P(StoreTest, FinishingARunCancelsItsOutstandingCalls) {
  Publish("t");
  auto submitted = Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec");
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  auto recorded = Record(*root, 3);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  auto done_call = Claim(v1::WORK_KIND_PERFORM_CALL, "proc");
  auto held_call = Claim(v1::WORK_KIND_PERFORM_CALL, "proc");
  ASSERT_TRUE(done_call.ok() && done_call->has_stack_run() && held_call.ok() && held_call->has_stack_run());
  ASSERT_TRUE(CompleteCall(*done_call, "1").ok());
  v1::FailRunRequest fail;
  fail.set_root_stack_run_id(root->stack_run().id());
  fail.set_fencing_token(root->lease().fencing_token());
  fail.mutable_error()->set_message("TypeError: boom");
  auto failed = store_->FailRun(fail);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->status(), v1::RUN_STATUS_FAILED);
  // The held call's late answer is refused; the pending one is not claimable.
  auto late = CompleteCall(*held_call, "2");
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition) << late.status();
  EXPECT_FALSE(Claim(v1::WORK_KIND_PERFORM_CALL, "proc")->has_stack_run());
  auto journal = Journal(root->stack_run().id());
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(journal->root().status(), v1::STACK_RUN_STATUS_FAILED);
  EXPECT_EQ(journal->root().waiting(), 0);
  EXPECT_TRUE(journal->root().reply_to().empty());
  ASSERT_EQ(journal->calls_size(), 3);
  EXPECT_EQ(journal->calls(0).status(), v1::STACK_RUN_STATUS_COMPLETED);  // finished before: kept
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(journal->calls(i).status(), v1::STACK_RUN_STATUS_CANCELLED) << i;
    EXPECT_TRUE(journal->calls(i).lease_owner().empty()) << i;
    EXPECT_TRUE(journal->calls(i).has_completed_at()) << i;
  }
}

TEST_P(StoreTest, ClaimWorkSetsTheRootsReplyTo) {
  Publish("t");
  auto submitted = Submit("t");
  EXPECT_EQ(Claim(v1::WORK_KIND_EXECUTE_ROOT, "a", 1000, "", std::string(300, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto a = Claim(v1::WORK_KIND_EXECUTE_ROOT, "a", 1000, "", "10.1.2.3:7001");
  ASSERT_TRUE(a.ok() && a->has_stack_run());
  EXPECT_EQ(a->stack_run().reply_to(), "10.1.2.3:7001");
  EXPECT_EQ(store_->GetStackRun(submitted.root().id())->reply_to(), "10.1.2.3:7001");
  // Taken over without a reply_to: cleared.
  Advance(absl::Milliseconds(1500));
  auto b = Claim(v1::WORK_KIND_EXECUTE_ROOT, "b", 1000);
  ASSERT_TRUE(b.ok() && b->has_stack_run());
  EXPECT_TRUE(b->stack_run().reply_to().empty());
  // Given back: nobody holds it, so no reply_to.
  Advance(absl::Milliseconds(1500));
  auto c = Claim(v1::WORK_KIND_EXECUTE_ROOT, "c", 30000, "", "c:1");
  ASSERT_TRUE(c.ok() && c->has_stack_run());
  ASSERT_TRUE(Record(*c, 1).ok());
  v1::ReleaseLeaseRequest release;
  release.set_stack_run_id(submitted.root().id());
  release.set_owner("c");
  release.set_fencing_token(c->lease().fencing_token());
  ASSERT_TRUE(store_->ReleaseLease(release).ok());
  auto root = store_->GetStackRun(submitted.root().id());
  EXPECT_EQ(root->status(), v1::STACK_RUN_STATUS_READY_TO_RESUME);
  EXPECT_TRUE(root->reply_to().empty());
  // A call's claim leaves its (empty) reply_to alone.
  auto call = Claim(v1::WORK_KIND_PERFORM_CALL, "proc", 1000, "", "proc:1");
  ASSERT_TRUE(call.ok() && call->has_stack_run());
  EXPECT_TRUE(call->stack_run().reply_to().empty());
}

TEST_P(StoreTest, ReleaseRacingCompletionsWakesEachRunExactlyOnce) {
  Publish("t");
  constexpr int kRuns = 12;
  constexpr int kCalls = 4;
  std::vector<v1::ClaimWorkResponse> roots;
  std::vector<v1::StackRunRecord> calls;
  for (int i = 0; i < kRuns; ++i) Submit("t");
  for (int i = 0; i < kRuns; ++i) {
    auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec", 60000, "", "exec:1");
    ASSERT_TRUE(root.ok() && root->has_stack_run());
    auto recorded = Record(*root, kCalls, {.dispatch_owner = "proc", .dispatch_lease_ms = 60000});
    ASSERT_TRUE(recorded.ok()) << recorded.status();
    roots.push_back(*root);
    calls.insert(calls.end(), recorded->calls().begin(), recorded->calls().end());
  }
  std::atomic<int> woken{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < calls.size(); i += 4) {
        auto done = Complete(calls[i].id(), calls[i].fencing_token(), "true");
        if (!done.ok()) {
          ++errors;
        } else if (done->parent_ready()) {
          ++woken;
        }
      }
    });
  }
  threads.emplace_back([&] {
    // Releases without delivering anything, while results arrive.
    for (const auto& root : roots) {
      v1::PutCheckpointRequest put;
      put.set_root_stack_run_id(root.stack_run().id());
      put.set_fencing_token(root.lease().fencing_token());
      *put.mutable_checkpoint() = Checkpoint(1);
      put.set_release(true);
      auto released = store_->PutCheckpoint(put);
      if (!released.ok()) {
        ++errors;
      } else if (released->ready()) {
        ++woken;
      }
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(woken.load(), kRuns);
  for (const auto& root : roots) {
    auto state = store_->GetStackRun(root.stack_run().id());
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state->status(), v1::STACK_RUN_STATUS_READY_TO_RESUME) << state->id();
    EXPECT_EQ(state->waiting(), 0) << state->id();
  }
}

TEST_P(StoreTest, FailRunRecordsError) {
  Publish("t");
  auto submitted = Submit("t");
  auto claim = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
  v1::FailRunRequest fail;
  fail.set_root_stack_run_id(claim->stack_run().id());
  fail.set_fencing_token(claim->lease().fencing_token());
  EXPECT_EQ(store_->FailRun(fail).status().code(), absl::StatusCode::kInvalidArgument);
  fail.mutable_error()->set_message("TypeError: x is not a function");
  fail.mutable_error()->set_stack("at task.js:3:5");
  auto failed = store_->FailRun(fail);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(failed->error().stack(), "at task.js:3:5");
}

TEST_P(StoreTest, ExpiredLeaseIsReclaimedAndOldOwnersWriteRefused) {
  Publish("t");
  Submit("t");
  auto a = Claim(v1::WORK_KIND_EXECUTE_ROOT, "worker-a", 1000);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(a->has_stack_run());
  auto recorded = Record(*a, 1);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  auto call_a = Claim(v1::WORK_KIND_PERFORM_CALL, "proc-a", 1000);
  ASSERT_TRUE(call_a.ok()) << call_a.status();
  ASSERT_TRUE(call_a->has_stack_run());
  EXPECT_FALSE(Claim(v1::WORK_KIND_PERFORM_CALL, "proc-b", 1000)->has_stack_run());
  Advance(absl::Milliseconds(1500));
  auto call_b = Claim(v1::WORK_KIND_PERFORM_CALL, "proc-b", 1000);
  ASSERT_TRUE(call_b.ok()) << call_b.status();
  ASSERT_TRUE(call_b->has_stack_run());
  EXPECT_EQ(call_b->stack_run().id(), call_a->stack_run().id());
  EXPECT_GT(call_b->lease().fencing_token(), call_a->lease().fencing_token());
  EXPECT_EQ(call_b->stack_run().attempt(), 2);
  auto late = CompleteCall(*call_a, R"("late")");
  EXPECT_EQ(late.status().code(), absl::StatusCode::kAborted);
  auto ok = CompleteCall(*call_b, R"("fresh")");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->call().result_json(), R"("fresh")");
}

TEST_P(StoreTest, RenewKeepsLeaseAndReleaseMakesClaimable) {
  Publish("t");
  Submit("t");
  auto a = Claim(v1::WORK_KIND_EXECUTE_ROOT, "a", 1000);
  v1::RenewLeaseRequest renew;
  renew.set_stack_run_id(a->stack_run().id());
  renew.set_owner("a");
  renew.set_fencing_token(a->lease().fencing_token());
  renew.set_lease_ms(5000);
  Advance(absl::Milliseconds(800));
  ASSERT_TRUE(store_->RenewLease(renew).ok());
  Advance(absl::Milliseconds(800));  // past the original expiry
  EXPECT_FALSE(Claim(v1::WORK_KIND_EXECUTE_ROOT, "b")->has_stack_run());
  v1::ReleaseLeaseRequest release;
  release.set_stack_run_id(a->stack_run().id());
  release.set_owner("a");
  release.set_fencing_token(a->lease().fencing_token());
  ASSERT_TRUE(store_->ReleaseLease(release).ok());
  auto b = Claim(v1::WORK_KIND_EXECUTE_ROOT, "b");
  ASSERT_TRUE(b->has_stack_run());
  renew.set_fencing_token(a->lease().fencing_token());
  EXPECT_EQ(store_->RenewLease(renew).status().code(), absl::StatusCode::kAborted);
}

TEST_P(StoreTest, RetryCallWaitsUntilNextAttempt) {
  Publish("t");
  Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
  ASSERT_TRUE(root.ok()) << root.status();
  ASSERT_TRUE(root->has_stack_run());
  auto recorded = Record(*root, 1);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  auto call = Claim(v1::WORK_KIND_PERFORM_CALL, "p");
  ASSERT_TRUE(call.ok()) << call.status();
  ASSERT_TRUE(call->has_stack_run());
  v1::RetryCallRequest retry;
  retry.set_stack_run_id(call->stack_run().id());
  retry.set_fencing_token(call->lease().fencing_token());
  retry.mutable_error()->set_message("HTTP 503");
  retry.mutable_error()->set_retryable(true);
  *retry.mutable_next_attempt_at() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
      now_micros_.load() + 2000000);
  auto retried = store_->RetryCall(retry);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->status(), v1::STACK_RUN_STATUS_PENDING);
  EXPECT_FALSE(Claim(v1::WORK_KIND_PERFORM_CALL, "p")->has_stack_run());
  Advance(absl::Seconds(3));
  auto again = Claim(v1::WORK_KIND_PERFORM_CALL, "p");
  ASSERT_TRUE(again->has_stack_run());
  EXPECT_EQ(again->stack_run().attempt(), 2);
  EXPECT_EQ(again->stack_run().error().message(), "HTTP 503");
}

TEST_P(StoreTest, CancelStopsRunAndItsCalls) {
  Publish("t");
  auto submitted = Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
  ASSERT_TRUE(root.ok()) << root.status();
  ASSERT_TRUE(root->has_stack_run());
  auto recorded = Record(*root, 2);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  auto held = Claim(v1::WORK_KIND_PERFORM_CALL, "p");
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_TRUE(held->has_stack_run());
  v1::CancelTaskRunRequest cancel;
  cancel.set_id(submitted.run().id());
  cancel.set_reason("user asked");
  auto cancelled = store_->CancelRun(cancel);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->status(), v1::RUN_STATUS_CANCELLED);
  EXPECT_EQ(cancelled->error().message(), "user asked");
  auto after = Claim(v1::WORK_KIND_PERFORM_CALL, "p");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_FALSE(after->has_stack_run());
  EXPECT_EQ(CompleteCall(*held, "1").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->CancelRun(cancel).status().code(), absl::StatusCode::kFailedPrecondition);
  v1::ListStackRunsRequest list;
  list.mutable_filter()->set_task_run_id(submitted.run().id());
  auto listed = store_->ListStackRuns(list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->stack_runs_size(), 3) << listed->DebugString();  // the root and its two calls
  for (const auto& s : listed->stack_runs()) {
    EXPECT_EQ(s.status(), v1::STACK_RUN_STATUS_CANCELLED) << s.id();
  }
  cancel.set_id("run_missing");
  EXPECT_EQ(store_->CancelRun(cancel).status().code(), absl::StatusCode::kNotFound);
}

// A finished run is never cancelled afterwards: CancelRun refuses
// (FAILED_PRECONDITION) and the result stays.
TEST_P(StoreTest, CancelRefusesAFinishedRun) {
  Publish("t");
  for (bool fail : {false, true}) {
    auto submitted = Submit("t");
    auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
    ASSERT_TRUE(root.ok() && root->has_stack_run()) << root.status();
    if (fail) {
      v1::FailRunRequest request;
      request.set_root_stack_run_id(root->stack_run().id());
      request.set_fencing_token(root->lease().fencing_token());
      request.mutable_error()->set_code("E");
      request.mutable_error()->set_message("boom");
      ASSERT_TRUE(store_->FailRun(request).ok());
    } else {
      v1::CompleteRunRequest request;
      request.set_root_stack_run_id(root->stack_run().id());
      request.set_fencing_token(root->lease().fencing_token());
      request.set_result_json(Json("42"));
      ASSERT_TRUE(store_->CompleteRun(request).ok());
    }
    v1::CancelTaskRunRequest cancel;
    cancel.set_id(submitted.run().id());
    EXPECT_EQ(store_->CancelRun(cancel).status().code(), absl::StatusCode::kFailedPrecondition);
    auto run = GetRun(submitted.run().id());
    EXPECT_EQ(run.status(), fail ? v1::RUN_STATUS_FAILED : v1::RUN_STATUS_COMPLETED);
    if (!fail) EXPECT_EQ(run.result_json(), "42");
    EXPECT_EQ(store_->GetStackRun(root->stack_run().id())->status(),
              fail ? v1::STACK_RUN_STATUS_FAILED : v1::STACK_RUN_STATUS_COMPLETED);
  }
}

// CompleteRun and CancelRun racing on one run: exactly one wins, the other
// is refused, and the run and its root agree on the outcome.
TEST_P(StoreTest, CompleteAndCancelRacingExactlyOneWins) {
  Publish("t");
  int completed_wins = 0, cancel_wins = 0;
  for (int i = 0; i < 40; ++i) {
    auto submitted = Submit("t");
    auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
    ASSERT_TRUE(root.ok() && root->has_stack_run()) << root.status();
    ASSERT_TRUE(Record(*root, 1).ok());
    std::atomic<int> ready{0};
    absl::StatusOr<v1::TaskRunRecord> completed, cancelled;
    std::thread a([&] {
      v1::CompleteRunRequest request;
      request.set_root_stack_run_id(root->stack_run().id());
      request.set_fencing_token(root->lease().fencing_token());
      request.set_result_json(Json("\"done\""));
      ++ready;
      while (ready < 2) {}
      completed = store_->CompleteRun(request);
    });
    std::thread b([&] {
      v1::CancelTaskRunRequest request;
      request.set_id(submitted.run().id());
      ++ready;
      while (ready < 2) {}
      cancelled = store_->CancelRun(request);
    });
    a.join();
    b.join();
    ASSERT_NE(completed.ok(), cancelled.ok())
        << "complete: " << completed.status() << " cancel: " << cancelled.status();
    auto run = GetRun(submitted.run().id());
    auto stack = store_->GetStackRun(root->stack_run().id());
    ASSERT_TRUE(stack.ok());
    if (completed.ok()) {
      ++completed_wins;
      EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kFailedPrecondition) << cancelled.status();
      EXPECT_EQ(run.status(), v1::RUN_STATUS_COMPLETED);
      EXPECT_EQ(run.result_json(), R"("done")");
      EXPECT_EQ(stack->status(), v1::STACK_RUN_STATUS_COMPLETED);
    } else {
      ++cancel_wins;
      EXPECT_EQ(completed.status().code(), absl::StatusCode::kFailedPrecondition) << completed.status();
      EXPECT_EQ(run.status(), v1::RUN_STATUS_CANCELLED);
      EXPECT_EQ(stack->status(), v1::STACK_RUN_STATUS_CANCELLED);
    }
  }
  std::cerr << "complete won " << completed_wins << ", cancel won " << cancel_wins << "\n";
}

// A step write whose answer was lost is retried with the same step token:
// the retry answers what the first write answered and changes nothing.
// Without a token the retry is refused (the step is already journaled).
TEST_P(StoreTest, StepTokenMakesAStepCommitIdempotent) {
  using google::protobuf::util::MessageDifferencer;
  Publish("t");
  auto submitted = Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
  ASSERT_TRUE(root.ok() && root->has_stack_run()) << root.status();
  const std::string root_id = root->stack_run().id();
  const int64_t token = root->lease().fencing_token();
  v1::RecordCallsRequest record;
  record.set_root_stack_run_id(root_id);
  record.set_fencing_token(token);
  auto* step = record.add_steps();
  step->set_seq(0);
  step->set_clock_ms(5);
  for (int i = 1; i <= 2; ++i) {
    auto* call = record.add_calls();
    call->set_index(i);
    call->set_step(0);
    call->set_call_id(absl::StrCat("c", i));
    call->set_service("admin-debug");
    call->set_method("echo");
  }
  record.add_logs()->set_message("step 0");
  record.set_step_token(absl::StrCat(submitted.run().id(), "/", token, "/0"));
  auto first = store_->RecordCalls(record);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->calls_size(), 2);
  auto again = store_->RecordCalls(record);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*first, *again)) << again->DebugString();
  auto journal = Journal(root_id);
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(journal->steps_size(), 1);
  EXPECT_EQ(journal->calls_size(), 2);
  EXPECT_EQ(CountStackRuns(submitted.run().id()), 3);
  EXPECT_EQ(GetRun(submitted.run().id()).logs_size(), 1);
  EXPECT_EQ(store_->GetStackRun(root_id)->waiting(), 2);
  // The same write without its token is a second step: refused.
  v1::RecordCallsRequest untokened = record;
  untokened.clear_step_token();
  EXPECT_EQ(store_->RecordCalls(untokened).status().code(), absl::StatusCode::kFailedPrecondition);
  // Another token on the same op is another step (and fails as one would).
  v1::RecordCallsRequest other = record;
  other.set_step_token("another");
  EXPECT_EQ(store_->RecordCalls(other).status().code(), absl::StatusCode::kFailedPrecondition);

  // CompleteRun: the retry after the run finished gets the first answer.
  v1::CompleteRunRequest complete;
  complete.set_root_stack_run_id(root_id);
  complete.set_fencing_token(token);
  complete.set_result_json(Json(R"({"n":1})"));
  complete.set_step_token(absl::StrCat(submitted.run().id(), "/", token, "/1"));
  auto completed = store_->CompleteRun(complete);
  ASSERT_TRUE(completed.ok()) << completed.status();
  Advance(absl::Seconds(1));
  auto completed_again = store_->CompleteRun(complete);
  ASSERT_TRUE(completed_again.ok()) << completed_again.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*completed, *completed_again)) << completed_again->DebugString();
  EXPECT_EQ(completed_again->status(), v1::RUN_STATUS_COMPLETED);
  auto run = GetRun(submitted.run().id());
  EXPECT_EQ(run.status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(run.completed_at().seconds(), completed->completed_at().seconds());
  // The same token with another op is not a replay.
  v1::FailRunRequest fail_same_token;
  fail_same_token.set_root_stack_run_id(root_id);
  fail_same_token.set_fencing_token(token);
  fail_same_token.mutable_error()->set_message("x");
  fail_same_token.set_step_token(complete.step_token());
  EXPECT_EQ(store_->FailRun(fail_same_token).status().code(), absl::StatusCode::kFailedPrecondition);
  complete.clear_step_token();
  EXPECT_EQ(store_->CompleteRun(complete).status().code(), absl::StatusCode::kFailedPrecondition);
  // Only the root's latest step can be retried: one row per root is kept.
  if (GetParam() != "sqlite-grpc") {
    auto db = OpenDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    int64_t rows = -1;
    ASSERT_TRUE((*db)->Transact(false, [&](sql::Tx& tx) -> absl::Status {
                     auto r = tx.Query("SELECT COUNT(*) FROM step_commits WHERE root_stack_run_id = ?", {root_id});
                     if (!r.ok()) return r.status();
                     rows = (*r)[0].Int(0);
                     return absl::OkStatus();
                   }).ok());
    EXPECT_EQ(rows, 1);
  }

  // FailRun likewise, and through WriteBatch.
  auto submitted2 = Submit("t");
  auto root2 = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
  ASSERT_TRUE(root2.ok() && root2->has_stack_run()) << root2.status();
  v1::FailRunRequest fail;
  fail.set_root_stack_run_id(root2->stack_run().id());
  fail.set_fencing_token(root2->lease().fencing_token());
  fail.mutable_error()->set_code("TASK_ERROR");
  fail.mutable_error()->set_message("boom");
  fail.set_step_token("run2/1/0");
  auto failed = store_->FailRun(fail);
  ASSERT_TRUE(failed.ok()) << failed.status();
  v1::WriteBatchRequest batch;
  *batch.add_ops()->mutable_fail_run() = fail;
  auto batched = store_->WriteBatch(batch);
  ASSERT_TRUE(batched.ok()) << batched.status();
  ASSERT_EQ(batched->results_size(), 1);
  EXPECT_EQ(batched->results(0).code(), 0) << batched->results(0).message();
  EXPECT_TRUE(MessageDifferencer::Equals(*failed, batched->results(0).fail_run()));
  EXPECT_EQ(GetRun(submitted2.run().id()).error().message(), "boom");
  // Oversized tokens are refused.
  fail.set_step_token(std::string(300, 'x'));
  EXPECT_EQ(store_->FailRun(fail).status().code(), absl::StatusCode::kInvalidArgument);
}

// Poison pills: a run claimed max_claim_attempts (10) times without its
// holder making progress is failed at the next claim (ATTEMPTS_EXHAUSTED,
// naming the count), never handed out again; progress resets the count.
TEST_P(StoreTest, ARunClaimedTooOftenWithoutProgressIsFailed) {
  Publish("t");
  auto poison = Submit("t");
  for (int i = 1; i <= 10; ++i) {
    auto claim = Claim(v1::WORK_KIND_EXECUTE_ROOT, absl::StrCat("e", i), 1000);
    ASSERT_TRUE(claim.ok() && claim->has_stack_run()) << i << " " << claim.status();
    ASSERT_EQ(claim->stack_run().id(), poison.root().id());
    Advance(absl::Seconds(2));  // the holder died: its lease runs out
  }
  auto healthy = Submit("t");
  Advance(absl::Seconds(1));
  // The 11th claim fails the poison run and hands out the next one instead.
  auto next = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e11", 1000);
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_stack_run());
  EXPECT_EQ(next->stack_run().id(), healthy.root().id());
  auto run = GetRun(poison.run().id());
  EXPECT_EQ(run.status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(run.error().code(), "ATTEMPTS_EXHAUSTED");
  EXPECT_NE(run.error().message().find("10 times"), std::string::npos) << run.error().message();
  EXPECT_NE(run.error().message().find("e10"), std::string::npos) << run.error().message();
  EXPECT_EQ(store_->GetStackRun(poison.root().id())->status(), v1::STACK_RUN_STATUS_FAILED);
  Advance(absl::Seconds(2));
  auto again = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e12", 1000, poison.root().id());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_stack_run());

  // Progress (a recorded step) resets the count: 9 + 1 with progress + 9.
  auto busy = Submit("t");
  Advance(absl::Seconds(2));
  for (int i = 0; i < 19; ++i) {
    auto claim = Claim(i < 10 ? v1::WORK_KIND_EXECUTE_ROOT : v1::WORK_KIND_RESUME_PARENT, "e", 1000,
                       busy.root().id());
    ASSERT_TRUE(claim.ok() && claim->has_stack_run()) << i << " " << claim.status();
    if (i == 9) ASSERT_TRUE(Record(*claim, 1).ok());
    Advance(absl::Seconds(2));
  }
  EXPECT_NE(GetRun(busy.run().id()).status(), v1::RUN_STATUS_FAILED);
}

// A run whose stored input does not load: each claim fails (DATA_LOSS naming
// it and the claim count) without blocking other work, and after
// max_claim_attempts it is failed naming the cause and the count.
TEST_P(StoreTest, ARunThatCannotBeLoadedIsFailedAfterBoundedClaims) {
  Publish("t");
  auto poison = Submit("t");
  {
    auto db = OpenDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Transact(true, [&](sql::Tx& tx) {
                     // Payloads are passed through as text; a stored error is parsed.
                     return tx.Exec("UPDATE task_runs SET error = 'not json {' WHERE id = ?",
                                    {poison.run().id()})
                         .status();
                   }).ok());
  }
  Advance(absl::Seconds(1));
  auto healthy = Submit("t");
  for (int i = 1; i <= 10; ++i) {
    auto claim = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e", 1000);
    ASSERT_FALSE(claim.ok()) << i;
    EXPECT_EQ(claim.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(claim.status().message().find(absl::StrCat("claim ", i, " of 10")), std::string::npos)
        << claim.status();
    if (i == 1) {
      // Meanwhile the rest of the queue moves.
      auto next = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e", 60000);
      ASSERT_TRUE(next.ok() && next->has_stack_run()) << next.status();
      EXPECT_EQ(next->stack_run().id(), healthy.root().id());
    }
    Advance(absl::Seconds(2));
  }
  auto last = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e", 1000);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_FALSE(last->has_stack_run());
  auto root = store_->GetStackRun(poison.root().id());
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->status(), v1::STACK_RUN_STATUS_FAILED);
  EXPECT_EQ(root->error().code(), "ATTEMPTS_EXHAUSTED");
  EXPECT_NE(root->error().message().find("10 times"), std::string::npos) << root->error().message();
  EXPECT_NE(root->error().message().find(absl::StrCat("last failure: task run '", poison.run().id(), "'")),
            std::string::npos)
      << root->error().message();
  EXPECT_NE(root->error().message().find("not valid JSON"), std::string::npos) << root->error().message();
  // The run row itself says FAILED too.
  auto db = OpenDatabase();
  ASSERT_TRUE(db.ok()) << db.status();
  int64_t status = 0;
  ASSERT_TRUE((*db)->Transact(false, [&](sql::Tx& tx) -> absl::Status {
                   auto rows = tx.Query("SELECT status FROM task_runs WHERE id = ?", {poison.run().id()});
                   if (!rows.ok()) return rows.status();
                   status = (*rows)[0].Int(0);
                   return absl::OkStatus();
                 }).ok());
  EXPECT_EQ(status, v1::RUN_STATUS_FAILED);
}

TEST_P(StoreTest, ACallClaimedTooOftenWithoutAnOutcomeIsFailed) {
  Publish("t");
  auto submitted = Submit("t");
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
  ASSERT_TRUE(root.ok() && root->has_stack_run()) << root.status();
  ASSERT_TRUE(RecordAndRelease(*root, 2).ok());
  auto journal = Journal(root->stack_run().id());
  ASSERT_TRUE(journal.ok() && journal->calls_size() == 2);
  const std::string poison = journal->calls(0).id();
  const std::string retried = journal->calls(1).id();
  for (int i = 1; i <= 12; ++i) {
    // The poison call: its processor dies every time.
    auto claim = Claim(v1::WORK_KIND_PERFORM_CALL, "p", 1000, poison);
    ASSERT_TRUE(claim.ok()) << claim.status();
    ASSERT_EQ(claim->has_stack_run(), i <= 10) << i;
    // The other: each attempt ends in a recorded retry (an outcome), so it
    // is never counted out.
    auto other = Claim(v1::WORK_KIND_PERFORM_CALL, "p", 1000, retried);
    ASSERT_TRUE(other.ok() && other->has_stack_run()) << i << " " << other.status();
    v1::RetryCallRequest retry;
    retry.set_stack_run_id(retried);
    retry.set_fencing_token(other->lease().fencing_token());
    retry.mutable_error()->set_message("busy");
    ASSERT_TRUE(store_->RetryCall(retry).ok());
    Advance(absl::Seconds(2));
  }
  auto call = store_->GetStackRun(poison);
  ASSERT_TRUE(call.ok());
  EXPECT_EQ(call->status(), v1::STACK_RUN_STATUS_FAILED);
  EXPECT_EQ(call->error().code(), "ATTEMPTS_EXHAUSTED");
  EXPECT_NE(call->error().message().find("10 times"), std::string::npos) << call->error().message();
  // Its evicted parent has a result to see, and one call fewer to wait for.
  auto parent = store_->GetStackRun(root->stack_run().id());
  EXPECT_EQ(parent->status(), v1::STACK_RUN_STATUS_READY_TO_RESUME);
  EXPECT_EQ(parent->waiting(), 1);
  EXPECT_EQ(store_->GetStackRun(retried)->status(), v1::STACK_RUN_STATUS_PENDING);
}

// A retry racing its original still in flight (the client gave up waiting):
// both get the one answer, the step is applied once.
TEST_P(StoreTest, ConcurrentRepeatsOfATokenedStepApplyOnce) {
  using google::protobuf::util::MessageDifferencer;
  Publish("t");
  for (int i = 0; i < 10; ++i) {
    auto submitted = Submit("t");
    auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e", 30000, submitted.root().id());
    ASSERT_TRUE(root.ok() && root->has_stack_run()) << root.status();
    v1::RecordCallsRequest record;
    record.set_root_stack_run_id(root->stack_run().id());
    record.set_fencing_token(root->lease().fencing_token());
    record.add_steps()->set_seq(0);
    auto* call = record.add_calls();
    call->set_index(1);
    call->set_call_id("c1");
    call->set_service("admin-debug");
    call->set_method("echo");
    record.set_step_token(absl::StrCat(submitted.run().id(), "/1/0"));
    std::atomic<int> ready{0};
    absl::StatusOr<v1::RecordCallsResponse> a, b;
    std::thread ta([&] {
      ++ready;
      while (ready < 2) {}
      a = store_->RecordCalls(record);
    });
    std::thread tb([&] {
      ++ready;
      while (ready < 2) {}
      b = store_->RecordCalls(record);
    });
    ta.join();
    tb.join();
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE(MessageDifferencer::Equals(*a, *b));
    EXPECT_EQ(CountStackRuns(submitted.run().id()), 2);  // the root and one call
    EXPECT_EQ(store_->GetStackRun(root->stack_run().id())->waiting(), 1);
  }
}

TEST_P(StoreTest, BadClaimAndRecordInputsAreRejected) {
  Publish("t");
  Submit("t");
  EXPECT_EQ(Claim(v1::WORK_KIND_UNSPECIFIED, "x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Claim(v1::WORK_KIND_EXECUTE_ROOT, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Claim(v1::WORK_KIND_EXECUTE_ROOT, "x", 5).status().code(), absl::StatusCode::kInvalidArgument);
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  auto none = Record(*root, 0);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("calls"), std::string::npos);
  auto too_many = Record(*root, 1001);
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.status().message().find("exceeds the limit"), std::string::npos) << too_many.status();
  auto no_lease = Record(*root, 1, {.dispatch_owner = "e", .dispatch_lease_ms = 0});
  EXPECT_EQ(no_lease.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_lease.status().message().find("dispatch_lease_ms"), std::string::npos) << no_lease.status();
  v1::RecordCallsRequest request;
  request.set_root_stack_run_id(root->stack_run().id());
  request.set_fencing_token(root->lease().fencing_token());
  request.add_steps()->set_seq(0);
  auto* call = request.add_calls();
  call->set_index(1);
  call->set_method("echo");
  auto no_service = store_->RecordCalls(request);
  EXPECT_EQ(no_service.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_service.status().message().find("calls[0].service"), std::string::npos) << no_service.status();
  call->set_service("admin-debug");
  call->set_method("");
  auto no_method = store_->RecordCalls(request);
  EXPECT_EQ(no_method.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_method.status().message().find("calls[0].method"), std::string::npos) << no_method.status();
  call->set_method("echo");
  call->set_args_json(Json(absl::StrCat("\"", std::string(70000, 'x'), "\"")));
  auto big = store_->RecordCalls(request);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("calls[0].args"), std::string::npos) << big.status();
  request.set_root_stack_run_id("");
  EXPECT_EQ(store_->RecordCalls(request).status().code(), absl::StatusCode::kInvalidArgument);
  call->clear_args_json();
  request.set_root_stack_run_id("sr_missing");
  EXPECT_EQ(store_->RecordCalls(request).status().code(), absl::StatusCode::kNotFound);
  // Nothing half-written: still RUNNING, no calls, no journal.
  auto state = store_->GetStackRun(root->stack_run().id());
  EXPECT_EQ(state->status(), v1::STACK_RUN_STATUS_RUNNING);
  EXPECT_EQ(state->suspension(), 0);
  EXPECT_EQ(CountStackRuns(root->stack_run().task_run_id()), 1);
  EXPECT_EQ(Journal(root->stack_run().id())->steps_size(), 0);
}

TEST_P(StoreTest, ListRunsFiltersAndPages) {
  Publish("a");
  Publish("b");
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(Submit(i % 2 ? "a" : "b").run().id());
    Advance(absl::Milliseconds(10));
  }
  v1::ListTaskRunsRequest request;
  request.mutable_page()->set_limit(3);
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    auto r = store_->ListTaskRuns(request);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& run : r->runs()) seen.push_back(run.id());
    if (r->next_page_token().empty()) break;
    request.mutable_page()->set_page_token(r->next_page_token());
  }
  std::vector<std::string> expected(ids.rbegin(), ids.rend());
  EXPECT_EQ(seen, expected);
  v1::ListTaskRunsRequest by_task;
  by_task.mutable_filter()->set_task_identifier("a");
  EXPECT_EQ(store_->ListTaskRuns(by_task)->runs_size(), 3);
  Claim(v1::WORK_KIND_EXECUTE_ROOT, "e").IgnoreError();
  v1::ListTaskRunsRequest by_status;
  by_status.mutable_filter()->add_statuses(v1::RUN_STATUS_RUNNING);
  EXPECT_EQ(store_->ListTaskRuns(by_status)->runs_size(), 1);
  v1::ListTaskRunsRequest bad;
  bad.mutable_filter()->add_statuses(static_cast<v1::RunStatus>(42));
  EXPECT_EQ(store_->ListTaskRuns(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.Clear();
  bad.mutable_page()->set_limit(5000);
  EXPECT_EQ(store_->ListTaskRuns(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, LogsAppendInOrder) {
  Publish("t");
  auto run = Submit("t").run();
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
  ASSERT_TRUE(root.ok() && root->has_stack_run()) << root.status();
  v1::AppendRunLogsRequest request;
  request.set_task_run_id(run.id());
  request.set_root_stack_run_id(root->stack_run().id());
  request.set_fencing_token(root->lease().fencing_token());
  for (int i = 0; i < 3; ++i) {
    auto* log = request.add_logs();
    log->set_level(i == 2 ? "error" : "log");
    log->set_message(absl::StrCat("line ", i));
  }
  EXPECT_EQ(*store_->AppendRunLogs(request), 3);
  EXPECT_EQ(*store_->AppendRunLogs(request), 3);
  auto fetched = GetRun(run.id());
  ASSERT_EQ(fetched.logs_size(), 6);
  EXPECT_EQ(fetched.logs(5).message(), "line 2");
  EXPECT_EQ(fetched.logs(5).level(), "error");
  request.set_task_run_id("run_nope");
  EXPECT_EQ(store_->AppendRunLogs(request).status().code(), absl::StatusCode::kNotFound);
}

// Logs are fenced like every other write of a run's holder: a holder whose
// lease expired and was taken over (stale token) is ABORTED, a finished run
// FAILED_PRECONDITION, an unfenced request INVALID_ARGUMENT; nothing stored.
TEST_P(StoreTest, LogsFromAStaleHolderAreRefused) {
  Publish("t");
  auto run = Submit("t").run();
  auto first = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e1", 1000);
  ASSERT_TRUE(first.ok() && first->has_stack_run()) << first.status();
  v1::AppendRunLogsRequest request;
  request.set_task_run_id(run.id());
  request.set_root_stack_run_id(first->stack_run().id());
  request.set_fencing_token(first->lease().fencing_token());
  request.add_logs()->set_message("from e1");
  ASSERT_TRUE(store_->AppendRunLogs(request).ok());
  // e1's lease expires and e2 takes the run over.
  Advance(absl::Seconds(2));
  auto second = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e2", 30000);
  ASSERT_TRUE(second.ok() && second->has_stack_run()) << second.status();
  ASSERT_GT(second->lease().fencing_token(), first->lease().fencing_token());
  request.mutable_logs(0)->set_message("late from e1");
  EXPECT_EQ(store_->AppendRunLogs(request).status().code(), absl::StatusCode::kAborted);
  v1::AppendRunLogsRequest unfenced;
  unfenced.set_task_run_id(run.id());
  unfenced.add_logs()->set_message("unfenced");
  EXPECT_EQ(store_->AppendRunLogs(unfenced).status().code(), absl::StatusCode::kInvalidArgument);
  v1::AppendRunLogsRequest current = request;
  current.set_fencing_token(second->lease().fencing_token());
  current.mutable_logs(0)->set_message("from e2");
  ASSERT_TRUE(store_->AppendRunLogs(current).ok());
  // Another run's root is not this run's.
  auto other = Submit("t").run();
  current.set_task_run_id(other.id());
  EXPECT_EQ(store_->AppendRunLogs(current).status().code(), absl::StatusCode::kInvalidArgument);
  current.set_task_run_id(run.id());
  v1::CompleteRunRequest complete;
  complete.set_root_stack_run_id(second->stack_run().id());
  complete.set_fencing_token(second->lease().fencing_token());
  ASSERT_TRUE(store_->CompleteRun(complete).ok());
  current.mutable_logs(0)->set_message("after the end");
  EXPECT_EQ(store_->AppendRunLogs(current).status().code(), absl::StatusCode::kFailedPrecondition);
  auto fetched = GetRun(run.id());
  ASSERT_EQ(fetched.logs_size(), 2);
  EXPECT_EQ(fetched.logs(0).message(), "from e1");
  EXPECT_EQ(fetched.logs(1).message(), "from e2");
}

// A run's checkpoints go when it ends: completed, failed or cancelled.
TEST_P(StoreTest, ARunsContinuationsAreDeletedWhenItEnds) {
  Publish("t");
  for (const std::string how : {"complete", "fail", "cancel"}) {
    auto submitted = Submit("t");
    auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
    ASSERT_TRUE(root.ok() && root->has_stack_run()) << root.status();
    ASSERT_TRUE(Record(*root, 1).ok());
    const v1::Continuation checkpoint = Checkpoint(1);
    ASSERT_TRUE(Put(*root, {}, &checkpoint, false).ok());
    ASSERT_TRUE(store_->GetContinuation(root->stack_run().id()).ok());
    if (how == "complete") {
      v1::CompleteRunRequest request;
      request.set_root_stack_run_id(root->stack_run().id());
      request.set_fencing_token(root->lease().fencing_token());
      ASSERT_TRUE(store_->CompleteRun(request).ok());
    } else if (how == "fail") {
      v1::FailRunRequest request;
      request.set_root_stack_run_id(root->stack_run().id());
      request.set_fencing_token(root->lease().fencing_token());
      request.mutable_error()->set_message("boom");
      ASSERT_TRUE(store_->FailRun(request).ok());
    } else {
      v1::CancelTaskRunRequest request;
      request.set_id(submitted.run().id());
      ASSERT_TRUE(store_->CancelRun(request).ok());
    }
    EXPECT_EQ(store_->GetContinuation(root->stack_run().id()).status().code(), absl::StatusCode::kNotFound)
        << how;
    v1::GetJournalRequest get;
    get.set_root_stack_run_id(root->stack_run().id());
    auto journal = store_->GetJournal(get);
    if (journal.ok()) EXPECT_FALSE(journal->has_checkpoint()) << how;
  }
}

// Retention: runs finished before the cut are deleted with everything they
// left; later-finished and unfinished runs stay.
TEST_P(StoreTest, PurgeFinishedRunsDeletesOldFinishedRunsAndAllTheyLeft) {
  Store* direct = backend_ ? backend_.get() : store_.get();  // the database's own store
  Publish("t");
  auto finish = [&](const v1::SubmitTaskRunResponse& submitted) -> std::string {
    auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e", 30000, submitted.root().id());
    EXPECT_TRUE(root.ok() && root->has_stack_run()) << root.status();
    RecordOptions options;
    options.logs = {"a line"};
    auto recorded = Record(*root, 2, options);
    EXPECT_TRUE(recorded.ok()) << recorded.status();
    v1::CompleteRunRequest request;
    request.set_root_stack_run_id(root->stack_run().id());
    request.set_fencing_token(root->lease().fencing_token());
    request.set_step_token("tok");
    EXPECT_TRUE(store_->CompleteRun(request).ok());
    return recorded.ok() ? recorded->calls(0).id() : "";
  };
  auto old_run = Submit("t");
  const std::string old_call = finish(old_run);
  const absl::Time cut = absl::FromUnixMicros(now_micros_.load()) + absl::Minutes(30);
  Advance(absl::Hours(1));
  auto new_run = Submit("t");
  const std::string new_call = finish(new_run);
  auto running = Submit("t");
  EXPECT_EQ(*direct->PurgeFinishedRuns(cut, 100), 1);
  v1::GetTaskRunRequest get;
  get.set_id(old_run.run().id());
  EXPECT_EQ(store_->GetTaskRun(get).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetStackRun(old_run.root().id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetStackRun(old_call).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetRun(new_run.run().id()).status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(GetRun(new_run.run().id()).logs_size(), 1);
  EXPECT_TRUE(store_->GetStackRun(new_call).ok());
  EXPECT_EQ(GetRun(running.run().id()).status(), v1::RUN_STATUS_PENDING);
  // Nothing of the old run is left in any table.
  if (GetParam() != "sqlite-grpc") {
    auto db = OpenDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    for (const std::string sql :
         {"SELECT COUNT(*) FROM run_logs WHERE task_run_id = ?",
          "SELECT COUNT(*) FROM stack_runs WHERE task_run_id = ?",
          "SELECT COUNT(*) FROM journal_steps WHERE root_stack_run_id IN (SELECT id FROM stack_runs WHERE "
          "task_run_id = ?)",
          "SELECT COUNT(*) FROM step_commits WHERE root_stack_run_id LIKE ?"}) {
      int64_t count = -1;
      const std::string param = sql.find("LIKE") != std::string::npos ? old_run.root().id() : old_run.run().id();
      ASSERT_TRUE((*db)->Transact(false, [&](sql::Tx& tx) -> absl::Status {
                         auto rows = tx.Query(sql, {param});
                         if (!rows.ok()) return rows.status();
                         count = (*rows)[0].Int(0);
                         return absl::OkStatus();
                       }).ok());
      EXPECT_EQ(count, 0) << sql;
    }
  }
  // Nothing more to purge at that cut; a later cut takes the newer run.
  EXPECT_EQ(*direct->PurgeFinishedRuns(cut, 100), 0);
  EXPECT_EQ(*direct->PurgeFinishedRuns(absl::FromUnixMicros(now_micros_.load()) + absl::Seconds(1), 100), 1);
  EXPECT_EQ(GetRun(running.run().id()).status(), v1::RUN_STATUS_PENDING);
  EXPECT_EQ(direct->PurgeFinishedRuns(cut, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, ContinuationsRoundTripBinary) {
  Publish("t");
  auto root = Submit("t").root();
  std::string bytes;
  for (int i = 0; i < 70000; ++i) bytes.push_back(static_cast<char>(i * 7));
  v1::Continuation c;
  c.set_stack_run_id(root.id());
  c.set_data(bytes);
  c.set_format_version(3);
  c.set_v8_version("10.2.154.26");
  c.set_checksum(0xdeadbeef);
  c.set_raw_size(470000);
  ASSERT_TRUE(store_->PutContinuation(c).ok());
  auto got = store_->GetContinuation(root.id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->data(), bytes);
  EXPECT_EQ(got->checksum(), 0xdeadbeefu);
  EXPECT_EQ(got->raw_size(), 470000);
  c.set_stack_run_id("sr_missing");
  EXPECT_EQ(store_->PutContinuation(c).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetContinuation("sr_missing").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, TaskLocksHaveOneHolderAndExpire) {
  v1::AcquireTaskLockRequest a;
  a.set_task_run_id("run_1");
  a.set_owner("a");
  a.set_ttl_ms(1000);
  auto la = store_->AcquireTaskLock(a);
  ASSERT_TRUE(la.ok()) << la.status();
  v1::AcquireTaskLockRequest b = a;
  b.set_owner("b");
  EXPECT_EQ(store_->AcquireTaskLock(b).status().code(), absl::StatusCode::kFailedPrecondition);
  Advance(absl::Seconds(2));
  auto lb = store_->AcquireTaskLock(b);
  ASSERT_TRUE(lb.ok());
  EXPECT_GT(lb->fencing_token(), la->fencing_token());
  v1::ReleaseTaskLockRequest release;
  release.set_task_run_id("run_1");
  release.set_owner("a");
  release.set_fencing_token(la->fencing_token());
  EXPECT_EQ(store_->ReleaseTaskLock(release).code(), absl::StatusCode::kAborted);
  release.set_owner("b");
  release.set_fencing_token(lb->fencing_token());
  EXPECT_TRUE(store_->ReleaseTaskLock(release).ok());
  EXPECT_TRUE(store_->AcquireTaskLock(a).ok());
}

TEST_P(StoreTest, KeystoreRowsRoundTrip) {
  v1::KeystoreRow row;
  row.set_namespace_("global");
  row.set_key("GAPI_KEY");
  row.set_encrypted_value(std::string("\x00\x01secret\xff", 9));
  ASSERT_TRUE(store_->PutKeystoreEntry(row).ok());
  row.set_key("OTHER");
  ASSERT_TRUE(store_->PutKeystoreEntry(row).ok());
  auto got = store_->GetKeystoreEntry("global", "GAPI_KEY");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->encrypted_value(), std::string("\x00\x01secret\xff", 9));
  v1::ListKeystoreEntriesRequest list;
  list.set_namespace_("global");
  auto listed = store_->ListKeystoreEntries(list);
  ASSERT_EQ(listed->rows_size(), 2);
  EXPECT_TRUE(listed->rows(0).encrypted_value().empty());
  EXPECT_TRUE(*store_->DeleteKeystoreEntry("global", "OTHER"));
  EXPECT_FALSE(*store_->DeleteKeystoreEntry("global", "OTHER"));
  EXPECT_EQ(store_->GetKeystoreEntry("global", "OTHER").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetKeystoreEntry("bad ns", "k").status().code(), absl::StatusCode::kInvalidArgument);
  row.set_encrypted_value("");
  EXPECT_EQ(store_->PutKeystoreEntry(row).code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, ManyThreadsClaimEveryItemExactlyOnce) {
  Publish("t");
  constexpr int kRuns = 25;
  constexpr int kCallsPerRun = 8;
  for (int i = 0; i < kRuns; ++i) Submit("t");
  for (int i = 0; i < kRuns; ++i) {
    auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
    ASSERT_TRUE(root.ok() && root->has_stack_run());
    ASSERT_TRUE(RecordAndRelease(*root, kCallsPerRun).ok());
  }
  absl::Mutex mu;
  std::multiset<std::string> claimed;
  std::atomic<int> ready_parents{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      int consecutive_errors = 0;
      while (true) {
        auto c = Claim(v1::WORK_KIND_PERFORM_CALL, absl::StrCat("p", t));
        if (!c.ok()) {
          ++errors;
          if (++consecutive_errors >= 100) {
            ADD_FAILURE() << "thread " << t << ": 100 claims in a row failed, last: " << c.status();
            break;
          }
          continue;
        }
        consecutive_errors = 0;
        if (!c->has_stack_run()) break;
        {
          absl::MutexLock lock(&mu);
          claimed.insert(c->stack_run().id());
        }
        auto done = CompleteCall(*c, "true");
        if (!done.ok()) {
          ++errors;
        } else if (done->parent_ready()) {
          ++ready_parents;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kRuns * kCallsPerRun));
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(unique.size(), claimed.size()) << "an item was claimed twice";
  // The first result for each evicted parent made it ready, exactly once.
  EXPECT_EQ(ready_parents.load(), kRuns);
  int resumable = 0;
  while (true) {
    auto parent = Claim(v1::WORK_KIND_RESUME_PARENT, "e");
    ASSERT_TRUE(parent.ok()) << parent.status();
    if (!parent->has_stack_run()) break;
    ++resumable;
  }
  EXPECT_EQ(resumable, kRuns);
}

TEST_P(StoreTest, ManyThreadsClaimRootsExactlyOnce) {
  Publish("t");
  constexpr int kRuns = 120;
  for (int i = 0; i < kRuns; ++i) Submit("t");
  absl::Mutex mu;
  std::vector<std::string> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      while (true) {
        auto c = Claim(v1::WORK_KIND_EXECUTE_ROOT, absl::StrCat("e", t));
        ASSERT_TRUE(c.ok()) << c.status();
        if (!c->has_stack_run()) break;
        absl::MutexLock lock(&mu);
        claimed.push_back(c->stack_run().id());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kRuns));
  EXPECT_EQ(unique.size(), claimed.size());
}

TEST_P(StoreTest, ReopeningAnUpToDateDatabaseChangesNothing) {
  if (GetParam() == "sqlite-grpc") GTEST_SKIP() << "backend-level test";
  Publish("t");
  // The schema version and the migrations recorded, read from the database.
  auto migrations = [this](int* version, int64_t* applied) {
    auto db = OpenDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    auto v = SchemaVersion(**db);
    ASSERT_TRUE(v.ok()) << v.status();
    *version = *v;
    absl::Status read = (*db)->Transact(false, [&](sql::Tx& tx) -> absl::Status {
      auto rows = tx.Query("SELECT COUNT(*) FROM schema_migrations");
      if (!rows.ok()) return rows.status();
      *applied = rows->empty() ? -1 : (*rows)[0].Int(0);
      return absl::OkStatus();
    });
    ASSERT_TRUE(read.ok()) << read;
  };
  int version_before = 0, version_after = 0;
  int64_t applied_before = 0, applied_after = 0;
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(migrations(&version_before, &applied_before));
  EXPECT_GT(version_before, 0);
  EXPECT_GE(applied_before, 1);
  auto again = Open();
  ASSERT_TRUE(again.ok()) << again.status();
  store_ = std::move(*again);
  ASSERT_NO_FATAL_FAILURE(migrations(&version_after, &applied_after));
  EXPECT_EQ(version_after, version_before);
  EXPECT_EQ(applied_after, applied_before);  // no migration applied twice
  v1::GetFunctionRequest get;
  get.set_identifier("t");
  EXPECT_TRUE(store_->GetTaskFunction(get).ok());
}

TEST_P(StoreTest, NewerSchemaIsRefused) {
  if (GetParam() == "sqlite-grpc") GTEST_SKIP() << "backend-level test";
  store_.reset();
  auto opened = OpenDatabase();
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<sql::Database> db = std::move(*opened);
  ASSERT_TRUE(db->Transact(true, [](sql::Tx& tx) {
                  return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)")
                      .status();
                }).ok());
  auto refused = Open();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("newer"), std::string::npos) << refused.status();
  auto version = SchemaVersion(*db);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, 99);
}

TEST_P(StoreTest, UpgradesAVersion1DatabaseInPlace) {
  if (GetParam() == "sqlite-grpc") GTEST_SKIP() << "backend-level test";
  store_.reset();
  auto url = NewDatabaseUrl();
  ASSERT_TRUE(url.ok()) << url.status();
  url_ = *url;
  {
    // A database as a version-1 binary left it: a run suspended the old way.
    auto db = OpenDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    const auto& all = GetParam() == "postgres" ? PostgresMigrations() : SqliteMigrations();
    ASSERT_GE(all.size(), 2u);
    ASSERT_EQ(all[0].version, 1);
    ASSERT_TRUE(ApplyMigrations(**db, {all[0]}).ok());
    ASSERT_EQ(*SchemaVersion(**db), 1);
    absl::Status written = (*db)->Transact(true, [](sql::Tx& tx) -> absl::Status {
      for (const char* statement : {
               "INSERT INTO task_functions (identifier, version, code, metadata, code_sha256, created_at) "
               "VALUES ('t', 1, 'return 1', '{}', 'x', 1)",
               "INSERT INTO task_runs (id, task_identifier, task_version, status, input, root_stack_run_id, "
               "suspend_count, created_at, updated_at) VALUES ('run_old', 't', 1, 3, '{}', 'sr_old', 1, 1, 1)",
               "INSERT INTO stack_runs (id, task_run_id, parent_id, kind, status, next_attempt_at, waiting, "
               "suspension, created_at, updated_at) VALUES ('sr_old', 'run_old', NULL, 1, 3, 1, 1, 1, 1, 1)",
               "INSERT INTO stack_runs (id, task_run_id, parent_id, kind, status, service, method, args, "
               "call_index, call_id, next_attempt_at, suspension, created_at, updated_at) VALUES ('sr_call', "
               "'run_old', 'sr_old', 2, 1, 'admin-debug', 'echo', 'null', 0, 'c0', 1, 1, 1, 1)"}) {
        auto done = tx.Exec(statement);
        if (!done.ok()) return done.status();
      }
      return tx.Exec("INSERT INTO continuations (stack_run_id, data, format_version, v8_version, checksum, "
                     "raw_size, created_at) VALUES ('sr_old', ?, 1, '10.2', 0, 3, 1)",
                     {sql::Bytes{std::string("a\0b", 3)}})
          .status();
    });
    ASSERT_TRUE(written.ok()) << written;
  }
  auto opened = Open();
  ASSERT_TRUE(opened.ok()) << opened.status();
  store_ = std::move(*opened);
  auto db = OpenDatabase();
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(*SchemaVersion(**db), kLatestSchemaVersion);
  auto journal = Journal("sr_old");
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(journal->root().status(), v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD);
  EXPECT_EQ(journal->root().suspension(), 1);
  EXPECT_TRUE(journal->root().reply_to().empty());
  ASSERT_TRUE(journal->has_checkpoint());
  EXPECT_EQ(journal->checkpoint().data(), std::string("a\0b", 3));
  EXPECT_EQ(journal->checkpoint().step(), 0);
  EXPECT_EQ(journal->steps_size(), 0);
  ASSERT_EQ(journal->calls_size(), 1);
  EXPECT_EQ(journal->calls(0).call_id(), "c0");
  EXPECT_EQ(journal->calls(0).step(), 0);
  // Rows from before numbers exist are numbered; new ones follow them.
  EXPECT_EQ(GetRun("1").id(), "run_old");
  EXPECT_GE(journal->calls(0).number(), 1);
  Publish("t", "return 2");
  EXPECT_EQ(GetRun(Submit("t", "{}").run().id()).number(), 2);
  // The old call completes the new way: its evicted parent becomes ready.
  auto call = Claim(v1::WORK_KIND_PERFORM_CALL, "proc");
  ASSERT_TRUE(call.ok() && call->has_stack_run());
  auto done = CompleteCall(*call, "1");
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(done->parent_ready());
}

TEST(OpenStoreTest, RejectsBadUrls) {
  EXPECT_EQ(OpenStore("mysql://x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("sqlite://relative.db").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("sqlite:///nonexistent-dir/x/y.db").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sql::PostgresPlaceholders("a = ? AND b = '?' AND c = ?"), "a = $1 AND b = '?' AND c = $2");
}

TEST(OpenStoreTest, SqliteIsSynchronousFullUnlessTheUrlSaysNormal) {
  const std::string dir = tasker::testing::MakeTempDir("sync");
  auto parsed = ParseSqliteUrl("sqlite://" + dir + "/a.db");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->path, dir + "/a.db");
  EXPECT_TRUE(parsed->synchronous_full);
  parsed = ParseSqliteUrl("sqlite://" + dir + "/a.db?synchronous=normal");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->path, dir + "/a.db");
  EXPECT_FALSE(parsed->synchronous_full);
  parsed = ParseSqliteUrl("sqlite://" + dir + "/a.db?synchronous=FULL");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->synchronous_full);
  for (const std::string bad : {"?synchronous=off", "?synchronous", "?journal=wal", "?synchronous=normal&x=1"}) {
    auto refused = OpenStore("sqlite://" + dir + "/b.db" + bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(refused.status().message().find("database url"), std::string::npos) << refused.status();
  }
  EXPECT_TRUE(OpenStore("sqlite://" + dir + "/c.db?synchronous=normal").ok());
  EXPECT_TRUE(OpenStore("sqlite://" + dir + "/d.db?synchronous=full").ok());
  // What each setting means to SQLite: PRAGMA synchronous 2 is FULL, 1 NORMAL.
  for (bool full : {true, false}) {
    sql::SqliteOptions options;
    options.path = dir + "/e.db";
    if (!full) options.synchronous_full = false;
    auto db = sql::OpenSqlite(options);
    ASSERT_TRUE(db.ok()) << db.status();
    int64_t level = -1;
    ASSERT_TRUE((*db)->Transact(false, [&](sql::Tx& tx) -> absl::Status {
                      auto rows = tx.Query("PRAGMA synchronous");
                      if (!rows.ok()) return rows.status();
                      level = (*rows)[0].Int(0);
                      return absl::OkStatus();
                    }).ok());
    EXPECT_EQ(level, full ? 2 : 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgres", "sqlite-grpc"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace tasker::storage
