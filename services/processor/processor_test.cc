// The processor against a real Store and a scripted proxy on a real gRPC
// port: retries with backoff up to the attempt limit, final errors, and an
// unreachable proxy retried until it is back; and, through a
// FaultInjectingStore, a lost CompleteCall answer and a failed RetryCall.
#include "services/processor/processor.h"

#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/client/channel.h"
#include "runtime/server/server.h"
#include "storage/open_store.h"
#include "storage/testing/fault_injecting_store.h"
#include "tests/support/process.h"

namespace tasker::services {
namespace {

namespace v1 = ::tasker::v1;
using storage::testing::FaultInjectingStore;

// Fails the first `failures` calls with a retryable (or final) error.
class ScriptedProxy final : public v1::WrappedServiceProxy::Service {
 public:
  std::atomic<int> failures{0};
  std::atomic<bool> retryable{true};
  std::atomic<int> calls{0};
  // Answers UNAVAILABLE at the gRPC level, as an unreachable proxy does.
  std::atomic<bool> down{false};
  // How long each call takes.
  std::atomic<int> delay_ms{0};
  std::string last_idempotency_key;
  // The idempotency key of every call that reached the proxy, in order.
  std::vector<std::string> Keys() {
    std::lock_guard<std::mutex> lock(mu_);
    return keys_;
  }
  grpc::Status Call(grpc::ServerContext*, const v1::CallRequest* request, v1::CallResponse* response) override {
    if (down) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "proxy is down");
    if (delay_ms > 0) absl::SleepFor(absl::Milliseconds(delay_ms.load()));
    last_idempotency_key = request->idempotency_key();
    {
      std::lock_guard<std::mutex> lock(mu_);
      keys_.push_back(request->idempotency_key());
    }
    if (calls++ < failures) {
      response->mutable_error()->set_code("HTTP_503");
      response->mutable_error()->set_message("busy");
      response->mutable_error()->set_retryable(retryable);
    } else {
      response->set_result_json(R"("done")");
    }
    return grpc::Status::OK;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> keys_;
};

// Keeps the results a processor pushes to executors.
class RecordingNotifier : public Notifier {
 public:
  RecordingNotifier() : Notifier({}, {}, ClientConfig{}) {}
  void DeliverResult(const std::string& reply_to, const v1::StackRunRecord& call) override {
    std::lock_guard<std::mutex> lock(mu);
    delivered.emplace_back(reply_to, call);
  }
  std::mutex mu;
  std::vector<std::pair<std::string, v1::StackRunRecord>> delivered;
};

class ProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenStore(absl::StrCat("sqlite://", tasker::testing::MakeTempDir("proc"), "/t.db"));
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    faulty_ = std::make_unique<FaultInjectingStore>(store_.get());
    v1::PublishTaskFunctionRequest publish;
    publish.set_identifier("t");
    publish.set_code("return 1");
    ASSERT_TRUE(store_->PublishTaskFunction(publish).ok());
  }

  // A run that recorded one call and was then evicted (released with its
  // journal); returns the call's stack run id. With `reply_to`, the run
  // stays warm instead and the call is leased for dispatch: *dispatched gets
  // its row.
  std::string SuspendedCall(const std::string& reply_to = "", v1::StackRunRecord* dispatched = nullptr) {
    v1::SubmitTaskRunRequest submit;
    submit.set_task_identifier("t");
    EXPECT_TRUE(store_->SubmitRun(submit).ok());
    v1::ClaimWorkRequest claim;
    claim.set_kind(v1::WORK_KIND_EXECUTE_ROOT);
    claim.set_owner("exec");
    claim.set_lease_ms(30000);
    claim.set_reply_to(reply_to);
    auto root = store_->ClaimWork(claim);
    if (!root.ok() || !root->has_stack_run()) {
      ADD_FAILURE() << "no root to claim: " << root.status();
      return "";
    }
    v1::RecordCallsRequest record;
    record.set_root_stack_run_id(root->stack_run().id());
    record.set_fencing_token(root->lease().fencing_token());
    auto* step = record.add_steps();
    step->set_seq(0);
    step->set_clock_ms(1);
    auto* call = record.add_calls();
    call->set_call_id("c1");
    call->set_service("s");
    call->set_method("m");
    call->set_index(1);
    call->set_step(0);
    if (dispatched) {
      record.set_dispatch_owner("dispatch/exec");
      record.set_dispatch_lease_ms(30000);
    }
    auto recorded = store_->RecordCalls(record);
    if (!recorded.ok() || recorded->calls_size() != 1) {
      ADD_FAILURE() << "record failed: " << recorded.status();
      return "";
    }
    if (dispatched) {
      *dispatched = recorded->calls(0);
      return recorded->calls(0).id();
    }
    v1::PutCheckpointRequest release;
    release.set_root_stack_run_id(root->stack_run().id());
    release.set_fencing_token(root->lease().fencing_token());
    release.set_release(true);
    auto released = store_->PutCheckpoint(release);
    if (!released.ok()) ADD_FAILURE() << "release failed: " << released.status();
    return recorded->calls(0).id();
  }

