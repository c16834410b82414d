// ONE conformance suite for the Store, run against every backend: SQLite (a
// file in a temp dir) and a real Postgres server started for this test.
#include <algorithm>
#include <atomic>
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
#include "storage/sqlite/sqlite_database.h"
#include "storage/open_store.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace tasker::storage {
namespace {

using ::google::protobuf::Value;

Value Json(const std::string& text) {
  auto v = ParseJsonValue(text, "test value");
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : Value();
}

// Canonical text for comparing JSON values (object keys are unordered).
std::string ToJsonText(const Value& v) {
  auto reparsed = ParseJsonValue(ProtoToJson(v), "test value");
  return reparsed.ok() ? reparsed->DebugString() : "<invalid>";
}

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
    options.limits.max_input_bytes = 64 * 1024;
    if (GetParam() != "sqlite-grpc") return OpenStore(url_, options);
    // The same suite through the gRPC boundary: SqlStore behind the Storage
    // service on a real loopback port, used through RemoteStore.
    auto backend = OpenStore(url_, options);
    if (!backend.ok()) return backend.status();
    backend_ = std::move(*backend);
    service_ = std::make_unique<StorageService>(backend_.get());
    runner_ = std::make_unique<ServerRunner>(ServerConfig{.component = "storage-test"});
    runner_->AddService(service_.get());
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

  v1::SubmitRunResponse Submit(const std::string& task, const std::string& input = "{}",
                               const std::string& key = "") {
    v1::SubmitRunRequest request;
    request.set_task_identifier(task);
    *request.mutable_input() = Json(input);
    request.set_idempotency_key(key);
    auto r = store_->SubmitRun(request);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::SubmitRunResponse();
  }

  absl::StatusOr<v1::ClaimWorkResponse> Claim(v1::WorkKind kind, const std::string& owner,
                                              int64_t lease_ms = 30000, const std::string& id = "") {
    v1::ClaimWorkRequest request;
    request.set_kind(kind);
    request.set_owner(owner);
    request.set_lease_ms(lease_ms);
    request.set_stack_run_id(id);
    return store_->ClaimWork(request);
  }

  absl::StatusOr<v1::SuspendRootResponse> Suspend(const v1::ClaimWorkResponse& claim, int calls,
                                                  const std::string& data = std::string("snap\0shot", 9)) {
    v1::SuspendRootRequest request;
    request.set_root_stack_run_id(claim.stack_run().id());
    request.set_fencing_token(claim.lease().fencing_token());
    request.mutable_continuation()->set_data(data);
    request.mutable_continuation()->set_format_version(1);
    request.mutable_continuation()->set_v8_version("10.2");
    for (int i = 0; i < calls; ++i) {
      auto* call = request.add_calls();
      call->set_call_id(absl::StrCat("c", i));
      call->set_service("admin-debug");
      call->set_method("echo");
      *call->mutable_args() = Json(absl::StrCat("{\"i\":", i, "}"));
    }
    return store_->SuspendRoot(request);
  }

  absl::StatusOr<v1::CompleteCallResponse> CompleteCall(const v1::ClaimWorkResponse& claim,
                                                        const std::string& result_json) {
    v1::CompleteCallRequest request;
    request.set_stack_run_id(claim.stack_run().id());
    request.set_fencing_token(claim.lease().fencing_token());
    *request.mutable_result() = Json(result_json);
    return store_->CompleteCall(request);
  }

