// What users of the earlier JavaScript platform bring, over real processes:
// durable timers (setTimeout is a journaled host call that survives
// restarts), the old HTTP API, and task code written in the old style.
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/client/channel.h"
#include "tests/e2e/stack.h"

namespace tasker::e2e {
namespace {

namespace v1 = ::tasker::v1;
using Json = nlohmann::json;

v1::GetRunResponse GetRun(Stack* stack, const std::string& id) {
  v1::GetRunRequest get;
  get.set_id(id);
  v1::GetRunResponse response;
  auto context = MakeContext(absl::Seconds(10));
  EXPECT_TRUE(stack->api()->GetRun(context.get(), get, &response).ok()) << id;
  return response;
}

std::unique_ptr<Stack> StartStack(StackOptions options = {}) {
  auto stack = Stack::Start(std::move(options));
  EXPECT_TRUE(stack.ok()) << stack.status();
  return stack.ok() ? std::move(*stack) : nullptr;
}

// The timer call as the runtime's setTimeout makes it.
constexpr char kSleeper[] = R"(
  const t0 = Date.now();
  const fired = await __callHostTool__('timer', 'sleep', {ms: input.ms});
  const t1 = Date.now();
  let refused = null;
  try {
    await __callHostTool__('timer', 'sleep', {ms: -5});
  } catch (e) {
    refused = e.code + ': ' + e.message;
  }
  return {waited: t1 - t0, fired, refused};
)";

TEST(Timers, ATimerWaitsItsDelayDurablyThroughRestartsOfEveryWorker) {
  auto stack = StartStack();
  ASSERT_NE(stack, nullptr);
  ASSERT_TRUE(stack->Publish("sleeper", kSleeper).ok());
  const absl::Time start = absl::Now();
  auto id = stack->Submit("sleeper", R"({"ms": 4000})");
  ASSERT_TRUE(id.ok()) << id.status();
  // The timer is recorded, waiting for its time, leased to nobody.
  bool seen_pending = false;
  for (int i = 0; i < 100 && !seen_pending; ++i) {
    const v1::GetRunResponse response = GetRun(stack.get(), *id);
    for (const auto& s : response.stack_runs()) {
      if (s.service() == "timer" && s.status() == v1::STACK_RUN_STATUS_PENDING) seen_pending = true;
    }
    if (!seen_pending) absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(seen_pending) << "the timer call was never recorded pending";
  // Everything that could hold it dies meanwhile.
  ASSERT_TRUE(stack->KillAndRestart("executor0").ok());
  ASSERT_TRUE(stack->KillAndRestart("processor0").ok());
  auto run = stack->Wait(*id, absl::Seconds(60));
  ASSERT_TRUE(run.ok()) << run.status();
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(run->status(), v1::RUN_STATUS_COMPLETED) << run->error().message() << "\n" << stack->Logs();
  const Json result = Json::parse(run->result_json());
  EXPECT_GE(took, absl::Milliseconds(4000));
  // The task's clock agrees: it resumed no earlier than the delay.
  EXPECT_GE(result["waited"].get<int64_t>(), 4000) << result.dump();
  EXPECT_EQ(result["fired"]["ms"], 4000) << result.dump();
  EXPECT_NE(result["refused"].get<std::string>().find("INVALID_ARGUMENT: args.ms"), std::string::npos)
      << result.dump();
  // One timer row fired and one refused: nothing recorded twice.
  int timers = 0;
  const v1::GetRunResponse response = GetRun(stack.get(), *id);
  for (const auto& s : response.stack_runs()) timers += s.service() == "timer";
  EXPECT_EQ(timers, 2);
}

TEST(Timers, ShortTimersFireInTheirOrderWithoutWaitingForASweep) {
  StackOptions options;
  options.sweep_interval = "30s";  // a timer must not wait for a sweep to be found
  auto stack = StartStack(options);
  ASSERT_NE(stack, nullptr);
  ASSERT_TRUE(stack->Publish("racer", R"(
    const order = [];
    const t = (ms, name) => __callHostTool__('timer', 'sleep', {ms}).then(() => order.push(name));
    const t0 = Date.now();
    await Promise.all([t(600, 'slow'), t(50, 'fast'), t(300, 'middle')]);
    return {order, waited: Date.now() - t0};
  )").ok());
  const absl::Time start = absl::Now();
  auto id = stack->Submit("racer", "{}");
  ASSERT_TRUE(id.ok());
  auto run = stack->Wait(*id, absl::Seconds(20));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->status(), v1::RUN_STATUS_COMPLETED) << run->error().message();
  const Json result = Json::parse(run->result_json());
  EXPECT_EQ(result["order"], Json::parse(R"(["fast","middle","slow"])")) << result.dump();
  EXPECT_GE(result["waited"].get<int64_t>(), 600);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "timers waited for a sweep";
}

}  // namespace
}  // namespace tasker::e2e
