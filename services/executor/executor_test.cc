// The executor in-process, over a FaultInjectingStore over a real SQLite
// store, running steps in real tasker-js-worker processes: what happens to a
// run when a storage call fails, is slow, or commits but loses its answer.
//
// The store's clock is the real one plus a skew the test can jump forward,
// so a lease expires exactly when the test says so (never while a step is
// still running), and sweeps every 50 ms then find the expired work.
#include "services/executor/executor.h"

#include <atomic>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/common/json.h"
#include "runtime/js/worker_pool.h"
#include "services/common/notifier.h"
#include "storage/open_store.h"
#include "storage/testing/fault_injecting_store.h"
#include "tests/support/process.h"

namespace tasker::services {
namespace {

namespace v1 = ::tasker::v1;
using storage::testing::FaultInjectingStore;
using Fault = FaultInjectingStore::Fault;

constexpr absl::Duration kLease = absl::Seconds(30);
constexpr absl::Duration kSweep = absl::Milliseconds(50);
constexpr absl::Duration kDeadline = absl::Seconds(20);

// Polls `condition` every 20 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout = kDeadline) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StoreOptions options;
    options.clock = [this] { return absl::Now() + absl::Microseconds(skew_micros_.load()); };
    auto store =
        storage::OpenStore(absl::StrCat("sqlite://", tasker::testing::MakeTempDir("x"), "/t.db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    faulty_ = std::make_unique<FaultInjectingStore>(store_.get());
    auto pool = js::WorkerPool::Create(
        {.worker_path = tasker::testing::Runfile("runtime/js/tasker-js-worker"), .workers = 2});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    ExecutorConfig config;
    config.owner = "executor-test";
    config.threads = 2;
    config.lease = kLease;
    config.sweep_interval = kSweep;
    executor_ = std::make_unique<Executor>(ExecutorStores::Of(faulty_.get()), pool_.get(), &notifier_, config);
  }

  void TearDown() override {
    if (executor_) executor_->Stop();
  }

  // Publishes `code` as task "t" and submits a run of it, on the inner store.
  v1::SubmitRunResponse Submit(const std::string& code, const std::string& input_json = "{}") {
    v1::PublishTaskFunctionRequest publish;
    publish.set_identifier("t");
    publish.set_code(code);
    auto published = store_->PublishTaskFunction(publish);
    EXPECT_TRUE(published.ok()) << published.status();
    v1::SubmitRunRequest submit;
    submit.set_task_identifier("t");
    auto input = ParseJsonValue(input_json, "input");
    EXPECT_TRUE(input.ok()) << input.status();
    *submit.mutable_input() = *input;
    auto submitted = store_->SubmitRun(submit);
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    return submitted.ok() ? *submitted : v1::SubmitRunResponse();
  }

  v1::TaskRun Run(const std::string& id) {
    v1::GetTaskRunRequest request;
    request.set_id(id);
    auto run = store_->GetTaskRun(request);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::TaskRun();
  }

  bool WaitForStatus(const std::string& run_id, v1::RunStatus status) {
    return WaitFor([&] { return Run(run_id).status() == status; });
  }

  std::vector<v1::StackRun> Calls(const std::string& run_id) {
    v1::ListStackRunsRequest request;
    request.mutable_filter()->set_task_run_id(run_id);
    request.mutable_filter()->set_kind(v1::STACK_RUN_KIND_CALL);
    auto listed = store_->ListStackRuns(request);
    EXPECT_TRUE(listed.ok()) << listed.status();
    if (!listed.ok()) return {};
    return {listed->stack_runs().begin(), listed->stack_runs().end()};
  }

  // Every lease taken so far is expired from now on (for the store).
  void ExpireLeases() { skew_micros_ += absl::ToInt64Microseconds(kLease + absl::Seconds(1)); }

  // Waits until the executor's sweeps have asked for work `n` more times:
  // whatever was claimable in the meantime has been claimed.
  bool WaitForClaims(int n) {
    const int base = faulty_->Calls("ClaimWork");
    return WaitFor([&] { return faulty_->Calls("ClaimWork") >= base + n; });
  }

  std::atomic<int64_t> skew_micros_{0};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<FaultInjectingStore> faulty_;
  std::unique_ptr<js::WorkerPool> pool_;
  Notifier notifier_{{}, {}, ""};
  std::unique_ptr<Executor> executor_;
};

constexpr char kAwaitsOneCall[] =
    "const r = await __callHostTool__('admin-debug', 'echo', {a: 1});\n"
    "return r.value * 2;";

TEST_F(ExecutorTest, HappyPathCompletesARun) {
  auto submitted = Submit("return input.x + 1;", R"({"x": 41})");
  executor_->Start();
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED));
  EXPECT_EQ(Run(submitted.run().id()).result().number_value(), 42);
  EXPECT_EQ(executor_->counters().started.load(), 1);
  EXPECT_EQ(executor_->counters().completed.load(), 1);
}