  v1::TaskRun GetRun(const std::string& id) {
    v1::GetTaskRunRequest request;
    request.set_id(id);
    request.set_include_logs(true);
    auto run = store_->GetTaskRun(request);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::TaskRun();
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
  v1::GetTaskFunctionRequest get;
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
  v1::ListTaskFunctionsRequest list;
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
  v1::ListTaskFunctionsRequest request;
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
  v1::ListTaskFunctionsRequest versions;
  versions.set_identifier("b");
  auto all = store_->ListTaskFunctions(versions);
  ASSERT_EQ(all->functions_size(), 2);
  EXPECT_EQ(all->functions(0).version(), 2);
  v1::ListTaskFunctionsRequest bad;
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
  EXPECT_EQ(ToJsonText(fetched.input()), ToJsonText(Json(R"({"customer":"x","n":[1,2]})")));
}

TEST_P(StoreTest, IdempotencyKeyReturnsTheFirstRun) {
  Publish("t");
  Publish("other");
  auto first = Submit("t", "{}", "key-1");
  auto second = Submit("t", R"({"different":true})", "key-1");
  EXPECT_TRUE(first.created());
  EXPECT_FALSE(second.created());
  EXPECT_EQ(first.run().id(), second.run().id());
  v1::SubmitRunRequest other;
  other.set_task_identifier("other");
  other.set_idempotency_key("key-1");
  EXPECT_EQ(store_->SubmitRun(other).status().code(), absl::StatusCode::kAlreadyExists);
  v1::ListTaskRunsRequest list;
  EXPECT_EQ(store_->ListTaskRuns(list)->runs_size(), 1);
}

TEST_P(StoreTest, SubmitRejectsUnknownTaskAndOversizedInputStoringNothing) {
  Publish("t");
  v1::SubmitRunRequest request;
  request.set_task_identifier("missing");
  EXPECT_EQ(store_->SubmitRun(request).status().code(), absl::StatusCode::kNotFound);
  request.set_task_identifier("t");
  request.set_task_version(9);
  EXPECT_EQ(store_->SubmitRun(request).status().code(), absl::StatusCode::kNotFound);
  request.set_task_version(0);
  *request.mutable_input() = Json(absl::StrCat("\"", std::string(70000, 'x'), "\""));
  auto big = store_->SubmitRun(request);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("input"), std::string::npos);
  request.clear_task_identifier();
  EXPECT_EQ(store_->SubmitRun(request).status().code(), absl::StatusCode::kInvalidArgument);
  v1::ListTaskRunsRequest list;
  EXPECT_EQ(store_->ListTaskRuns(list)->runs_size(), 0);
}

