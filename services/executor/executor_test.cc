// The executor in-process, over a FaultInjectingStore over a real SQLite
// store, with live runs in real tasker-js-worker processes and a fake
// processor (it completes calls in storage and pushes the results back as
// the real one does): warm runs, their journal, eviction to a checkpoint,
// rebuilds after a dead worker or executor, and replay's checks.
#include "services/executor/executor.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/common/json.h"
#include "runtime/js/continuation.h"
#include "runtime/js/engine.h"
#include "runtime/js/worker_host.h"
#include "services/common/notifier.h"
#include "services/executor/fake_processor.h"
#include "services/executor/task_api.h"
#include "storage/open_store.h"
#include "storage/testing/fault_injecting_store.h"
#include "tests/support/process.h"

namespace tasker::services {
namespace {

namespace v1 = ::tasker::v1;
using storage::testing::FaultInjectingStore;
using Fault = FaultInjectingStore::Fault;

constexpr absl::Duration kDeadline = absl::Seconds(60);

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout = kDeadline) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return condition();
}

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tasker::testing::MakeTempDir("x");
    storage::StoreOptions options;
    options.clock = [this] { return absl::Now() + absl::Microseconds(skew_micros_.load()); };
    auto store = storage::OpenStore(absl::StrCat("sqlite://", dir_, "/t.db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    faulty_ = std::make_unique<FaultInjectingStore>(store_.get());
    processor_ = std::make_unique<FakeProcessor>(store_.get());
    processor_->route = [this](const std::string& reply_to) -> Executor* {
      std::lock_guard<std::mutex> lock(executors_mu_);
      if (reply_to.empty()) return executors_.count("A") ? executors_["A"] : executors_["B"];
      auto it = executors_.find(reply_to);
      return it == executors_.end() ? nullptr : it->second;
    };
  }

  void TearDown() override {
    for (auto& e : owned_) e->Stop();
    processor_.reset();
    owned_.clear();
    hosts_.clear();
  }

  ExecutorConfig Config(const std::string& name) {
    ExecutorConfig config;
    config.owner = absl::StrCat("executor-", name);
    config.reply_to = name;
    config.threads = 2;
    config.lease = absl::Seconds(30);
    config.renew_interval = absl::Seconds(5);
    config.sweep_interval = absl::Milliseconds(50);
    config.checkpoint_every_steps = 0;
    config.checkpoint_interval = absl::ZeroDuration();
    config.drain_timeout = absl::Seconds(5);
    return config;
  }

  // Starts an executor named `name` (its reply_to) with its own workers.
  Executor* StartExecutor(const std::string& name, ExecutorConfig config, int live_workers = 1,
                          std::vector<std::string> worker_args = {}) {
    auto executor_slot = std::make_shared<std::atomic<Executor*>>(nullptr);
    auto host = js::WorkerHost::Create(
        {.worker_path = tasker::testing::Runfile("runtime/js/tasker-js-worker"),
         .workers = live_workers + 1,
         .extra_args = std::move(worker_args)},
        [executor_slot](int worker, const std::string&) {
          if (Executor* e = executor_slot->load()) e->WorkerLost(worker);
        });
    EXPECT_TRUE(host.ok()) << host.status();
    auto executor = std::make_unique<Executor>(ExecutorStores::Of(faulty_.get()), host->get(), processor_.get(), config);
    executor_slot->store(executor.get());
    executor->Start();
    Executor* raw = executor.get();
    hosts_.push_back(std::move(*host));
    owned_.push_back(std::move(executor));
    std::lock_guard<std::mutex> lock(executors_mu_);
    executors_[name] = raw;
    return raw;
  }
  js::WorkerHost* HostOf(int i) { return hosts_[i].get(); }

  // Makes `name` unreachable for pushes (a dead executor).
  void Unroute(const std::string& name) {
    std::lock_guard<std::mutex> lock(executors_mu_);
    executors_.erase(name);
  }

  v1::SubmitTaskRunResponse Submit(const std::string& code, const std::string& input_json = "{}") {
    v1::PublishTaskFunctionRequest publish;
    publish.set_identifier("t");
    publish.set_code(code);
    EXPECT_TRUE(store_->PublishTaskFunction(publish).ok());
    v1::SubmitTaskRunRequest submit;
    submit.set_task_identifier("t");
    submit.set_input_json(input_json);
    auto submitted = store_->SubmitRun(submit);
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    return submitted.ok() ? *submitted : v1::SubmitTaskRunResponse();
  }

  v1::TaskRunRecord Run(const std::string& id) {
    v1::GetTaskRunRequest request;
    request.set_id(id);
    auto run = store_->GetTaskRun(request);
    return run.ok() ? *run : v1::TaskRunRecord();
  }

  bool WaitForStatus(const std::string& run_id, v1::RunStatus status, absl::Duration timeout = kDeadline) {
    return WaitFor([&] { return Run(run_id).status() == status; }, timeout);
  }

  v1::Journal Journal(const std::string& root_id) {
    v1::GetJournalRequest request;
    request.set_root_stack_run_id(root_id);
    auto journal = store_->GetJournal(request);
    EXPECT_TRUE(journal.ok()) << journal.status();
    return journal.ok() ? *journal : v1::Journal();
  }

  // Runs SQL on the store's database file, as an operator (or an attacker)
  // with access to it could.
  void Sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(absl::StrCat(dir_, "/t.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  std::string dir_;
  std::atomic<int64_t> skew_micros_{0};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<FaultInjectingStore> faulty_;
  std::unique_ptr<FakeProcessor> processor_;
  std::mutex executors_mu_;
  std::map<std::string, Executor*> executors_;
  std::vector<std::unique_ptr<js::WorkerHost>> hosts_;
  std::vector<std::unique_ptr<Executor>> owned_;
};

// Ten sequential calls; every value the task observed goes into its calls'
// args and its result.
constexpr char kTenCalls[] = R"(
  const seen = [];
  for (let i = 0; i < 10; i++) {
    const r = await __callHostTool__('admin-debug', 'echo', {i, rnd: Math.random(), now: Date.now()});
    seen.push(r.echo);
  }
  return seen;
)";

// The args of the run's calls, by call number, as JSON.
std::vector<nlohmann::json> ArgsOf(const v1::Journal& journal) {
  std::vector<nlohmann::json> out;
  for (const auto& call : journal.calls()) out.push_back(nlohmann::json::parse(call.args_json()));
  return out;
}

// The result must be exactly what the calls were given: the values the
// task saw before any crash are the ones it saw after.
void ExpectResultMatchesJournal(const v1::TaskRunRecord& run, const v1::Journal& journal, size_t calls) {
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.error().message();
  nlohmann::json result = nlohmann::json::parse(run.result_json());
  std::vector<nlohmann::json> args = ArgsOf(journal);
  ASSERT_EQ(args.size(), calls);
  ASSERT_EQ(result.size(), calls);
  for (size_t i = 0; i < calls; ++i) EXPECT_EQ(result[i], args[i]) << "call " << i + 1;
}

TEST_F(ExecutorTest, AWarmRunCommitsOnlyItsCallsOnTheHotPath) {
  Executor* executor = StartExecutor("A", Config("A"));
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED)) << Run(submitted.run().id()).DebugString();
  v1::Journal journal = Journal(submitted.root().id());
  ExpectResultMatchesJournal(Run(submitted.run().id()), journal, 10);
  // One executor commit per call (the processor's CompleteCall is the other),
  // no journal reads, no checkpoints, no separate log writes.
  EXPECT_EQ(faulty_->Calls("RecordCalls"), 10);
  EXPECT_EQ(faulty_->Calls("CompleteRun"), 1);
  EXPECT_EQ(faulty_->Calls("GetJournal"), 0);
  EXPECT_EQ(faulty_->Calls("PutCheckpoint"), 0);
  EXPECT_EQ(faulty_->Calls("AppendRunLogs"), 0);
  // The journal: the start and one step per result, each with its clock;
  // the last step is not journaled (the run's result is its record).
  ASSERT_EQ(journal.steps_size(), 10);
  EXPECT_NE(journal.steps(0).random_seed(), 0u);
  for (int i = 1; i < 10; ++i) EXPECT_EQ(journal.steps(i).trigger_call_id(), absl::StrCat("c", i));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(journal.calls(i).call_index(), i + 1);
    EXPECT_EQ(journal.calls(i).step(), i);
  }
  for (const auto& [id, n] : processor_->performed()) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(executor->counters().started, 1);
  EXPECT_EQ(executor->counters().rebuilt, 0);
  EXPECT_EQ(executor->warm(), 0);
}