// (a) CompleteRun commits but its answer is lost: the run is COMPLETED once,
// and nothing runs it again.
TEST_F(ExecutorTest, CompleteRunAnswerDroppedCompletesExactlyOnce) {
  faulty_->Inject({.method = "CompleteRun", .call = 1, .fault = Fault::kDropAnswer});
  auto submitted = Submit("return input.x + 1;", R"({"x": 41})");
  const std::string run_id = submitted.run().id();
  executor_->Start();
  ASSERT_TRUE(WaitForStatus(run_id, v1::RUN_STATUS_COMPLETED));
  ASSERT_TRUE(WaitFor([&] { return faulty_->Injected("CompleteRun") == 1; }));
  const v1::TaskRun done = Run(run_id);
  EXPECT_EQ(done.result().number_value(), 42);

  // Even once the lease would have expired, sweeps find nothing to redo.
  ExpireLeases();
  ASSERT_TRUE(WaitForClaims(5));
  const v1::TaskRun later = Run(run_id);
  EXPECT_EQ(later.status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(later.result().number_value(), 42);
  EXPECT_EQ(later.completed_at().seconds(), done.completed_at().seconds());
  EXPECT_EQ(later.completed_at().nanos(), done.completed_at().nanos());
  EXPECT_EQ(executor_->counters().started.load(), 1);
  EXPECT_LE(executor_->counters().completed.load(), 1);  // never counted twice
  EXPECT_EQ(faulty_->Calls("CompleteRun"), 1);
  auto root = store_->GetStackRun(submitted.root().id());
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->status(), v1::STACK_RUN_STATUS_COMPLETED);
  EXPECT_EQ(root->attempt(), 1);
}

// (b) CompleteRun fails (nothing committed): the lease expires, a sweep runs
// the step again, and the run completes with the right result.
TEST_F(ExecutorTest, CompleteRunFailureIsRedoneAfterTheLeaseExpires) {
  faulty_->Inject({.method = "CompleteRun",
                   .call = 1,
                   .fault = Fault::kFail,
                   .status = absl::UnavailableError("database unreachable")});
  auto submitted = Submit("return input.x + 1;", R"({"x": 41})");
  const std::string run_id = submitted.run().id();
  executor_->Start();
  ASSERT_TRUE(WaitFor([&] { return faulty_->Injected("CompleteRun") == 1; }));
  // Nothing recorded: the run is still RUNNING under the first lease.
  EXPECT_EQ(Run(run_id).status(), v1::RUN_STATUS_RUNNING);
  // Not taken again while the lease holds.
  ASSERT_TRUE(WaitForClaims(5));
  EXPECT_EQ(executor_->counters().started.load(), 1);
  EXPECT_EQ(Run(run_id).status(), v1::RUN_STATUS_RUNNING);

  ExpireLeases();
  ASSERT_TRUE(WaitForStatus(run_id, v1::RUN_STATUS_COMPLETED));
  EXPECT_EQ(Run(run_id).result().number_value(), 42);
  EXPECT_EQ(executor_->counters().started.load(), 2);
  EXPECT_EQ(executor_->counters().completed.load(), 1);
  EXPECT_EQ(faulty_->Calls("CompleteRun"), 2);
  auto root = store_->GetStackRun(submitted.root().id());
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->attempt(), 2);
}

