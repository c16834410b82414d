// Many runs over replicated executors and processors; and kill -9 of every
// component during a load.
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "tests/e2e/stack.h"
#include "tests/support/postgres.h"

namespace tasker::e2e {
namespace {

namespace v1 = ::tasker::v1;

std::string ResultJson(const v1::TaskRun& run) { return run.result_json(); }

bool Finished(v1::RunStatus s) {
  return s == v1::RUN_STATUS_COMPLETED || s == v1::RUN_STATUS_FAILED || s == v1::RUN_STATUS_CANCELLED;
}

// How many of `ids` have not finished yet.
int Unfinished(Stack* stack, const std::vector<std::string>& ids) {
  int unfinished = 0;
  for (const auto& id : ids) {
    v1::GetRunRequest get;
    get.set_name(id);
    v1::GetRunResponse response;
    auto context = MakeContext(absl::Seconds(10));
    if (!stack->api()->GetRun(context.get(), get, &response).ok() || !Finished(response.run().status())) {
      ++unfinished;
    }
  }
  return unfinished;
}


class ScaleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScaleTest, TwoExecutorsTwoProcessorsEachCallPerformedOnce) {
  StackOptions options;
  options.database_url = DatabaseUrlFor(GetParam(), "scale");
  ASSERT_EQ(options.database_url.rfind("unavailable", 0), std::string::npos) << options.database_url;
  options.executors = 2;
  options.processors = 2;
  options.google_messages_per_user = 70;  // user0 has 70 messages, enough for 200 runs over 3 users
  auto stack = Stack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_TRUE((*stack)->Publish("fetch", R"(
    const m = await __callHostTool__('gapi', 'gmail.users.messages.get', {userId: input.user, id: input.id});
    const again = await __callHostTool__('admin-debug', 'echo', {id: m.id});
    return again.id;
  )").ok());
  constexpr int kRuns = 200;
  std::vector<std::pair<std::string, std::string>> runs;  // run id, message id
  for (int i = 0; i < kRuns; ++i) {
    const int user = i % 3;
    const std::string email = absl::StrCat("user", user, "@example.com");
    const std::string message = absl::StrCat("user", user, "-m", i / 3);
    auto id = (*stack)->Submit("fetch", absl::StrCat(R"({"user":")", email, R"(","id":")", message, R"("})"));
    ASSERT_TRUE(id.ok()) << id.status();
    runs.push_back({*id, message});
  }
  for (const auto& [run_id, message] : runs) {
    auto run = (*stack)->Wait(run_id, absl::Seconds(180));
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_EQ(run->status(), v1::RUN_STATUS_COMPLETED) << run->error().message();
    EXPECT_EQ(ResultJson(*run), absl::StrCat("\"", message, "\""));
  }
  // The emulator saw every message fetched exactly once.
  for (int i = 0; i < kRuns; ++i) {
    const int user = i % 3;
    EXPECT_EQ((*stack)->google()->Count(absl::StrCat("GET /gmail/v1/users/user", user, "@example.com/messages/user",
                                                     user, "-m", i / 3)),
              1)
        << i;
  }
}

TEST_P(ScaleTest, KillNineOfEveryComponentDuringALoad) {
  StackOptions options;
  options.database_url = DatabaseUrlFor(GetParam(), "scale");
  ASSERT_EQ(options.database_url.rfind("unavailable", 0), std::string::npos) << options.database_url;
  options.executors = 2;
  options.processors = 2;
  options.lease = "2s";
  options.sweep_interval = "500ms";
  auto stack = Stack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_TRUE((*stack)->Publish("steps", R"(
    let acc = input.n;
    for (let i = 0; i < 3; i++) {
      // A slow call keeps the load going long enough for every kill to land in it.
      await __callHostTool__('admin-debug', 'sleep', {ms: 300});
      acc = (await __callHostTool__('admin-debug', 'echo', {acc: acc + 1})).acc;
    }
    return acc;
  )").ok());
  constexpr int kRuns = 200;
  std::vector<std::string> ids;
  for (int i = 0; i < kRuns; ++i) {
    auto id = (*stack)->Submit("steps", absl::StrCat(R"({"n":)", i, "}"), absl::StrCat("load-", i));
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  // The kills must land during the load, or this test proves nothing.
  const int unfinished_at_first_kill = Unfinished(stack->get(), ids);
  EXPECT_GT(unfinished_at_first_kill, 0) << "every run finished before the first kill";
  std::mt19937 rng(std::random_device{}());
  for (const char* victim : {"executor0", "processor1", "proxy", "storage", "executor1", "processor0"}) {
    absl::SleepFor(absl::Milliseconds(200 + rng() % 600));  // spread the kills over the load
    ASSERT_TRUE((*stack)->KillAndRestart(victim).ok()) << victim;
  }
  for (int i = 0; i < kRuns; ++i) {
    auto run = (*stack)->Wait(ids[i], absl::Seconds(240));
    ASSERT_TRUE(run.ok()) << run.status() << "\n" << (*stack)->Logs().substr(0, 5000);
    ASSERT_EQ(run->status(), v1::RUN_STATUS_COMPLETED) << run->error().message();
    EXPECT_EQ(ResultJson(*run), std::to_string(i + 3)) << ids[i];
    EXPECT_EQ(run->suspend_count(), 6) << ids[i];
    // Nothing was recorded twice: one root and exactly one completed child per
    // call, whatever crashed in between (a replay matched every call against
    // the journal instead of recording it again).
    v1::GetRunRequest get;
    get.set_name(ids[i]);
    v1::GetRunResponse response;
    auto context = MakeContext(absl::Seconds(10));
    ASSERT_TRUE((*stack)->api()->GetRun(context.get(), get, &response).ok()) << ids[i];
    int roots = 0, children = 0;
    for (const auto& s : response.stack_runs()) {
      (s.parent_id().empty() ? roots : children)++;
      EXPECT_EQ(s.status(), v1::STACK_RUN_STATUS_COMPLETED) << ids[i] << " " << s.id();
    }
    EXPECT_EQ(roots, 1) << ids[i];
    EXPECT_EQ(children, 6) << ids[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ScaleTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tasker::e2e