  // Waits for the one result push of call `id` to "executor-a:4711" and
  // checks what it carried.
  void ExpectPushedOnce(const std::string& id) {
    ASSERT_TRUE(WaitFor([&] {
      std::lock_guard<std::mutex> lock(notifier_.mu);
      return !notifier_.delivered.empty();
    }));
    std::lock_guard<std::mutex> lock(notifier_.mu);
    ASSERT_EQ(notifier_.delivered.size(), 1u);
    EXPECT_EQ(notifier_.delivered[0].first, "executor-a:4711");
    EXPECT_EQ(notifier_.delivered[0].second.id(), id);
    EXPECT_EQ(notifier_.delivered[0].second.result_json(), R"("done")");
  }

  v1::StackRunRecord WaitFinished(const std::string& id) {
    v1::StackRunRecord last;
    for (int i = 0; i < 400; ++i) {
      auto s = store_->GetStackRun(id);
      if (!s.ok()) {
        ADD_FAILURE() << s.status();
        return {};
      }
      last = *s;
      if (s->status() == v1::STACK_RUN_STATUS_COMPLETED || s->status() == v1::STACK_RUN_STATUS_FAILED) return last;
      absl::SleepFor(absl::Milliseconds(25));
    }
    ADD_FAILURE() << "call " << id << " did not finish: " << last.DebugString();
    return last;
  }

  ProcessorConfig Config() {
    ProcessorConfig config;
    config.owner = "proc-test";
    config.threads = 2;
    config.max_attempts = 4;
    config.base_backoff = absl::Milliseconds(20);
    config.sweep_interval = absl::Seconds(60);
    return config;
  }

  // Polls `condition` every 20 ms for up to 20 s.
  static bool WaitFor(const std::function<bool()>& condition) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      if (condition()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return condition();
  }

  // Serves proxy_ on a real port and starts a processor calling it, through
  // faulty_ (which changes nothing until a rule is injected).
  void StartProcessor(ProcessorConfig config) {
    server_ = std::make_unique<ServerRunner>(ServerConfig{.authenticator = tasker::Authenticator::InsecureDev()});
    server_->AddService(&proxy_, "*", tasker::Roles::All());
    ASSERT_TRUE(server_->Start().ok());
    processor_ = std::make_unique<Processor>(ProcessorStores::Of(faulty_.get()), *MakeChannel({.target = server_->local_target()}),
                                             &notifier_, config);
    processor_->Start();
  }

  void TearDown() override {
    if (processor_) processor_->Stop();
    if (server_) server_->Shutdown();
  }

  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<FaultInjectingStore> faulty_;
  ScriptedProxy proxy_;
  RecordingNotifier notifier_;
  std::unique_ptr<ServerRunner> server_;
  std::unique_ptr<Processor> processor_;
};