TEST_F(ExecutorTest, ACallNotRecordedBecauseStorageFailedIsRecordedLaterAndPerformedOnce) {
  faulty_->Inject({.method = "RecordCalls", .call = 3, .times = 2, .fault = Fault::kFail,
                   .status = absl::UnavailableError("storage is restarting")});
  Executor* executor = StartExecutor("A", Config("A"));
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED));
  EXPECT_EQ(faulty_->Injected("RecordCalls"), 2);
  ExpectResultMatchesJournal(Run(submitted.run().id()), Journal(submitted.root().id()), 10);
  EXPECT_EQ(processor_->total_performed(), 10);
}

// A step commit applied but its answer lost (the connection dropped
// mid-commit): the executor's retry carries the same step token, storage
// answers it as the first, and the run goes on warm; nothing is re-run.
TEST_F(ExecutorTest, AStepCommitWhoseAnswerWasLostIsNotRunAgain) {
  faulty_->Inject({.method = "RecordCalls", .call = 3, .fault = Fault::kDropAnswer,
                   .status = absl::UnavailableError("connection lost mid-commit")});
  faulty_->Inject({.method = "CompleteRun", .call = 1, .fault = Fault::kDropAnswer,
                   .status = absl::UnavailableError("connection lost mid-commit")});
  Executor* executor = StartExecutor("A", Config("A"));
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED));
  EXPECT_EQ(faulty_->Injected("RecordCalls"), 1);
  EXPECT_EQ(faulty_->Calls("RecordCalls"), 11);  // ten steps and one retry
  v1::Journal journal = Journal(submitted.root().id());
  ExpectResultMatchesJournal(Run(submitted.run().id()), journal, 10);
  EXPECT_EQ(journal.steps_size(), 10);
  EXPECT_EQ(executor->counters().rebuilt, 0);
  for (const auto& [id, n] : processor_->performed()) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(processor_->total_performed(), 10);
}

