// Live runs in worker processes: many runs per worker, pipelined requests,
// rebuild and checkpoint ops, and a worker that dies losing only its runs.
#include "runtime/js/worker_host.h"

#include <signal.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "runtime/js/worker_protocol.h"
#include "tests/support/process.h"

namespace tasker::js {
namespace {

std::unique_ptr<WorkerHost> MakeHost(int workers, WorkerHost::LostCallback lost = nullptr) {
  auto host = WorkerHost::Create(
      {.worker_path = tasker::testing::Runfile("runtime/js/tasker-js-worker"), .workers = workers}, lost);
  EXPECT_TRUE(host.ok()) << host.status();
  return host.ok() ? std::move(*host) : nullptr;
}

constexpr char kTask[] = R"(
  const seen = [];
  for (let i = 0; i < 3; i++) seen.push(await __callHostTool__('svc', 'step', {i}));
  return seen;
)";

v1::Request StartRequest(const std::string& run, const std::string& code) {
  v1::Request r;
  r.set_run(run);
  r.mutable_start()->set_code(code);
  r.mutable_start()->set_input_json("null");
  r.mutable_start()->set_clock_ms(5);
  return r;
}

v1::Request DeliverRequest(const std::string& run, const std::string& call_id, const std::string& json) {
  v1::Request r;
  r.set_run(run);
  r.mutable_deliver()->mutable_result()->set_call_id(call_id);
  r.mutable_deliver()->mutable_result()->set_ok(true);
  r.mutable_deliver()->mutable_result()->set_result_json(json);
  return r;
}

constexpr absl::Duration kTimeout = absl::Seconds(30);

TEST(WorkerHostTest, ManyRunsLiveInOneWorkerAndFinish) {
  auto host = MakeHost(1);
  ASSERT_NE(host, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const std::string run = absl::StrCat("r", t, "-", i);
        auto started = host->Call(0, StartRequest(run, kTask), kTimeout);
        ASSERT_TRUE(started.ok()) << started.status();
        ASSERT_EQ(started->step().calls_size(), 1);
        for (int k = 1; k <= 3; ++k) {
          auto out = host->Call(0, DeliverRequest(run, absl::StrCat("c", k), absl::StrCat("\"", run, k, "\"")), kTimeout);
          ASSERT_TRUE(out.ok()) << out.status();
          ASSERT_EQ(out->status_code(), 0) << out->status_message();
          if (k == 3) {
            EXPECT_EQ(out->step().kind(), static_cast<int>(Outcome::Kind::kCompleted));
            EXPECT_EQ(out->step().result_json(), absl::StrCat("[\"", run, "1\",\"", run, "2\",\"", run, "3\"]"));
            ++done;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done, 40);
  // A finished run is no longer live there.
  auto gone = host->Call(0, DeliverRequest("r0-0", "c1", "1"), kTimeout);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->status_code(), static_cast<int>(absl::StatusCode::kNotFound));
}

TEST(WorkerHostTest, CheckpointThenRebuildInAnotherWorker) {
  auto host = MakeHost(2);
  ASSERT_NE(host, nullptr);
  auto started = host->Call(0, StartRequest("r", kTask), kTimeout);
  ASSERT_TRUE(started.ok());
  auto step = host->Call(0, DeliverRequest("r", "c1", "\"a\""), kTimeout);
  ASSERT_TRUE(step.ok());
  v1::Request checkpoint;
  checkpoint.set_run("r");
  checkpoint.mutable_checkpoint();
  auto written = host->Call(0, checkpoint, kTimeout);
  ASSERT_TRUE(written.ok());
  ASSERT_EQ(written->status_code(), 0) << written->status_message();
  EXPECT_EQ(written->checkpoint_step(), 2);
  EXPECT_GT(written->checkpoint().size(), 1000u);
  // Rebuild in worker 1 from the checkpoint plus the journal.
  v1::Request rebuild;
  rebuild.set_run("r");
  auto* op = rebuild.mutable_rebuild();
  op->set_code(kTask);
  op->set_input_json("null");
  op->set_checkpoint(written->checkpoint());
  op->set_checkpoint_step(2);
  JournalStep s0{0, "", 5, 0}, s1{1, "c1", 0, 0};
  *op->add_steps() = JournalStepToProto(s0);
  *op->add_steps() = JournalStepToProto(s1);
  JournalCall c1{1, 0, "c1", "svc", "step", R"({"i":0})", true, {"c1", true, "\"a\""}};
  JournalCall c2{2, 1, "c2", "svc", "step", R"({"i":1})", false, {}};
  *op->add_calls() = JournalCallToProto(c1);
  *op->add_calls() = JournalCallToProto(c2);
  auto rebuilt = host->Call(1, rebuild, kTimeout);
  ASSERT_TRUE(rebuilt.ok());
  ASSERT_EQ(rebuilt->status_code(), 0) << rebuilt->status_message();
  EXPECT_TRUE(rebuilt->from_checkpoint());
  EXPECT_EQ(rebuilt->steps_replayed(), 0);
  auto next = host->Call(1, DeliverRequest("r", "c2", "\"b\""), kTimeout);
  ASSERT_TRUE(next.ok());
  auto last = host->Call(1, DeliverRequest("r", "c3", "\"c\""), kTimeout);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->step().result_json(), R"(["a","b","c"])");
}

TEST(WorkerHostTest, AWorkerThatDiesLosesOnlyItsRunsAndIsReplaced) {
  std::atomic<int> lost{0};
  absl::Notification told;
  auto host = MakeHost(2, [&](int worker, const std::string& reason) {
    EXPECT_EQ(worker, 0);
    EXPECT_NE(reason.find("signal 9"), std::string::npos) << reason;
    ++lost;
    told.Notify();
  });
  ASSERT_NE(host, nullptr);
  ASSERT_TRUE(host->Call(0, StartRequest("a", kTask), kTimeout).ok());
  ASSERT_TRUE(host->Call(1, StartRequest("b", kTask), kTimeout).ok());
  const pid_t victim = host->pids()[0];
  kill(victim, SIGKILL);
  ASSERT_TRUE(told.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(lost, 1);
  EXPECT_EQ(host->crashes(), 1);
  EXPECT_NE(host->pids()[0], victim);
  // Worker 0 is new and empty; worker 1 still holds its run.
  auto a = host->Call(0, DeliverRequest("a", "c1", "1"), kTimeout);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status_code(), static_cast<int>(absl::StatusCode::kNotFound));
  auto b = host->Call(1, DeliverRequest("b", "c1", "1"), kTimeout);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->status_code(), 0);
}

TEST(WorkerHostTest, AHungWorkerIsKilledAfterTheTimeout) {
  auto host = MakeHost(1);
  ASSERT_NE(host, nullptr);
  v1::Request r = StartRequest("spin", "while (true) {}");
  r.mutable_start()->mutable_limits()->set_step_cpu_ms(60000);
  const absl::Time start = absl::Now();
  auto out = host->Call(0, r, absl::Milliseconds(500));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable) << out.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  auto after = host->Call(0, StartRequest("next", "return 1;"), kTimeout);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->step().result_json(), "1");
}

}  // namespace
}  // namespace tasker::js