TEST_F(ProcessorTest, RetriesRetryableFailuresThenSucceeds) {
  proxy_.failures = 2;
  StartProcessor(Config());
  const std::string id = SuspendedCall();
  processor_->Enqueue(id);
  v1::StackRunRecord call = WaitFinished(id);
  EXPECT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED);
  EXPECT_EQ(call.result_json(), R"("done")");
  EXPECT_EQ(call.attempt(), 3);
  EXPECT_EQ(proxy_.calls.load(), 3);
  EXPECT_EQ(processor_->counters().retried.load(), 2);
  EXPECT_EQ(proxy_.last_idempotency_key, absl::StrCat(call.task_run_id(), "/", call.id()));
  // The parent is ready to resume.
  EXPECT_EQ(store_->GetStackRun(call.parent_id())->status(), v1::STACK_RUN_STATUS_READY_TO_RESUME);
}

TEST_F(ProcessorTest, GivesUpAfterMaxAttemptsAndFinalErrorsAreNotRetried) {
  proxy_.failures = 100;
  StartProcessor(Config());
  const std::string id = SuspendedCall();
  processor_->Enqueue(id);
  v1::StackRunRecord call = WaitFinished(id);
  EXPECT_EQ(call.status(), v1::STACK_RUN_STATUS_FAILED);
  EXPECT_EQ(call.attempt(), 4);
  EXPECT_NE(call.error().message().find("gave up after 4 attempts"), std::string::npos) << call.error().message();
  EXPECT_EQ(proxy_.calls.load(), 4);  // every attempt reached the proxy
  proxy_.calls = 0;
  proxy_.retryable = false;
  const std::string final_id = SuspendedCall();
  processor_->Enqueue(final_id);
  v1::StackRunRecord final_call = WaitFinished(final_id);
  EXPECT_EQ(final_call.status(), v1::STACK_RUN_STATUS_FAILED);
  EXPECT_EQ(final_call.attempt(), 1);
  EXPECT_EQ(final_call.error().code(), "HTTP_503");
  EXPECT_EQ(proxy_.calls.load(), 1);  // a final error is not retried
}

TEST_F(ProcessorTest, AnUnreachableProxyIsRetriedUntilItIsBack) {
  proxy_.down = true;
  ProcessorConfig config = Config();
  config.max_attempts = 2;
  StartProcessor(config);
  const std::string id = SuspendedCall();
  processor_->Enqueue(id);
  // More attempts than max_attempts, and the call is still waiting.
  for (int i = 0; i < 400 && store_->GetStackRun(id)->attempt() <= 3; ++i) absl::SleepFor(absl::Milliseconds(25));
  auto pending = store_->GetStackRun(id);
  EXPECT_GT(pending->attempt(), 3);
  EXPECT_NE(pending->status(), v1::STACK_RUN_STATUS_FAILED);
  proxy_.down = false;
  v1::StackRunRecord call = WaitFinished(id);
  EXPECT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED);
  EXPECT_EQ(call.result_json(), R"("done")");
}

// Short leases and frequent sweeps, for the fault tests: a call left RUNNING
// by a failed write is claimable again 500 ms later.
ProcessorConfig FastSweeps(ProcessorConfig config) {
  config.lease = absl::Milliseconds(500);
  config.sweep_interval = absl::Milliseconds(50);
  return config;
}

// Sweeps are at least sweep_interval apart and each one claims (or tries to)
// at least once: 20 more ClaimWork calls take longer than the 500 ms lease.
constexpr int kClaimsBeyondALease = 20;

TEST_F(ProcessorTest, CompleteCallAnswerDroppedIsNotPerformedAgain) {
  faulty_->Inject({.method = "CompleteCall", .call = 1, .fault = FaultInjectingStore::Fault::kDropAnswer});
  StartProcessor(FastSweeps(Config()));
  const std::string id = SuspendedCall();
  processor_->Enqueue(id);
  v1::StackRunRecord call = WaitFinished(id);
  ASSERT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED);
  ASSERT_TRUE(WaitFor([&] { return faulty_->Injected("CompleteCall") == 1; }));
  // Well past the lease of the claim whose answer was lost: nobody takes the
  // call again (it is COMPLETED in storage).
  const int claims = faulty_->Calls("ClaimWork");
  ASSERT_TRUE(WaitFor([&] { return faulty_->Calls("ClaimWork") >= claims + kClaimsBeyondALease; }));
  call = *store_->GetStackRun(id);
  EXPECT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED);
  EXPECT_EQ(call.result_json(), R"("done")");
  EXPECT_EQ(call.attempt(), 1);
  EXPECT_EQ(proxy_.calls.load(), 1);
  // The lost answer's retry found the call recorded and stopped there
  // (its lease renewal, or the retried write, was refused: the call is
  // COMPLETED).
  EXPECT_LE(faulty_->Calls("CompleteCall"), 2);
  EXPECT_EQ(processor_->counters().performed.load(), 1);
  EXPECT_EQ(processor_->counters().retried.load(), 0);
  EXPECT_LE(processor_->counters().succeeded.load(), 1);
  // The completion counted once: the evicted parent is ready, none waiting.
  auto parent = store_->GetStackRun(call.parent_id());
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(parent->status(), v1::STACK_RUN_STATUS_READY_TO_RESUME);
  EXPECT_EQ(parent->waiting(), 0);
}