// A poison pill at the executor: a run whose stored input cannot be loaded
// is claimed a bounded number of times, never blocks the other runs, and
// ends FAILED with ATTEMPTS_EXHAUSTED naming the cause and the count.
TEST_F(ExecutorTest, ARunThatCannotBeLoadedFailsAfterBoundedAttempts) {
  auto poison = Submit("return 1");
  Sql(absl::StrCat("UPDATE task_runs SET error = 'not json {' WHERE id = '", poison.run().id(), "'"));
  auto healthy = Submit("return 2");
  Executor* executor = StartExecutor("A", Config("A"));
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, poison.root().id());
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, healthy.root().id());
  ASSERT_TRUE(WaitForStatus(healthy.run().id(), v1::RUN_STATUS_COMPLETED));
  // Each claim of the poison run leaves it leased to nobody: time runs on
  // past each lease until the store gives up on it.
  v1::StackRunRecord root;
  ASSERT_TRUE(WaitFor(
      [&] {
        skew_micros_ += absl::ToInt64Microseconds(absl::Seconds(31));
        auto r = store_->GetStackRun(poison.root().id());
        if (r.ok()) root = *r;
        return r.ok() && r->status() == v1::STACK_RUN_STATUS_FAILED;
      },
      absl::Seconds(60)));
  EXPECT_EQ(root.error().code(), "ATTEMPTS_EXHAUSTED");
  EXPECT_NE(root.error().message().find("10 times"), std::string::npos) << root.error().message();
  EXPECT_NE(root.error().message().find("not valid JSON"), std::string::npos) << root.error().message();
  EXPECT_EQ(root.attempt(), 10);
  // Not handed out again.
  const int claims = faulty_->Calls("ClaimWork");
  skew_micros_ += absl::ToInt64Microseconds(absl::Seconds(31));
  ASSERT_TRUE(WaitFor([&] { return faulty_->Calls("ClaimWork") >= claims + 10; }));
  EXPECT_EQ(store_->GetStackRun(poison.root().id())->attempt(), 10);
  EXPECT_EQ(executor->counters().started, 1);
}

