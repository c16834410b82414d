// Steps in worker processes: a chain crosses processes, and a step that
// makes V8 abort fails alone while the host process and the pool go on.
#include "runtime/js/worker_pool.h"

#include <zstd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/js/continuation.h"
#include "tests/support/process.h"

namespace tasker::js {
namespace {

std::unique_ptr<WorkerPool> MakePool(int workers) {
  auto pool = WorkerPool::Create(
      {.worker_path = tasker::testing::Runfile("runtime/js/tasker-js-worker"), .workers = workers});
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

CallResult Ok(const HostCall& call, const std::string& json) { return {call.call_id, true, json}; }

constexpr char kTask[] = R"(
  const seen = [];
  for (let i = 0; i < 4; i++) seen.push(await __callHostTool__('svc', 'step', {i}));
  return {seen, pid: typeof process};
)";

TEST(WorkerPoolTest, AChainCrossesProcessesInBothDirections) {
  auto pool = MakePool(2);
  ASSERT_NE(pool, nullptr);
  // Start here (in-process engine), resume in workers, finish here again.
  auto out = Start(kTask, "null", {});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->kind, Outcome::Kind::kSuspended);
  out = pool->Resume(out->continuation, {Ok(out->calls[0], "\"a\"")}, {});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->kind, Outcome::Kind::kSuspended) << out->error_message;
  out = pool->Resume(out->continuation, {Ok(out->calls[0], "\"b\"")}, {});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->kind, Outcome::Kind::kSuspended) << out->error_message;
  out = Resume(out->continuation, {Ok(out->calls[0], "\"c\"")}, {});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->kind, Outcome::Kind::kSuspended) << out->error_message;
  out = pool->Resume(out->continuation, {Ok(out->calls[0], "\"d\"")}, {});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->kind, Outcome::Kind::kCompleted) << out->error_message;
  EXPECT_EQ(out->result_json, R"({"seen":["a","b","c","d"],"pid":"undefined"})");
  // And a chain that starts in a worker.
  auto started = pool->Start("return (await __callHostTool__('a', 'b', 1)) + 1;", "null", {});
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_EQ(started->kind, Outcome::Kind::kSuspended);
  auto done = Resume(started->continuation, {Ok(started->calls[0], "41")}, {});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->result_json, "42");
  EXPECT_EQ(pool->crashes(), 0);
}

// A continuation whose header and checksum are right but whose snapshot is
// not: V8 aborts while deserialising it (its own checksum check). Only a bug
// or tampering upstream can produce one; the executor must survive it.
std::string PoisonedContinuation(const std::string& good) {
  auto raw = DecodeContinuation(good, ExternalReferencesVersion(), V8Version());
  EXPECT_TRUE(raw.ok()) << raw.status();
  if (!raw.ok()) return "";
  std::string blob = *raw;
  for (size_t i = blob.size() / 3; i < blob.size() / 3 + 64; ++i) blob[i] ^= 0x77;
  return EncodeContinuation(blob, ExternalReferencesVersion(), V8Version());
}

TEST(WorkerPoolTest, AV8AbortFailsOneStepAndThePoolGoesOn) {
  auto pool = MakePool(1);
  ASSERT_NE(pool, nullptr);
  auto out = pool->Start("await __callHostTool__('a', 'b', null); return 'fine';", "null", {});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->kind, Outcome::Kind::kSuspended);
  const std::vector<pid_t> before = pool->pids();
  auto crashed = pool->Resume(PoisonedContinuation(out->continuation), {Ok(out->calls[0], "1")}, {});
  ASSERT_TRUE(crashed.ok()) << crashed.status();
  EXPECT_EQ(crashed->kind, Outcome::Kind::kFailed);
  EXPECT_EQ(crashed->failure, FailureKind::kRuntimeCrash) << crashed->error_message;
  EXPECT_NE(crashed->error_message.find("signal"), std::string::npos) << crashed->error_message;
  EXPECT_EQ(pool->crashes(), 1);
  EXPECT_NE(pool->pids(), before);  // replaced
  // The same pool, and this process, carry on; the good continuation is intact.
  auto resumed = pool->Resume(out->continuation, {Ok(out->calls[0], "1")}, {});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->result_json, "\"fine\"");
}

TEST(WorkerPoolTest, ConcurrentStepsShareThePool) {
  auto pool = MakePool(2);
  ASSERT_NE(pool, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> completed{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      auto out = pool->Start("const x = await __callHostTool__('n', 'n', input); return x * 2;",
                             absl::StrCat(t), {});
      if (!out.ok() || out->kind != Outcome::Kind::kSuspended) return;
      auto done = pool->Resume(out->continuation, {Ok(out->calls[0], absl::StrCat(t))}, {});
      if (done.ok() && done->result_json == absl::StrCat(t * 2)) ++completed;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(completed.load(), 6);
}

TEST(WorkerPoolTest, MissingBinaryIsAClearError) {
  auto pool = WorkerPool::Create({.worker_path = "/nonexistent/tasker-js-worker"});
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tasker::js
