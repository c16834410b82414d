// Warm runs over real processes, on both backends: kill -9 of an executor
// and of an executor's JavaScript worker at random points during runs with
// many calls, and a drain (SIGTERM) of an executor holding waiting runs.
// Every run completes exactly once, no call is recorded (or performed)
// twice, and what the task saw before a crash (results, Date.now(),
// Math.random()) is what it saw after: the args it recorded and its result
// agree.
#include <signal.h>

#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "tests/e2e/stack.h"
#include "tests/support/postgres.h"

namespace tasker::e2e {
namespace {

namespace v1 = ::tasker::v1;

// Each call carries what the task observed; the result lists the echoes.
constexpr char kObserver[] = R"(
  const seen = [];
  for (let i = 0; i < input.calls; i++) {
    const r = await __callHostTool__('admin-debug', 'echo', {i, rnd: Math.random(), now: Date.now(), run: input.n});
    seen.push(r);
    if (i % 4 === 3) await __callHostTool__('admin-debug', 'sleep', {ms: 40});
  }
  const mail = await __callHostTool__('gapi', 'gmail.users.messages.get', {userId: input.user, id: input.message});
  return {seen, mail: mail.id};
)";

// The tasker-js-worker processes of process `pid`.
std::vector<int> ChildrenOf(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/task/", pid, "/children"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    int child = 0;
    if (absl::SimpleAtoi(part, &child)) out.push_back(child);
  }
  return out;
}

v1::GetRunResponse GetRun(Stack* stack, const std::string& id) {
  v1::GetRunRequest get;
  get.set_name(id);
  v1::GetRunResponse response;
  auto context = MakeContext(absl::Seconds(10));
  EXPECT_TRUE(stack->api()->GetRun(context.get(), get, &response).ok()) << id;
  return response;
}

// Checks one finished run: one root, exactly one completed row per call
// (numbered 1..n), and the echoes the task returned equal the args it
// recorded in the journal.
void CheckRun(Stack* stack, const std::string& id, int calls, const std::string& message) {
  v1::GetRunResponse response = GetRun(stack, id);
  ASSERT_EQ(response.run().status(), v1::RUN_STATUS_COMPLETED) << id << ": " << response.run().error().message();
  nlohmann::json result = nlohmann::json::parse(response.run().result_json());
  EXPECT_EQ(result["mail"], message) << id;
  std::map<int, nlohmann::json> echo_args;
  std::set<int> indexes;
  int roots = 0;
  for (const auto& s : response.stack_runs()) {
    if (s.parent_id().empty()) {
      ++roots;
      continue;
    }
    EXPECT_EQ(s.status(), v1::STACK_RUN_STATUS_COMPLETED) << id << " call " << s.call_index();
    EXPECT_TRUE(indexes.insert(s.call_index()).second) << id << ": call " << s.call_index() << " recorded twice";
    if (s.method() == "echo") echo_args[s.call_index()] = nlohmann::json::parse(s.args_json());
  }
  EXPECT_EQ(roots, 1);
  const int sleeps = calls / 4;
  EXPECT_EQ(static_cast<int>(indexes.size()), calls + sleeps + 1) << id;
  ASSERT_EQ(static_cast<int>(echo_args.size()), calls) << id;
  ASSERT_EQ(static_cast<int>(result["seen"].size()), calls) << id;
  int i = 0;
  for (const auto& [index, args] : echo_args) {
    EXPECT_EQ(result["seen"][i], args) << id << ": the task saw other values than it recorded at call " << index;
    EXPECT_EQ(args["i"], i);
    ++i;
  }
}

class WarmRunsTest : public ::testing::TestWithParam<std::string> {
 protected:
  StackOptions Options() {
    StackOptions options;
    options.database_url = DatabaseUrlFor(GetParam(), "warm");
    EXPECT_EQ(options.database_url.rfind("unavailable", 0), std::string::npos) << options.database_url;
    options.executors = 2;
    options.processors = 1;
    options.lease = "2s";
    options.sweep_interval = "500ms";
    options.google_users = 3;
    options.google_messages_per_user = 14;
    return options;
  }
};