// Storage died right after committing the calls (their answer lost): the
// retry is answered by its step token as the first was, and the executor
// goes on with the recorded calls instead of leaving the run to its lease.
TEST_F(ExecutorTest, CallsWhoseCommitsAnswerWasLostGoOnWithoutWaitingForTheLease) {
  faulty_->Inject({.method = "RecordCalls", .call = 3, .fault = Fault::kDropAnswer,
                   .status = absl::UnavailableError("storage died after the commit")});
  Executor* executor = StartExecutor("A", Config("A"));  // a 30 s lease
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED, absl::Seconds(10)));
  EXPECT_EQ(faulty_->Injected("RecordCalls"), 1);
  ExpectResultMatchesJournal(Run(submitted.run().id()), Journal(submitted.root().id()), 10);
  EXPECT_EQ(processor_->total_performed(), 10);
  EXPECT_EQ(executor->counters().rebuilt, 0);  // never dropped and taken over
}

// The run's end not recorded because storage was unreachable: tried again,
// not left to the lease.
TEST_F(ExecutorTest, ARunsEndIsTriedAgainWhileStorageIsUnreachable) {
  faulty_->Inject({.method = "CompleteRun", .call = 1, .times = 2, .fault = Fault::kFail,
                   .status = absl::UnavailableError("storage is restarting")});
  Executor* executor = StartExecutor("A", Config("A"));  // a 30 s lease
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED, absl::Seconds(10)));
  EXPECT_EQ(faulty_->Calls("CompleteRun"), 3);
  EXPECT_EQ(executor->counters().rebuilt, 0);
}

// A result pushed while the run's step waits on a slow commit does not wait
// for it (the push is a gRPC handler's thread): it is taken later, in order.
TEST_F(ExecutorTest, APushDoesNotWaitForTheRunsStepAndItsCommit) {
  // The second call's commit (made while the first result is delivered)
  // takes 2 s.
  faulty_->Inject({.method = "RecordCalls", .call = 2, .fault = Fault::kDelay, .delay = absl::Seconds(2)});
  Executor* executor = StartExecutor("A", Config("A"));
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitFor([&] { return faulty_->Calls("RecordCalls") >= 2; }, kDeadline));
  // The first call's result again (a duplicate push), while the step holds
  // the run.
  v1::Journal journal = Journal(submitted.root().id());
  ASSERT_GE(journal.calls_size(), 1);
  const absl::Time start = absl::Now();
  executor->Deliver({journal.calls(0)});
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED));
  ExpectResultMatchesJournal(Run(submitted.run().id()), Journal(submitted.root().id()), 10);
  EXPECT_EQ(processor_->total_performed(), 10);
}

TEST_F(ExecutorTest, EvictedUnderATinyBudgetAndRestoredFromItsCheckpoint) {
  ExecutorConfig config = Config("A");
  config.warm_memory_bytes = 1;  // every waiting run is evicted
  Executor* executor = StartExecutor("A", config);
  processor_->Hold(true);
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  // Waiting on call 1, evicted: its checkpoint and journal are in storage.
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD));
  ASSERT_TRUE(WaitFor([&] { return executor->warm() == 0; }));
  v1::Journal journal = Journal(submitted.root().id());
  EXPECT_EQ(journal.root().status(), v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD);
  ASSERT_TRUE(journal.has_checkpoint());
  EXPECT_EQ(journal.checkpoint().step(), 1);
  EXPECT_GT(journal.checkpoint().data().size(), 1000u);
  EXPECT_EQ(executor->counters().evicted, 1);
  // Results now wake it: each is restored from its checkpoint, runs one
  // step, and is evicted again while the next call is performed.
  processor_->delay_ms = 250;
  processor_->Hold(false);
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED));
  ExpectResultMatchesJournal(Run(submitted.run().id()), Journal(submitted.root().id()), 10);
  EXPECT_GE(executor->counters().rebuilt, 5);
  EXPECT_GE(executor->counters().evicted, 5);
  auto [p50, p99] = executor->RebuildPercentiles();
  EXPECT_GT(p50, 0);
  EXPECT_EQ(processor_->total_performed(), 10);
}