// Storage unreachable when the provider's answer is to be recorded (several
// CompleteCall attempts fail, for longer than the call's lease): the answer
// is kept and recorded once storage is back; the provider is called once.
TEST_F(ProcessorTest, AnswerIsKeptAndRecordedWhenStorageIsUnavailable) {
  faulty_->Inject({.method = "CompleteCall", .call = 1, .times = 6, .fault = FaultInjectingStore::Fault::kFail});
  StartProcessor(FastSweeps(Config()));
  const std::string id = SuspendedCall();
  processor_->Enqueue(id);
  v1::StackRunRecord call = WaitFinished(id);
  ASSERT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED) << call.DebugString();
  EXPECT_EQ(call.result_json(), R"("done")");
  EXPECT_EQ(faulty_->Injected("CompleteCall"), 6);
  EXPECT_EQ(faulty_->Calls("CompleteCall"), 7);
  // Well past the lease: nobody performs it again.
  const int claims = faulty_->Calls("ClaimWork");
  ASSERT_TRUE(WaitFor([&] { return faulty_->Calls("ClaimWork") >= claims + kClaimsBeyondALease; }));
  EXPECT_EQ(proxy_.calls.load(), 1);
  EXPECT_EQ(store_->GetStackRun(id)->attempt(), 1);
  EXPECT_EQ(processor_->counters().performed.load(), 1);
  EXPECT_EQ(processor_->counters().succeeded.load(), 1);
  EXPECT_EQ(store_->GetStackRun(call.parent_id())->status(), v1::STACK_RUN_STATUS_READY_TO_RESUME);
}

// The same for a dispatched call of a warm run: the result is recorded and
// pushed to the run's executor.
TEST_F(ProcessorTest, DispatchedAnswerIsKeptWhenStorageIsUnavailable) {
  faulty_->Inject({.method = "CompleteCall", .call = 1, .times = 4, .fault = FaultInjectingStore::Fault::kFail});
  StartProcessor(Config());
  v1::StackRunRecord dispatched;
  const std::string id = SuspendedCall("executor-a:4711", &dispatched);
  EXPECT_TRUE(processor_->Dispatch(dispatched));
  v1::StackRunRecord call = WaitFinished(id);
  ASSERT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED);
  EXPECT_EQ(proxy_.calls.load(), 1);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(notifier_.mu);
    return !notifier_.delivered.empty();
  }));
  std::lock_guard<std::mutex> lock(notifier_.mu);
  EXPECT_EQ(notifier_.delivered[0].second.result_json(), R"("done")");
}