TEST_P(WarmRunsTest, KillNineOfExecutorsAndTheirWorkersLosesNothing) {
  auto stack = Stack::Start(Options());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_TRUE((*stack)->Publish("observer", kObserver).ok());
  constexpr int kRuns = 40, kCalls = 12;
  std::vector<std::pair<std::string, std::string>> runs;
  for (int i = 0; i < kRuns; ++i) {
    const int user = i % 3;
    const std::string message = absl::StrCat("user", user, "-m", i / 3);
    auto id = (*stack)->Submit("observer",
                               absl::StrCat(R"({"calls":)", kCalls, R"(,"n":)", i, R"(,"user":"user)", user,
                                            R"(@example.com","message":")", message, R"("})"));
    ASSERT_TRUE(id.ok()) << id.status();
    runs.push_back({*id, message});
  }
  std::mt19937 rng(std::random_device{}());
  int worker_kills = 0;
  for (int round = 0; round < 3; ++round) {
    absl::SleepFor(absl::Milliseconds(150 + rng() % 400));
    // A worker of executor1 (its live runs are rebuilt there, in place)...
    for (int child : ChildrenOf((*stack)->pid("executor1"))) {
      if (kill(child, SIGKILL) == 0) ++worker_kills;
      break;
    }
    absl::SleepFor(absl::Milliseconds(100 + rng() % 300));
    // ...and the whole of executor0 (its runs are taken over after the lease).
    if (round < 2) ASSERT_TRUE((*stack)->KillAndRestart("executor0").ok());
  }
  EXPECT_GT(worker_kills, 0);
  int unfinished = 0;
  for (const auto& [id, message] : runs) {
    auto run = (*stack)->Wait(id, absl::Seconds(240));
    ASSERT_TRUE(run.ok()) << run.status();
    unfinished += run->status() != v1::RUN_STATUS_COMPLETED;
    CheckRun(stack->get(), id, kCalls, message);
  }
  EXPECT_EQ(unfinished, 0);
  // Every message was fetched exactly once: no call was performed twice.
  for (int i = 0; i < kRuns; ++i) {
    const int user = i % 3;
    EXPECT_EQ((*stack)->google()->Count(absl::StrCat("GET /gmail/v1/users/user", user, "@example.com/messages/user",
                                                     user, "-m", i / 3)),
              1)
        << i;
  }
}

TEST_P(WarmRunsTest, ADrainedExecutorCheckpointsItsWaitingRuns) {
  StackOptions options = Options();
  options.executors = 1;
  auto stack = Stack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_TRUE((*stack)->Publish("waits", R"(
    const a = Math.random();
    await __callHostTool__('admin-debug', 'sleep', {ms: 2500});
    const b = await __callHostTool__('admin-debug', 'echo', {a});
    return b.a === a ? 'same' : 'different';
  )").ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = (*stack)->Submit("waits", "{}");
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  // All five are waiting on their sleeps, warm in the executor.
  for (const auto& id : ids) {
    for (int i = 0; i < 200 && GetRun(stack->get(), id).run().status() != v1::RUN_STATUS_SUSPENDED_WAITING_CHILD; ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  ASSERT_TRUE((*stack)->TerminateAndRestart("executor0").ok());
  EXPECT_NE((*stack)->Logs().find("\"msg\":\"drained\""), std::string::npos);
  for (const auto& id : ids) {
    auto run = (*stack)->Wait(id, absl::Seconds(60));
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_EQ(run->status(), v1::RUN_STATUS_COMPLETED) << run->error().message();
    EXPECT_EQ(run->result_json(), "\"same\"");
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, WarmRunsTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tasker::e2e