TEST_F(ExecutorTest, AKilledWorkerLosesNothing) {
  Executor* executor = StartExecutor("A", Config("A"));
  processor_->delay_ms = 20;
  std::vector<v1::SubmitTaskRunResponse> runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(Submit(kTenCalls));
    executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, runs.back().root().id());
  }
  ASSERT_TRUE(WaitFor([&] { return processor_->total_performed() >= 12; }));
  const pid_t victim = HostOf(0)->pids()[0];
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  for (const auto& run : runs) {
    ASSERT_TRUE(WaitForStatus(run.run().id(), v1::RUN_STATUS_COMPLETED)) << Run(run.run().id()).DebugString();
    ExpectResultMatchesJournal(Run(run.run().id()), Journal(run.root().id()), 10);
  }
  EXPECT_EQ(HostOf(0)->crashes(), 1);
  EXPECT_GE(executor->counters().rebuilt, 1);
  for (const auto& [id, n] : processor_->performed()) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(processor_->total_performed(), 40);
}

TEST_F(ExecutorTest, ADeadExecutorsRunIsTakenOverAndReplayedFromTheStart) {
  ExecutorConfig a_config = Config("A");
  a_config.drain_timeout = absl::ZeroDuration();  // dies without a drain
  Executor* a = StartExecutor("A", a_config);
  processor_->Hold(true);
  auto submitted = Submit(kTenCalls);
  a->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitFor([&] { return processor_->held() == 1; }));
  // A dies while the run is warm there and waiting on call 1.
  Unroute("A");
  a->Stop();
  EXPECT_EQ(Journal(submitted.root().id()).root().lease_owner(), "executor-A");
  // B finds it once A's lease has expired (the store's clock jumps).
  Executor* b = StartExecutor("B", Config("B"));
  skew_micros_ += absl::ToInt64Microseconds(absl::Seconds(31));
  ASSERT_TRUE(WaitFor([&] { return b->warm() == 1; }));
  EXPECT_EQ(Journal(submitted.root().id()).root().reply_to(), "B");
  processor_->Hold(false);
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED));
  ExpectResultMatchesJournal(Run(submitted.run().id()), Journal(submitted.root().id()), 10);
  EXPECT_EQ(b->counters().rebuilt, 1);
  EXPECT_EQ(processor_->total_performed(), 10);
}

TEST_F(ExecutorTest, ATamperedJournalFailsTheRunAsNondeterminism) {
  ExecutorConfig config = Config("A");
  config.warm_memory_bytes = 1;
  Executor* executor = StartExecutor("A", config);
  processor_->Hold(true);
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD));
  ASSERT_TRUE(WaitFor([&] { return executor->warm() == 0; }));
  // Without its checkpoint the run is replayed from the start, and its
  // first call's args in the journal are not what the task passes.
  Sql(absl::StrCat("DELETE FROM continuations WHERE stack_run_id = '", submitted.root().id(), "'"));
  Sql(absl::StrCat("UPDATE stack_runs SET args = '{\"i\":0,\"rnd\":0.5,\"now\":1}' WHERE parent_id = '",
                   submitted.root().id(), "' AND call_index = 1"));
  processor_->Hold(false);
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_FAILED));
  v1::TaskRunRecord run = Run(submitted.run().id());
  EXPECT_EQ(run.error().code(), "NONDETERMINISM");
  EXPECT_NE(run.error().message().find("nondeterminism detected at call 1"), std::string::npos)
      << run.error().message();
}

TEST_F(ExecutorTest, ACheckpointFromAnotherV8IsRebuiltByReplayFromTheStart) {
  ExecutorConfig config = Config("A");
  config.warm_memory_bytes = 1;
  Executor* executor = StartExecutor("A", config);
  processor_->Hold(true);
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD));
  ASSERT_TRUE(WaitFor([&] { return executor->warm() == 0; }));
  // Rewrite the stored checkpoint as if another V8 build had written it.
  v1::Journal journal = Journal(submitted.root().id());
  auto blob = js::DecodeContinuation(journal.checkpoint().data(), js::ExternalReferencesVersion(), js::V8Version());
  ASSERT_TRUE(blob.ok()) << blob.status();
  const std::string foreign = js::EncodeContinuation(*blob, js::ExternalReferencesVersion(), "9.9.999-other");
  std::string hex;
  for (unsigned char ch : foreign) absl::StrAppend(&hex, absl::Hex(ch, absl::kZeroPad2));
  Sql(absl::StrCat("UPDATE continuations SET data = X'", hex, "', v8_version = '9.9.999-other' WHERE stack_run_id = '",
                   submitted.root().id(), "'"));
  config.warm_memory_bytes = int64_t{1} << 30;
  processor_->Hold(false);
  // Not an error: rebuilt by replay of the journal from the start.
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED)) << Run(submitted.run().id()).DebugString();
  ExpectResultMatchesJournal(Run(submitted.run().id()), Journal(submitted.root().id()), 10);
  EXPECT_EQ(processor_->total_performed(), 10);
}