TEST_P(StoreTest, FullLifecycleSuspendCallsResumeComplete) {
  Publish("t");
  auto submitted = Submit("t");
  auto claim = Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec-1");
  ASSERT_TRUE(claim.ok()) << claim.status();
  ASSERT_TRUE(claim->has_stack_run());
  EXPECT_EQ(claim->stack_run().id(), submitted.root().id());
  EXPECT_EQ(claim->task_run().status(), v1::RUN_STATUS_RUNNING);
  EXPECT_GT(claim->lease().fencing_token(), 0);
  // Nothing else to execute.
  EXPECT_FALSE(Claim(v1::WORK_KIND_EXECUTE_ROOT, "exec-2")->has_stack_run());

  auto suspended = Suspend(*claim, 3);
  ASSERT_TRUE(suspended.ok()) << suspended.status();
  ASSERT_EQ(suspended->children_size(), 3);
  EXPECT_EQ(GetRun(submitted.run().id()).status(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD);
  EXPECT_EQ(GetRun(submitted.run().id()).suspend_count(), 1);
  auto root = store_->GetStackRun(submitted.root().id());
  EXPECT_EQ(root->status(), v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD);
  EXPECT_EQ(root->waiting(), 3);
  // Not resumable while calls are outstanding.
  EXPECT_FALSE(Claim(v1::WORK_KIND_RESUME_PARENT, "exec-1")->has_stack_run());

  std::vector<v1::ClaimWorkResponse> calls;
  for (int i = 0; i < 3; ++i) {
    auto c = Claim(v1::WORK_KIND_PERFORM_CALL, "proc-1");
    ASSERT_TRUE(c.ok() && c->has_stack_run());
    EXPECT_EQ(c->stack_run().service(), "admin-debug");
    calls.push_back(*c);
  }
  EXPECT_FALSE(Claim(v1::WORK_KIND_PERFORM_CALL, "proc-1")->has_stack_run());
  // Complete out of order; only the last makes the parent ready.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(calls[i].stack_run().call_index(), i);
  auto r2 = CompleteCall(calls[2], R"({"v":2})");
  auto r0 = CompleteCall(calls[0], R"({"v":0})");
  ASSERT_TRUE(r2.ok() && r0.ok());
  EXPECT_FALSE(r2->parent_ready());
  EXPECT_FALSE(r0->parent_ready());
  v1::CompleteCallRequest failed;
  failed.set_stack_run_id(calls[1].stack_run().id());
  failed.set_fencing_token(calls[1].lease().fencing_token());
  failed.mutable_error()->set_message("HTTP 404 from provider");
  failed.mutable_error()->set_code("HTTP_404");
  auto r1 = store_->CompleteCall(failed);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_TRUE(r1->parent_ready());
  EXPECT_EQ(r1->parent_id(), submitted.root().id());

  auto state = store_->GetResumeState(submitted.root().id());
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->continuation().data(), std::string("snap\0shot", 9));
  ASSERT_EQ(state->children_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(state->children(i).call_index(), i);
  EXPECT_EQ(state->children(0).call_id(), "c0");
  EXPECT_EQ(ToJsonText(state->children(0).result()), ToJsonText(Json(R"({"v":0})")));
  EXPECT_EQ(state->children(1).status(), v1::STACK_RUN_STATUS_FAILED);
  EXPECT_EQ(state->children(1).error().code(), "HTTP_404");
  EXPECT_EQ(state->children(2).status(), v1::STACK_RUN_STATUS_COMPLETED);

  auto resume = Claim(v1::WORK_KIND_RESUME_PARENT, "exec-2");
  ASSERT_TRUE(resume.ok() && resume->has_stack_run());
  EXPECT_GT(resume->lease().fencing_token(), claim->lease().fencing_token());
  // Suspend a second time, on one call.
  auto second = Suspend(*resume, 1, "second");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->children(0).suspension(), 2);
  auto call = Claim(v1::WORK_KIND_PERFORM_CALL, "proc-1");
  ASSERT_TRUE(CompleteCall(*call, "[1,2,3]")->parent_ready());
  auto state2 = store_->GetResumeState(submitted.root().id());
  ASSERT_EQ(state2->children_size(), 1);  // only the current suspension's
  EXPECT_EQ(state2->continuation().data(), "second");
  auto resume2 = Claim(v1::WORK_KIND_RESUME_PARENT, "exec-1");
  ASSERT_TRUE(resume2->has_stack_run());

  v1::CompleteRunRequest done;
  done.set_root_stack_run_id(submitted.root().id());
  done.set_fencing_token(resume2->lease().fencing_token());
  *done.mutable_result() = Json(R"({"ok":true,"count":3})");
  auto finished = store_->CompleteRun(done);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_TRUE(finished->has_completed_at());
  EXPECT_EQ(ToJsonText(finished->result()), ToJsonText(Json(R"({"ok":true,"count":3})")));
  EXPECT_EQ(finished->suspend_count(), 2);
  // Never completes twice.
  EXPECT_EQ(store_->CompleteRun(done).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CountStackRuns(submitted.run().id()), 5);
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
  auto suspended = Suspend(*a, 1);
  ASSERT_TRUE(suspended.ok()) << suspended.status();
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
  EXPECT_EQ(ok->call().result().string_value(), "fresh");
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
  auto suspended = Suspend(*root, 1);
  ASSERT_TRUE(suspended.ok()) << suspended.status();
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
  auto suspended = Suspend(*root, 2);
  ASSERT_TRUE(suspended.ok()) << suspended.status();
  auto held = Claim(v1::WORK_KIND_PERFORM_CALL, "p");
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_TRUE(held->has_stack_run());
  v1::CancelRunRequest cancel;
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

TEST_P(StoreTest, BadClaimAndSuspendInputsAreRejected) {
  Publish("t");
  Submit("t");
  EXPECT_EQ(Claim(v1::WORK_KIND_UNSPECIFIED, "x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Claim(v1::WORK_KIND_EXECUTE_ROOT, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Claim(v1::WORK_KIND_EXECUTE_ROOT, "x", 5).status().code(), absl::StatusCode::kInvalidArgument);
  auto root = Claim(v1::WORK_KIND_EXECUTE_ROOT, "e");
  auto none = Suspend(*root, 0);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("calls"), std::string::npos);
  auto empty_data = Suspend(*root, 1, "");
  EXPECT_EQ(empty_data.status().code(), absl::StatusCode::kInvalidArgument);
  // Nothing half-written: still RUNNING, no children.
  auto state = store_->GetStackRun(root->stack_run().id());
  EXPECT_EQ(state->status(), v1::STACK_RUN_STATUS_RUNNING);
  EXPECT_EQ(CountStackRuns(root->stack_run().task_run_id()), 1);
  v1::ClaimWorkResponse stale = *root;
  stale.mutable_lease()->set_fencing_token(root->lease().fencing_token() + 7);
  EXPECT_EQ(Suspend(stale, 1).status().code(), absl::StatusCode::kAborted);
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
  v1::AppendRunLogsRequest request;
  request.set_task_run_id(run.id());
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
    ASSERT_TRUE(Suspend(*root, kCallsPerRun).ok());
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
  // The countdown made each parent ready exactly once.
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
  v1::GetTaskFunctionRequest get;
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

TEST(OpenStoreTest, RejectsBadUrls) {
  EXPECT_EQ(OpenStore("mysql://x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("sqlite://relative.db").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("sqlite:///nonexistent-dir/x/y.db").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sql::PostgresPlaceholders("a = ? AND b = '?' AND c = ?"), "a = $1 AND b = '?' AND c = $2");
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgres", "sqlite-grpc"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace tasker::storage
