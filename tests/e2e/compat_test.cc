// What users of the earlier JavaScript platform bring, over real processes:
// durable timers (setTimeout is a journaled host call that survives
// restarts), the old HTTP API, and task code written in the old style.
#include <signal.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/client/channel.h"
#include "tests/e2e/stack.h"
#include "tests/support/process.h"

namespace tasker::e2e {
namespace {

namespace v1 = ::tasker::v1;
using Json = nlohmann::json;

v1::GetRunResponse GetRun(Stack* stack, const std::string& id) {
  v1::GetRunRequest get;
  get.set_name(id);
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

// Runs a shell command written for http://localhost:3000 against `port`.
std::string Curl(const std::string& command, int port) {
  std::string rewritten = command;
  for (size_t at; (at = rewritten.find("localhost:3000")) != std::string::npos;) {
    rewritten.replace(at, 14, absl::StrCat("127.0.0.1:", port));
  }
  // bash (pipefail: a failing curl before `| jq` fails the command).
  const std::string script = testing::MakeTempDir("curl") + "/session.sh";
  std::ofstream(script) << "set -o pipefail\n" << rewritten << "\n";
  auto [code, output] = testing::RunCommand("bash " + script);
  EXPECT_EQ(code, 0) << rewritten << "\n" << output;
  return output;
}

Json ParseOrFail(const std::string& text) {
  Json json = Json::parse(text, nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << text;
  return json;
}

// The old platform's curl session (its CLAUDE.md, "Development Server API"
// and "Debugging"; CREDENTIALS.md; the scripted session its dev server was
// built for), command for command, only the port changed.
TEST(OldHttpApi, TheOldCurlSessionWordForWord) {
  auto stack = StartStack();
  ASSERT_NE(stack, nullptr);
  const int port = stack->http_port();
  // A task as the old README's "my-task": positional [{...}] args, method path arrays.
  Json store = ParseOrFail(Curl(R"(curl -s -X POST http://localhost:3000/task/store-function \
    -H "Content-Type: application/json" \
    -d '{"task_identifier":"my-task","code":"const echoed = await __callHostTool__(\"admin-debug\", [\"echo\"], [{ param: input.param }]);\nreturn { success: true, echoed, param: input.param };","metadata":{"description":"The old README task"}}')",
                                port));
  EXPECT_EQ(store["success"], true) << store.dump();
  EXPECT_EQ(store["message"], "Function stored");

  Json health = ParseOrFail(Curl("curl -s http://localhost:3000/health", port));
  EXPECT_EQ(health["status"], "ok") << health.dump();
  EXPECT_TRUE(health["timestamp"].is_string());

  Json submitted = ParseOrFail(Curl(R"(curl -s -X POST http://localhost:3000/task/submit \
  -H "Content-Type: application/json" \
  -d '{
    "task_identifier": "my-task",
    "input": { "param": "value" }
  }')",
                                    port));
  EXPECT_EQ(submitted["success"], true) << submitted.dump();
  EXPECT_EQ(submitted["taskRunId"], 1) << submitted.dump();
  EXPECT_EQ(submitted["data"]["result"]["taskRunId"], 1) << submitted.dump();

  // Status by the integer id; the run goes on by itself.
  Json status;
  for (int i = 0; i < 200; ++i) {
    status = ParseOrFail(Curl("curl -s http://localhost:3000/task/status/1", port));
    if (status["status"] == "completed" || status["status"] == "failed") break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(status["status"], "completed") << status.dump();
  EXPECT_EQ(status["id"], 1);
  EXPECT_EQ(status["task_identifier"], "my-task");
  EXPECT_EQ(status["input"], Json::parse(R"({"param":"value"})"));
  EXPECT_EQ(status["result"]["echoed"], Json::parse(R"([{"param":"value"}])")) << status.dump();
  EXPECT_EQ(status["error"], nullptr);
  // SQLite's CURRENT_TIMESTAMP form.
  EXPECT_EQ(status["created_at"].get<std::string>().size(), 19u) << status.dump();

  const Json stack_runs = ParseOrFail(Curl("curl -s http://localhost:3000/task/status/1 | jq '.stack_runs'", port));
  ASSERT_TRUE(stack_runs.is_array()) << stack_runs.dump();
  ASSERT_EQ(stack_runs.size(), 2u) << stack_runs.dump();
  const Json& root = stack_runs[0]["operation"] == "task_init" ? stack_runs[0] : stack_runs[1];
  const Json& call = stack_runs[0]["operation"] == "task_init" ? stack_runs[1] : stack_runs[0];
  EXPECT_EQ(root["parent_stack_run_id"], nullptr);
  EXPECT_EQ(root["task_run_id"], 1);
  EXPECT_EQ(call["operation"], "admin-debug.echo");
  EXPECT_EQ(call["parent_stack_run_id"], root["id"]) << stack_runs.dump();
  EXPECT_TRUE(call["id"].is_number_integer());
  EXPECT_EQ(call["status"], "completed");
  EXPECT_EQ(call["input"], Json::parse(R"([{"param":"value"}])"));
  EXPECT_EQ(call["result"], Json::parse(R"([{"param":"value"}])"));
  EXPECT_EQ(call["attempts"], 1);

  // CREDENTIALS.md: the keystore over HTTP.
  Json stored = ParseOrFail(Curl(R"(curl -s -X POST http://localhost:3000/task/keystore \
  -H "Content-Type: application/json" \
  -d '{
    "key": "GAPI_ADMIN_EMAIL",
    "value": "admin@example.com"
  }')",
                                 port));
  EXPECT_EQ(stored["success"], true) << stored.dump();
  EXPECT_EQ(stored["message"], "Stored GAPI_ADMIN_EMAIL");
  Json read = ParseOrFail(Curl("curl -s http://localhost:3000/task/keystore/GAPI_ADMIN_EMAIL", port));
  EXPECT_EQ(read["success"], true) << read.dump();
  EXPECT_EQ(read["value"], "admin@example.com");
  Json missing = ParseOrFail(Curl("curl -s http://localhost:3000/task/keystore/NOPE", port));
  EXPECT_EQ(missing["success"], false);
  EXPECT_EQ(missing["error"], "Key not found");
  EXPECT_EQ(Curl("curl -s -o /dev/null -w '%{http_code}' http://localhost:3000/task/keystore/NOPE", port), "404");

  // The scripted session (fetch POSTs with an empty body): submit, execute
  // (waits for the run), process.
  Json second = ParseOrFail(Curl(R"(curl -s -X POST http://localhost:3000/task/submit -H "Content-Type: application/json" -d '{"task_identifier":"my-task","input":{"param":"two"}}')", port));
  const int id = second["data"]["result"]["taskRunId"];
  EXPECT_EQ(id, 2);
  Json executed = ParseOrFail(Curl(absl::StrCat("curl -s -X POST -d '' http://localhost:3000/task/execute/", id), port));
  EXPECT_EQ(executed["success"], true) << executed.dump();
  EXPECT_EQ(executed["result"]["param"], "two") << executed.dump();
  Json processed = ParseOrFail(Curl("curl -s -X POST -d '' http://localhost:3000/task/process", port));
  EXPECT_EQ(processed["success"], true);
  EXPECT_EQ(processed["message"], "Processed pending stack runs");
  EXPECT_EQ(processed["activeRuns"], 0) << processed.dump();

  // GET / answers the old endpoint listing; a 404 in the old shape.
  Json root_listing = ParseOrFail(Curl("curl -s http://localhost:3000/", port));
  EXPECT_TRUE(root_listing["endpoints"].contains("POST /task/submit")) << root_listing.dump();
  Json unknown = ParseOrFail(Curl("curl -s http://localhost:3000/task/status/99", port));
  EXPECT_EQ(unknown["success"], false);
  EXPECT_NE(unknown["error"].get<std::string>().find("not found"), std::string::npos) << unknown.dump();
}

TEST(OldHttpApi, EdgeFunctionRoutesPostgrestViewsCorsAndDirectCalls) {
  auto stack = StartStack();
  ASSERT_NE(stack, nullptr);
  const int port = stack->http_port();
  ASSERT_TRUE(stack->Publish("sum", "return {sum: input.a + input.b};").ok());
  // The edge function's execute form, and the path form beside it: no collision.
  Json executed = ParseOrFail(Curl(R"(curl -s -X POST http://localhost:3000/functions/v1/tasks/execute -H "Content-Type: application/json" -d '{"task_identifier":"sum","input":{"a":1,"b":2}}')", port));
  EXPECT_EQ(executed["success"], true) << executed.dump();
  EXPECT_EQ(executed["data"]["result"]["status"], "submitted");
  EXPECT_EQ(executed["data"]["task_identifier"], "sum");
  const int first = executed["data"]["result"]["taskRunId"];
  Json by_path = ParseOrFail(Curl(R"(curl -s -X POST http://localhost:3000/functions/v1/tasks/sum -d '{"a":5,"b":6}')", port));
  const int second = by_path["taskRunId"];
  EXPECT_EQ(second, first + 1) << by_path.dump();
  ASSERT_TRUE(stack->Wait(by_path["runId"], absl::Seconds(30)).ok());
  ASSERT_TRUE(stack->Wait(std::to_string(first), absl::Seconds(30)).ok());
  Json recent = ParseOrFail(Curl("curl -s http://localhost:3000/functions/v1/tasks/status", port));
  EXPECT_EQ(recent["data"]["task_runs"].size(), 2u) << recent.dump();
  Json one = ParseOrFail(Curl(absl::StrCat("curl -s http://localhost:3000/functions/v1/tasks/status/", second), port));
  EXPECT_EQ(one["data"]["result"]["sum"], 11) << one.dump();
  Json list = ParseOrFail(Curl("curl -s http://localhost:3000/functions/v1/tasks/list", port));
  EXPECT_EQ(list["data"]["tasks"][0]["name"], "sum") << list.dump();

  // PostgREST views, read-only.
  Json rows = ParseOrFail(Curl(
      "curl -s 'http://localhost:3000/rest/v1/task_runs?select=id,status,result&task_identifier=eq.sum&order=id.desc&limit=1'",
      port));
  ASSERT_EQ(rows.size(), 1u) << rows.dump();
  EXPECT_EQ(rows[0], Json::parse(absl::StrCat(R"({"id":)", second, R"(,"status":"completed","result":{"sum":11}})")));
  Json by_id = ParseOrFail(Curl(absl::StrCat("curl -s 'http://localhost:3000/rest/v1/task_runs?id=eq.", first, "'"), port));
  ASSERT_EQ(by_id.size(), 1u);
  EXPECT_EQ(by_id[0]["result"]["sum"], 3);
  Json srs = ParseOrFail(Curl(absl::StrCat("curl -s 'http://localhost:3000/rest/v1/stack_runs?task_run_id=eq.", first,
                                           "&select=id,operation,status'"),
                              port));
  ASSERT_EQ(srs.size(), 1u) << srs.dump();
  EXPECT_EQ(srs[0]["operation"], "task_init");
  Json bad = ParseOrFail(Curl("curl -s 'http://localhost:3000/rest/v1/task_runs?colour=eq.red'", port));
  EXPECT_EQ(bad["code"], "INVALID_ARGUMENT");
  EXPECT_NE(bad["error"].get<std::string>().find("colour"), std::string::npos) << bad.dump();
  Json unfiltered = ParseOrFail(Curl("curl -s 'http://localhost:3000/rest/v1/stack_runs'", port));
  EXPECT_NE(unfiltered["error"].get<std::string>().find("task_run_id"), std::string::npos) << unfiltered.dump();

  // CORS: a preflight needs no token; answers carry the header.
  const std::string preflight = Curl(
      "curl -s -i -X OPTIONS http://localhost:3000/task/submit -H 'Origin: http://app.example' "
      "-H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type,authorization'",
      port);
  EXPECT_NE(preflight.find("204"), std::string::npos) << preflight;
  EXPECT_NE(preflight.find("Access-Control-Allow-Origin: *"), std::string::npos) << preflight;
  EXPECT_NE(preflight.find("authorization"), std::string::npos) << preflight;
  EXPECT_NE(Curl("curl -s -i http://localhost:3000/health", port).find("Access-Control-Allow-Origin: *"),
            std::string::npos);

  // The wrappedgapi chain route: one call, performed durably as a run.
  Json domains = ParseOrFail(Curl(R"(curl -s -X POST http://localhost:3000/functions/v1/wrappedgapi -H "Content-Type: application/json" -d '{"chain":[{"type":"get","property":"admin"},{"type":"get","property":"domains"},{"type":"call","property":"list","args":[{"customer":"my_customer"}]}]}')", port));
  EXPECT_EQ(domains["success"], true) << domains.dump();
  ASSERT_TRUE(domains["data"]["domains"].is_array()) << domains.dump();
  EXPECT_FALSE(domains["data"]["domains"].empty());
  Json echo = ParseOrFail(Curl(R"(curl -s -X POST http://localhost:3000/wrappedadmin-debug -d '{"method":"echo","args":[{"x":1}]}')", port));
  EXPECT_EQ(echo["result"], Json::parse(R"([{"x":1}])")) << echo.dump();
  Json refused = ParseOrFail(Curl(R"(curl -s -X POST http://localhost:3000/functions/v1/wrappedgapi -d '{"chain":[]}')", port));
  EXPECT_EQ(refused["code"], "INVALID_ARGUMENT") << refused.dump();
  Json no_method = ParseOrFail(Curl(R"(curl -s -X POST http://localhost:3000/functions/v1/wrappedgapi -d '{"chain":[{"property":"nope","args":[]}]}')", port));
  EXPECT_EQ(no_method["success"], false) << no_method.dump();
  EXPECT_NE(no_method["error"].get<std::string>().find("nope"), std::string::npos) << no_method.dump();
}

}  // namespace
}  // namespace tasker::e2e