TEST_F(ProcessorTest, FailedRetryCallIsReclaimedAfterTheLeaseExpires) {
  proxy_.failures = 1;  // the first attempt gets a retryable error
  // Not a transient error (those are tried again): left to the lease.
  faulty_->Inject({.method = "RetryCall",
                   .call = 1,
                   .fault = FaultInjectingStore::Fault::kFail,
                   .status = absl::InternalError("injected fault")});
  StartProcessor(FastSweeps(Config()));
  const std::string id = SuspendedCall();
  processor_->Enqueue(id);
  ASSERT_TRUE(WaitFor([&] { return faulty_->Injected("RetryCall") == 1; }));
  v1::StackRunRecord call = WaitFinished(id);
  ASSERT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED) << call.DebugString();
  EXPECT_EQ(call.result_json(), R"("done")");
  // The retry was never recorded: the second attempt is the re-claim after
  // the lease expired.
  EXPECT_EQ(call.attempt(), 2);
  EXPECT_EQ(proxy_.calls.load(), 2);
  EXPECT_EQ(faulty_->Calls("RetryCall"), 1);
  EXPECT_EQ(processor_->counters().retried.load(), 0);
  EXPECT_EQ(processor_->counters().succeeded.load(), 1);
  const std::string key = absl::StrCat(call.task_run_id(), "/", call.id());
  EXPECT_EQ(proxy_.Keys(), (std::vector<std::string>{key, key}));
  EXPECT_EQ(store_->GetStackRun(call.parent_id())->status(), v1::STACK_RUN_STATUS_READY_TO_RESUME);
}

TEST_F(ProcessorTest, ADispatchedCallIsPerformedWithoutAClaimAndItsResultPushedToTheWarmRun) {
  StartProcessor(Config());
  v1::StackRunRecord dispatched;
  const std::string id = SuspendedCall("executor-a:4711", &dispatched);
  ASSERT_EQ(dispatched.status(), v1::STACK_RUN_STATUS_RUNNING);
  ASSERT_EQ(dispatched.fencing_token(), 1);
  // The sweeper's first sweep (at start, then every 60 s) has happened: a
  // claim after this point would be of the dispatched call.
  ASSERT_TRUE(WaitFor([&] { return faulty_->Calls("ClaimWork") >= 1; }));
  const int claims = faulty_->Calls("ClaimWork");
  EXPECT_TRUE(processor_->Dispatch(dispatched));
  v1::StackRunRecord call = WaitFinished(id);
  EXPECT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED);
  EXPECT_EQ(call.attempt(), 1);
  EXPECT_EQ(proxy_.calls.load(), 1);
  // Performed under the dispatch lease: no claim of it.
  EXPECT_EQ(faulty_->Calls("ClaimWork"), claims);
  ExpectPushedOnce(id);
  // The warm parent is still RUNNING under its executor's lease.
  EXPECT_EQ(store_->GetStackRun(call.parent_id())->status(), v1::STACK_RUN_STATUS_RUNNING);
}

// Storage died right after CompleteCall committed (its answer lost): the
// retry is refused as finished, and the stored result is pushed all the same
// (the warm run does not wait for its straggler check).
TEST_F(ProcessorTest, AResultWhoseCommitsAnswerWasLostIsStillPushed) {
  faulty_->Inject({.method = "CompleteCall", .call = 1, .fault = FaultInjectingStore::Fault::kDropAnswer});
  StartProcessor(Config());
  v1::StackRunRecord dispatched;
  const std::string id = SuspendedCall("executor-a:4711", &dispatched);
  EXPECT_TRUE(processor_->Dispatch(dispatched));
  ExpectPushedOnce(id);
  EXPECT_EQ(proxy_.calls.load(), 1);
}

// A call that takes longer than the lease keeps it while its processor
// lives (renewed), so that another processor's sweep does not take it over
// and perform it a second time.
TEST_F(ProcessorTest, ALongCallIsNotTakenOverWhileItsProcessorLives) {
  proxy_.delay_ms = 2000;  // four leases
  StartProcessor(FastSweeps(Config()));
  ProcessorConfig other_config = FastSweeps(Config());
  other_config.owner = "proc-other";
  Processor other(ProcessorStores::Of(store_.get()), *MakeChannel({.target = server_->local_target()}), &notifier_,
                  other_config);
  other.Start();
  const std::string id = SuspendedCall();
  processor_->Enqueue(id);
  v1::StackRunRecord call = WaitFinished(id);
  other.Stop();
  EXPECT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED);
  EXPECT_EQ(proxy_.calls.load(), 1);
  EXPECT_EQ(other.counters().performed.load(), 0);
}