TEST_F(ExecutorTest, PeriodicCheckpointsAreWrittenByTheCheckpointerWhileTheRunGoesOn) {
  ExecutorConfig config = Config("A");
  config.checkpoint_every_steps = 3;
  Executor* executor = StartExecutor("A", config);
  processor_->delay_ms = 30;
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitForStatus(submitted.run().id(), v1::RUN_STATUS_COMPLETED));
  EXPECT_GE(executor->counters().checkpoints, 2);
  EXPECT_GE(faulty_->Calls("PutCheckpoint"), 2);
  ExpectResultMatchesJournal(Run(submitted.run().id()), Journal(submitted.root().id()), 10);
}

TEST_F(ExecutorTest, ACancelledWarmRunIsDroppedAtTheNextRenewal) {
  ExecutorConfig config = Config("A");
  config.renew_interval = absl::Milliseconds(100);
  Executor* executor = StartExecutor("A", config);
  processor_->Hold(true);
  auto submitted = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  ASSERT_TRUE(WaitFor([&] { return executor->warm() == 1 && processor_->held() == 1; }));
  v1::CancelTaskRunRequest cancel;
  cancel.set_id(submitted.run().id());
  ASSERT_TRUE(store_->CancelRun(cancel).ok());
  ASSERT_TRUE(WaitFor([&] { return executor->warm() == 0; }, absl::Seconds(10)));
  processor_->Hold(false);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(Run(submitted.run().id()).status(), v1::RUN_STATUS_CANCELLED);
}

TEST_F(ExecutorTest, AThousandSuspendedRunsStayWithinTheWarmBudget) {
  constexpr int kRuns = 1000;
  constexpr int64_t kBudget = int64_t{32} << 20;
  ExecutorConfig config = Config("A");
  config.warm_memory_bytes = kBudget;
  config.threads = 4;
  Executor* executor = StartExecutor("A", config);
  ASSERT_TRUE(WaitFor([&] { return HostOf(0)->ResidentBytes() > 0; }));
  absl::SleepFor(absl::Milliseconds(300));
  const int64_t idle = HostOf(0)->ResidentBytes();
  processor_->Hold(true);
  v1::PublishTaskFunctionRequest publish;
  publish.set_identifier("t");
  publish.set_code("const a = await __callHostTool__('admin-debug', 'echo', {k: input.k}); return a.echo.k * 2;");
  ASSERT_TRUE(store_->PublishTaskFunction(publish).ok());
  std::vector<v1::SubmitTaskRunResponse> runs;
  // The warm runs' isolate heap, sampled during the whole burst: admission
  // control keeps it at the budget (plus the runs being started at that
  // moment), however fast runs arrive.
  std::atomic<int64_t> peak_bytes{0};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      peak_bytes = std::max(peak_bytes.load(), executor->warm_bytes());
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  for (int i = 0; i < kRuns; ++i) {
    v1::SubmitTaskRunRequest submit;
    submit.set_task_identifier("t");
    submit.set_input_json(absl::StrCat(R"({"k":)", i, "}"));
    auto submitted = store_->SubmitRun(submit);
    ASSERT_TRUE(submitted.ok());
    runs.push_back(*submitted);
    executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted->root().id());
  }
  const bool all_held = WaitFor([&] { return processor_->held() == kRuns; }, absl::Seconds(240));
  sampling = false;
  sampler.join();
  ASSERT_TRUE(all_held);
  std::printf("peak warm isolate heap during the burst: %.1f MiB\n", peak_bytes / 1048576.0);
  EXPECT_LE(peak_bytes.load(), kBudget + config.threads * (int64_t{4} << 20));
  ASSERT_TRUE(WaitFor([&] { return executor->warm_bytes() <= kBudget; }));
  absl::SleepFor(absl::Milliseconds(300));
  const int64_t rss = HostOf(0)->ResidentBytes();
  const int warm = executor->warm();
  std::printf("1000 suspended runs: %d warm (%.1f MiB of isolate heap), %lld evicted; live worker RSS %.1f MiB "
              "(idle %.1f MiB), budget %.0f MiB\n",
              warm, executor->warm_bytes() / 1048576.0, static_cast<long long>(executor->counters().evicted.load()),
              rss / 1048576.0, idle / 1048576.0, kBudget / 1048576.0);
  // Resident memory stays under the budget plus a fixed overhead (the
  // process itself and the allocator's slack).
  EXPECT_LT(rss, idle + kBudget + (int64_t{96} << 20));
  EXPECT_GE(executor->counters().evicted, kRuns - warm);
  EXPECT_LT(warm, kRuns);
  processor_->Hold(false);
  for (const auto& run : runs) {
    ASSERT_TRUE(WaitForStatus(run.run().id(), v1::RUN_STATUS_COMPLETED, absl::Seconds(240)))
        << Run(run.run().id()).DebugString();
  }
  for (int i = 0; i < kRuns; i += 97) EXPECT_EQ(Run(runs[i].run().id()).result_json(), absl::StrCat(2 * i));
  EXPECT_EQ(processor_->total_performed(), kRuns);
}