// (c) SuspendRoot fails: the root is executed again after its lease expires
// and suspends once: one child call, not two.
TEST_F(ExecutorTest, SuspendRootFailureCreatesExactlyOneChild) {
  faulty_->Inject({.method = "SuspendRoot", .call = 1, .fault = Fault::kFail});
  auto submitted = Submit(kAwaitsOneCall);
  const std::string run_id = submitted.run().id();
  executor_->Start();
  ASSERT_TRUE(WaitFor([&] { return faulty_->Injected("SuspendRoot") == 1; }));
  EXPECT_EQ(Run(run_id).status(), v1::RUN_STATUS_RUNNING);
  EXPECT_TRUE(Calls(run_id).empty());

  ExpireLeases();
  ASSERT_TRUE(WaitForStatus(run_id, v1::RUN_STATUS_SUSPENDED_WAITING_CHILD));
  // More sweeps change nothing: the suspended root is not claimable.
  ASSERT_TRUE(WaitForClaims(5));
  const auto calls = Calls(run_id);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].service(), "admin-debug");
  EXPECT_EQ(calls[0].method(), "echo");
  EXPECT_EQ(calls[0].args().struct_value().fields().at("a").number_value(), 1);
  EXPECT_EQ(calls[0].status(), v1::STACK_RUN_STATUS_PENDING);
  EXPECT_EQ(executor_->counters().started.load(), 2);
  EXPECT_EQ(executor_->counters().suspended.load(), 1);
  EXPECT_EQ(faulty_->Calls("SuspendRoot"), 2);
  const v1::TaskRun run = Run(run_id);
  EXPECT_EQ(run.suspend_count(), 1);
  auto root = store_->GetStackRun(submitted.root().id());
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->suspension(), 1);
  EXPECT_EQ(root->waiting(), 1);
}

// SuspendRoot commits but its answer is lost: the root is suspended with its
// one child, and is not executed again.
TEST_F(ExecutorTest, SuspendRootAnswerDroppedKeepsOneSuspension) {
  faulty_->Inject({.method = "SuspendRoot", .call = 1, .fault = Fault::kDropAnswer});
  auto submitted = Submit(kAwaitsOneCall);
  const std::string run_id = submitted.run().id();
  executor_->Start();
  ASSERT_TRUE(WaitForStatus(run_id, v1::RUN_STATUS_SUSPENDED_WAITING_CHILD));
  ASSERT_TRUE(WaitFor([&] { return faulty_->Injected("SuspendRoot") == 1; }));
  ExpireLeases();
  ASSERT_TRUE(WaitForClaims(5));
  EXPECT_EQ(Calls(run_id).size(), 1u);
  EXPECT_EQ(Run(run_id).status(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD);
  EXPECT_EQ(Run(run_id).suspend_count(), 1);
  EXPECT_EQ(executor_->counters().started.load(), 1);
  EXPECT_EQ(faulty_->Calls("SuspendRoot"), 1);
}

// A claim commits but its answer is lost: the executor never ran the step;
// the root is claimed again once that lease expires, and runs once.
TEST_F(ExecutorTest, ClaimAnswerDroppedIsClaimedAgainAfterTheLease) {
  auto submitted = Submit("return input.x + 1;", R"({"x": 41})");
  const std::string run_id = submitted.run().id();
  // The first two claims of a sweep: RESUME_PARENT (nothing), EXECUTE_ROOT.
  faulty_->Inject({.method = "ClaimWork", .call = 2, .fault = Fault::kDropAnswer});
  executor_->Start();
  ASSERT_TRUE(WaitFor([&] { return faulty_->Injected("ClaimWork") == 1; }));
  ASSERT_TRUE(WaitForClaims(5));
  EXPECT_EQ(Run(run_id).status(), v1::RUN_STATUS_RUNNING);  // held by a lost lease
  EXPECT_EQ(executor_->counters().started.load(), 0);
  ExpireLeases();
  ASSERT_TRUE(WaitForStatus(run_id, v1::RUN_STATUS_COMPLETED));
  EXPECT_EQ(Run(run_id).result().number_value(), 42);
  EXPECT_EQ(executor_->counters().started.load(), 1);
  EXPECT_EQ(executor_->counters().completed.load(), 1);
  auto root = store_->GetStackRun(submitted.root().id());
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->attempt(), 2);
}