// Storage unreachable (restarting) when the provider has answered: the
// outcome is tried again until storage is back, instead of being left to the
// lease, after which the call would be performed a second time.
TEST_F(ProcessorTest, AnOutcomeIsTriedAgainWhileStorageIsUnreachable) {
  faulty_->Inject({.method = "CompleteCall", .call = 1, .times = 3, .fault = FaultInjectingStore::Fault::kFail});
  StartProcessor(FastSweeps(Config()));
  const std::string id = SuspendedCall();
  processor_->Enqueue(id);
  v1::StackRunRecord call = WaitFinished(id);
  EXPECT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED);
  EXPECT_EQ(call.attempt(), 1);
  EXPECT_EQ(proxy_.calls.load(), 1);
  EXPECT_EQ(faulty_->Calls("CompleteCall"), 4);
}

// A processor frozen (SIGSTOP) with calls dispatched to it: another one
// takes them over after the lease, and the frozen one, thawed, does not
// perform them. The freeze is simulated by a processor that holds the calls
// but is not started (no renewals, no worker threads) until later.
TEST_F(ProcessorTest, CallsOfAFrozenProcessorAreTakenOverAndNotPerformedAfterTheThaw) {
  StartProcessor(FastSweeps(Config()));
  ProcessorConfig frozen_config = FastSweeps(Config());
  frozen_config.owner = "proc-frozen";
  Processor frozen(ProcessorStores::Of(store_.get()), *MakeChannel({.target = server_->local_target()}), &notifier_,
                   frozen_config);
  // Dispatched with a short lease, to the frozen one.
  v1::SubmitTaskRunRequest submit;
  submit.set_task_identifier("t");
  ASSERT_TRUE(store_->SubmitRun(submit).ok());
  v1::ClaimWorkRequest claim;
  claim.set_kind(v1::WORK_KIND_EXECUTE_ROOT);
  claim.set_owner("exec");
  claim.set_lease_ms(30000);
  claim.set_reply_to("exec:1");
  auto root = store_->ClaimWork(claim);
  ASSERT_TRUE(root.ok() && root->has_stack_run());
  v1::RecordCallsRequest record;
  record.set_root_stack_run_id(root->stack_run().id());
  record.set_fencing_token(root->lease().fencing_token());
  record.add_steps()->set_clock_ms(1);
  auto* c = record.add_calls();
  c->set_call_id("c1");
  c->set_service("s");
  c->set_method("m");
  c->set_index(1);
  record.set_dispatch_owner("dispatch/exec");
  record.set_dispatch_lease_ms(500);
  auto recorded = store_->RecordCalls(record);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  const v1::StackRunRecord dispatched = recorded->calls(0);
  EXPECT_TRUE(frozen.Dispatch(dispatched));
  v1::StackRunRecord call = WaitFinished(dispatched.id());
  EXPECT_EQ(call.status(), v1::STACK_RUN_STATUS_COMPLETED);
  EXPECT_EQ(processor_->counters().performed.load(), 1);
  // Thawed: the call it held was taken over; it is not performed again.
  frozen.Start();
  ASSERT_TRUE(WaitFor([&] { return frozen.held() == 0; }));
  frozen.Stop();
  EXPECT_EQ(frozen.counters().performed.load(), 0);
  EXPECT_EQ(proxy_.calls.load(), 1);
}

TEST(BackoffTest, GrowsExponentiallyWithJitterAndACap) {
  ProcessorConfig config;
  config.base_backoff = absl::Milliseconds(100);
  config.max_backoff = absl::Seconds(1);
  std::set<int64_t> distinct;
  for (int i = 0; i < 50; ++i) {
    EXPECT_GE(Processor::Backoff(config, 1), absl::Milliseconds(50));
    EXPECT_LE(Processor::Backoff(config, 1), absl::Milliseconds(100));
    EXPECT_GE(Processor::Backoff(config, 3), absl::Milliseconds(200));
    EXPECT_LE(Processor::Backoff(config, 3), absl::Milliseconds(400));
    EXPECT_LE(Processor::Backoff(config, 20), absl::Seconds(1));
    EXPECT_GE(Processor::Backoff(config, 20), absl::Milliseconds(500));
    distinct.insert(absl::ToInt64Microseconds(Processor::Backoff(config, 2)));
  }
  EXPECT_GT(distinct.size(), 10u);  // jittered
}

}  // namespace
}  // namespace tasker::services