// A task whose second call's result kills its worker (the worker's test
// fault): the delivery of that result crashes the worker.
constexpr char kCrashOnSecondResult[] = R"(
  const a = await __callHostTool__('admin-debug', 'echo', {i: 1});
  const b = await __callHostTool__('admin-debug', 'echo', {x: 'CRASH' + '_ME'});
  return [a.echo.i, b.echo.x];
)";

TEST_F(ExecutorTest, ATaskThatCrashesItsWorkerEveryTimeFailsWithRuntimeCrashAfterTheRetries) {
  ExecutorConfig config = Config("A");
  config.worker_crash_retries = 2;
  Executor* executor = StartExecutor("A", config, 1, {"--test_crash_marker=CRASH_ME"});
  auto run = Submit(kCrashOnSecondResult);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, run.root().id());
  ASSERT_TRUE(WaitForStatus(run.run().id(), v1::RUN_STATUS_FAILED, absl::Seconds(20)))
      << Run(run.run().id()).DebugString();
  const v1::TaskRunRecord failed = Run(run.run().id());
  EXPECT_EQ(failed.error().code(), "RUNTIME_CRASH");
  EXPECT_TRUE(absl::StrContains(failed.error().message(), "crashed 3 times (2 retries on a fresh worker)"))
      << failed.error().message();
  EXPECT_TRUE(absl::StrContains(failed.error().message(), "killed by signal 6 (Aborted)")) << failed.error().message();
  EXPECT_GE(HostOf(0)->crashes(), 3);
  // Retried from the journal: no call was performed twice.
  for (const auto& [id, n] : processor_->performed()) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(processor_->total_performed(), 2);
  // The executor and its (new) workers go on.
  auto next = Submit(kTenCalls);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, next.root().id());
  ASSERT_TRUE(WaitForStatus(next.run().id(), v1::RUN_STATUS_COMPLETED)) << Run(next.run().id()).DebugString();
}

TEST_F(ExecutorTest, ATaskThatCrashedItsWorkerOnceResumesFromItsJournalOnAFreshOne) {
  const std::string once = absl::StrCat(dir_, "/crashed-once");
  Executor* executor =
      StartExecutor("A", Config("A"), 1, {"--test_crash_marker=CRASH_ME", absl::StrCat("--test_crash_once_file=", once)});
  auto run = Submit(kCrashOnSecondResult);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, run.root().id());
  ASSERT_TRUE(WaitForStatus(run.run().id(), v1::RUN_STATUS_COMPLETED, absl::Seconds(20)))
      << Run(run.run().id()).DebugString();
  EXPECT_EQ(Run(run.run().id()).result_json(), R"([1,"CRASH_ME"])");
  EXPECT_EQ(access(once.c_str(), F_OK), 0) << "the worker never crashed";
  EXPECT_GE(HostOf(0)->crashes(), 1);
  for (const auto& [id, n] : processor_->performed()) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(processor_->total_performed(), 2);
}