// (d) GetResumeState fails on resume: the resume is retried after the lease
// expires and the run completes with the result derived from the call's.
TEST_F(ExecutorTest, GetResumeStateFailureIsRetriedAndTheRunCompletes) {
  faulty_->Inject({.method = "GetResumeState", .call = 1, .fault = Fault::kFail});
  auto submitted = Submit(kAwaitsOneCall);
  const std::string run_id = submitted.run().id();
  executor_->Start();
  ASSERT_TRUE(WaitForStatus(run_id, v1::RUN_STATUS_SUSPENDED_WAITING_CHILD));
  const auto calls = Calls(run_id);
  ASSERT_EQ(calls.size(), 1u);

  // Play the stack processor on the inner store.
  v1::ClaimWorkRequest claim;
  claim.set_kind(v1::WORK_KIND_PERFORM_CALL);
  claim.set_owner("test-processor");
  claim.set_lease_ms(30000);
  claim.set_stack_run_id(calls[0].id());
  auto claimed = store_->ClaimWork(claim);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_TRUE(claimed->has_stack_run());
  v1::CompleteCallRequest complete;
  complete.set_stack_run_id(calls[0].id());
  complete.set_fencing_token(claimed->lease().fencing_token());
  auto result = ParseJsonValue(R"({"value": 21})", "result");
  ASSERT_TRUE(result.ok());
  *complete.mutable_result() = *result;
  auto completed = store_->CompleteCall(complete);
  ASSERT_TRUE(completed.ok()) << completed.status();
  EXPECT_TRUE(completed->parent_ready());

  // A sweep claims the resume; its GetResumeState fails.
  ASSERT_TRUE(WaitFor([&] { return faulty_->Injected("GetResumeState") == 1; }));
  EXPECT_EQ(Run(run_id).status(), v1::RUN_STATUS_RUNNING);
  ExpireLeases();
  ASSERT_TRUE(WaitForStatus(run_id, v1::RUN_STATUS_COMPLETED));
  EXPECT_EQ(Run(run_id).result().number_value(), 42);
  EXPECT_EQ(executor_->counters().started.load(), 1);
  EXPECT_EQ(executor_->counters().resumed.load(), 2);
  EXPECT_EQ(executor_->counters().completed.load(), 1);
  EXPECT_EQ(faulty_->Calls("GetResumeState"), 2);
  EXPECT_EQ(Calls(run_id).size(), 1u);
}

// (e) Slow claims (every ClaimWork delayed 200 ms) break nothing.
TEST_F(ExecutorTest, SlowClaimsBreakNothing) {
  const absl::Duration delay = absl::Milliseconds(200);
  faulty_->Inject({.method = "ClaimWork", .call = 1, .times = 0, .fault = Fault::kDelay, .delay = delay});
  auto submitted = Submit("return input.x + 1;", R"({"x": 41})");
  const std::string run_id = submitted.run().id();
  const absl::Time start = absl::Now();
  executor_->Start();
  ASSERT_TRUE(WaitForStatus(run_id, v1::RUN_STATUS_COMPLETED));
  EXPECT_GE(absl::Now() - start, delay);
  EXPECT_EQ(Run(run_id).result().number_value(), 42);
  EXPECT_GE(faulty_->Injected("ClaimWork"), 1);
  EXPECT_EQ(executor_->counters().started.load(), 1);
  EXPECT_EQ(executor_->counters().completed.load(), 1);
  // A second run, which suspends, goes through the delayed claims too.
  auto second = Submit(kAwaitsOneCall);
  ASSERT_TRUE(WaitForStatus(second.run().id(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD));
  EXPECT_EQ(Calls(second.run().id()).size(), 1u);
}

}  // namespace
}  // namespace tasker::services