TEST_F(ExecutorTest, ATaskThatCrashesItsWorkerAtItsStartOnceIsStartedAgainAtOnce) {
  const std::string once = absl::StrCat(dir_, "/crashed-at-start");
  Executor* executor =
      StartExecutor("A", Config("A"), 1, {"--test_crash_marker=CRASH_AT_START", absl::StrCat("--test_crash_once_file=", once)});
  auto run = Submit("// CRASH_AT_START\nconst r = await __callHostTool__('admin-debug', 'echo', {k: 7}); return r.echo.k;");
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, run.root().id());
  // Not left to its lease (30 s here): retried on a fresh worker at once.
  ASSERT_TRUE(WaitForStatus(run.run().id(), v1::RUN_STATUS_COMPLETED, absl::Seconds(15)))
      << Run(run.run().id()).DebugString();
  EXPECT_EQ(Run(run.run().id()).result_json(), "7");
  EXPECT_EQ(access(once.c_str(), F_OK), 0) << "the worker never crashed";
  EXPECT_EQ(processor_->total_performed(), 1);
}

TEST_F(ExecutorTest, PublishChecksSyntaxInAWorkerNotInTheExecutor) {
  Executor* executor = StartExecutor("A", Config("A"), 1, {"--test_crash_marker=CRASH_ON_CHECK"});
  TaskApi api(store_.get(), store_.get(), executor);
  v1::PublishTaskRequest publish;
  publish.set_identifier("t");
  // The user-visible error of a syntax error is the one it always was.
  publish.set_code("const x = 1;\nreturn (;");
  auto bad = api.Publish(publish, "test");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), js::CheckSyntax(publish.code()).message());
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "code: line 2, column 9: SyntaxError:")) << bad.status();
  // Source that kills its checker is refused; this process lives on.
  publish.set_code("// CRASH_ON_CHECK\nreturn 1;");
  auto crashed = api.Publish(publish, "test");
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(crashed.status().message(), "could not be checked")) << crashed.status();
  publish.set_code("return 1;");
  EXPECT_TRUE(api.Publish(publish, "test").ok());
}

TEST_F(ExecutorTest, LoneSurrogatesInLogsArgsErrorsAndResultsEndInAClearAnswer) {
  Executor* executor = StartExecutor("A", Config("A"));
  constexpr char kCode[] = R"(
    console.log('a\ud83d');
    const r = await __callHostTool__('admin-debug', 'echo', {s: '\ud83d'});
    if (input.fail) throw new Error('bad \ud83d');
    return {s: '\ud83d', r};
  )";
  auto run = Submit(kCode, R"({"fail":false})");
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, run.root().id());
  ASSERT_TRUE(WaitForStatus(run.run().id(), v1::RUN_STATUS_COMPLETED, absl::Seconds(20)))
      << Run(run.run().id()).DebugString();
  // Stored as JSON text, exactly as JSON.stringify wrote it: the escape.
  EXPECT_EQ(Run(run.run().id()).result_json(), R"({"s":"\ud83d","r":{"echo":{"s":"\ud83d"}}})");
  v1::GetTaskRunRequest get;
  get.set_id(run.run().id());
  get.set_include_logs(true);
  auto with_logs = store_->GetTaskRun(get);
  ASSERT_TRUE(with_logs.ok()) << with_logs.status();
  ASSERT_GE(with_logs->logs_size(), 1);
  EXPECT_EQ(with_logs->logs(0).message(), R"(a\ud83d)");
  // A worker lost mid-run: the replay matches the journal's args.
  auto failing = Submit(kCode, R"({"fail":true})");
  processor_->Hold(true);
  executor->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, failing.root().id());
  ASSERT_TRUE(WaitFor([&] { return processor_->held() == 1; }));
  ASSERT_EQ(kill(HostOf(0)->pids()[0], SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] { return HostOf(0)->crashes() == 1 && HostOf(0)->pids()[0] > 0; }));
  absl::SleepFor(absl::Milliseconds(300));
  processor_->Hold(false);
  ASSERT_TRUE(WaitForStatus(failing.run().id(), v1::RUN_STATUS_FAILED, absl::Seconds(20)))
      << Run(failing.run().id()).DebugString();
  EXPECT_EQ(Run(failing.run().id()).error().code(), "TASK_ERROR");
  EXPECT_EQ(Run(failing.run().id()).error().message(), R"(Error: bad \ud83d)");
}

}  // namespace
}  // namespace tasker::services
