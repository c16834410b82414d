// End to end: real binaries as separate processes, on SQLite and Postgres.
#include <sqlite3.h>

#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "tests/e2e/stack.h"
#include "tests/support/postgres.h"

namespace tasker::e2e {
namespace {

namespace v1 = ::tasker::v1;

nlohmann::json ResultOf(const v1::TaskRun& run) {
  nlohmann::json result = nlohmann::json::parse(run.result_json(), nullptr, false);
  EXPECT_FALSE(result.is_discarded()) << run.result_json();
  return result.is_discarded() ? nlohmann::json(nullptr) : result;
}

class EndToEndTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    StackOptions options;
    options.database_url = DatabaseUrlFor(GetParam(), "e2e");
    ASSERT_EQ(options.database_url.rfind("unavailable", 0), std::string::npos) << options.database_url;
    options.step_cpu = "1s";
    options.app_database_sql =
        "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, done BOOLEAN NOT NULL DEFAULT 0)";
    auto stack = Stack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
  }
  void TearDown() override {
    if (HasFailure() && stack_) std::fprintf(stderr, "%s\n", stack_->Logs().substr(0, 20000).c_str());
  }

  v1::TaskRun RunTask(const std::string& name, const std::string& code, const std::string& input = "{}") {
    auto published = stack_->Publish(name, code);
    EXPECT_TRUE(published.ok()) << published.status();
    auto id = stack_->Submit(name, input);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return v1::TaskRun();
    auto run = stack_->Wait(*id, absl::Seconds(60));
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::TaskRun();
  }

  std::unique_ptr<Stack> stack_;
};

TEST_P(EndToEndTest, TasksFinishWithTheRightStatusAndResult) {
  auto single = RunTask("single", "return await __callHostTool__('admin-debug', 'echo', {x: 1});");
  EXPECT_EQ(single.status(), v1::RUN_STATUS_COMPLETED) << single.error().message();
  EXPECT_EQ(ResultOf(single), nlohmann::json::parse(R"({"x":1})"));

  auto multi = RunTask("multi", R"(
    const a = await __callHostTool__('admin-debug', 'echo', {v: 'a'});
    const d = await __callHostTool__('gapi', 'admin.domains.list', {customer: 'my_customer'});
    const b = await __callHostTool__('admin-debug', 'echo', [{v: a.v + 'b'}]);
    return {b: b[0].v, domains: d.domains.length};
  )");
  EXPECT_EQ(multi.status(), v1::RUN_STATUS_COMPLETED) << multi.error().message();
  EXPECT_EQ(ResultOf(multi), nlohmann::json::parse(R"({"b":"ab","domains":2})"));
  EXPECT_EQ(multi.suspend_count(), 3);

  auto loop = RunTask("loop", R"(
    let sum = 0;
    for (let i = 1; i <= 6; i++) sum += (await __callHostTool__('admin-debug', 'echo', {i})).i;
    return sum;
  )");
  EXPECT_EQ(ResultOf(loop), 21);

  auto fanout = RunTask("fanout", R"(
    const rs = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((i) => __callHostTool__('admin-debug', 'echo', {i})));
    return rs.map((r) => r.i);
  )");
  EXPECT_EQ(ResultOf(fanout), nlohmann::json::parse("[1,2,3,4,5,6,7,8]"));
  EXPECT_EQ(fanout.suspend_count(), 1);

  auto caught = RunTask("caught", R"(
    try {
      await __callHostTool__('gapi', 'admin.domains.list', {customer: 'nobody'});
      return 'no error?';
    } catch (e) {
      return {code: e.code, message: e.message, after: (await __callHostTool__('admin-debug', 'echo', 'ok'))};
    }
  )");
  EXPECT_EQ(caught.status(), v1::RUN_STATUS_COMPLETED) << caught.error().message();
  EXPECT_EQ(ResultOf(caught)["code"], "HTTP_404");
  EXPECT_EQ(ResultOf(caught)["after"], "ok");

  auto uncaught = RunTask("uncaught", "await __callHostTool__('gapi', 'admin.domains.list', {customer: 'nobody'});");
  EXPECT_EQ(uncaught.status(), v1::RUN_STATUS_FAILED);
  EXPECT_NE(uncaught.error().message().find("Resource Not Found"), std::string::npos) << uncaught.error().message();
  EXPECT_EQ(uncaught.error().code(), "TASK_ERROR");

  auto limited = RunTask("spin", "await __callHostTool__('admin-debug', 'echo', 1); while (true) {}");
  EXPECT_EQ(limited.status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(limited.error().code(), "TIME_LIMIT");

  auto bad_method = RunTask("badmethod", R"(
    try { await __callHostTool__('gapi', 'nope.nothing', {}); } catch (e) { return e.code; }
  )");
  EXPECT_EQ(ResultOf(bad_method), "INVALID_ARGUMENT");
}

TEST_P(EndToEndTest, CancelStopsASuspendedRun) {
  ASSERT_TRUE(stack_->Publish("slow", R"(
    await __callHostTool__('admin-debug', 'sleep', {ms: 3000});
    return 'finished';
  )").ok());
  auto id = stack_->Submit("slow", "{}");
  ASSERT_TRUE(id.ok());
  // Wait until it is suspended and a processor is performing the slow call.
  v1::GetRunRequest get;
  get.set_name(*id);
  v1::GetRunResponse response;
  auto call_in_flight = [&response] {
    for (const auto& s : response.stack_runs()) {
      if (!s.parent_id().empty() && s.status() == v1::STACK_RUN_STATUS_RUNNING) return true;
    }
    return false;
  };
  for (int i = 0; i < 250; ++i) {
    auto context = MakeContext(absl::Seconds(5));
    ASSERT_TRUE(stack_->api()->GetRun(context.get(), get, &response).ok());
    if (response.run().status() == v1::RUN_STATUS_SUSPENDED_WAITING_CHILD && call_in_flight()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(response.run().status(), v1::RUN_STATUS_SUSPENDED_WAITING_CHILD);
  ASSERT_TRUE(call_in_flight()) << "no processor took the call within 5 s";
  v1::CancelRunRequest cancel;
  cancel.set_name(*id);
  cancel.set_reason("no longer needed");
  v1::TaskRun cancelled;
  auto context = MakeContext(absl::Seconds(5));
  ASSERT_TRUE(stack_->api()->CancelRun(context.get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.status(), v1::RUN_STATUS_CANCELLED);
  // The slow call goes on in the processor; wait until it has finished and its
  // result was refused, then check the run stayed cancelled.
  std::string child;
  for (const auto& s : response.stack_runs()) {
    if (!s.parent_id().empty()) child = s.id();
  }
  ASSERT_FALSE(child.empty());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  auto dropped_logged = [&] {
    // The processor's line about that call (JSON: its stack_run_id comes from the call's log context).
    for (absl::string_view line : absl::StrSplit(stack_->Logs(), '\n')) {
      if (absl::StrContains(line, "\"msg\":\"call result dropped\"") &&
          absl::StrContains(line, absl::StrCat("\"stack_run_id\":\"", child, "\""))) {
        return true;
      }
    }
    return false;
  };
  while (!dropped_logged()) {
    ASSERT_LT(absl::Now(), deadline) << "the processor never finished the cancelled call\n" << stack_->Logs();
    absl::SleepFor(absl::Milliseconds(50));
  }
  auto run = stack_->Wait(*id, absl::Seconds(5));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status(), v1::RUN_STATUS_CANCELLED);
  EXPECT_EQ(run->error().message(), "no longer needed");
  EXPECT_EQ(run->suspend_count(), 1);  // never resumed
}

TEST_P(EndToEndTest, GmailSearchExampleAgainstTheGoogleEmulator) {
  auto run = RunTask("gmail-search", ReadRunfile("deploy/examples/gmail-search.js"),
                     R"({"query":"newer_than:7d","samplesPerUser":2})");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.error().message() << "\n" << run.error().stack();
  const auto result = ResultOf(run);
  // Fixtures: 2 domains x 3 users; user u has 4*(u+1) messages.
  EXPECT_EQ(result["query"], "newer_than:7d");
  EXPECT_EQ(result["domains"], nlohmann::json::parse(R"(["example.com","example.org"])"));
  EXPECT_EQ(result["counts"]["domains"], 2);
  EXPECT_EQ(result["counts"]["users"], 6);
  EXPECT_EQ(result["counts"]["mailboxesWithMatches"], 6);
  EXPECT_EQ(result["counts"]["messages"], 2 * (4 + 8 + 12));
  EXPECT_EQ(result["counts"]["samples"], 12);
  ASSERT_EQ(result["samples"].size(), 12u);
  EXPECT_EQ(result["samples"][0]["user"], "user0@example.com");
  EXPECT_EQ(result["samples"][0]["id"], "user0-m0");
  EXPECT_EQ(result["samples"][0]["subject"], "Subject 0");
  EXPECT_EQ(result["samples"][0]["from"], "sender@example.com");
  EXPECT_EQ(result["samples"][1]["subject"], "Subject 1");
  EXPECT_EQ(result["perUser"][2]["matches"], 12);
  // Logs from the task made it into the run.
  v1::GetRunRequest get;
  get.set_name(run.id());
  v1::GetRunResponse response;
  auto context = MakeContext(absl::Seconds(5));
  ASSERT_TRUE(stack_->api()->GetRun(context.get(), get, &response).ok());
  ASSERT_GE(response.run().logs_size(), 2);
  EXPECT_EQ(response.run().logs(0).message(), "found 2 domains");
  EXPECT_GE(response.stack_runs_size(), 1 + 1 + 2 + 6 + 12);
}

// Task code reads and writes the operator's application database through
// the `database` provider; Tasker's own tables stay out of reach (on either
// store backend the application database is a separate SQLite file).
TEST_P(EndToEndTest, TasksUseTheApplicationDatabase) {
  auto run = RunTask("todos", R"(
    const db = (method, args) => __callHostTool__('database', method, args);
    const inserted = await db('insert', {table: 'todos', rows: [{title: 'write'}, {title: 'test', done: true},
                                                                {title: 'ship'}]});
    await db('update', {table: 'todos', values: {done: true}, filters: [{column: 'title', op: 'eq', value: 'write'}]});
    const open = await db('select', {table: 'todos', filters: [{column: 'done', op: 'is', value: false}]});
    const all = await db('select', {table: 'todos', columns: ['title', 'done'], order: [{column: 'id'}]});
    const codes = {};
    for (const [name, args] of [['reserved', {table: 'task_runs'}], ['missing', {table: 'nope'}]]) {
      try { await db('select', args); } catch (e) { codes[name] = e.code; }
    }
    try { await db('insert', {table: 'todos', rows: {title: 'ship'}}); } catch (e) { codes.duplicate = e.code; }
    return {ids: inserted.rows.map((r) => r.id), open: open.rows.map((r) => r.title), all: all.rows, codes};
  )");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.error().message() << "\n" << run.error().stack();
  const auto result = ResultOf(run);
  EXPECT_EQ(result["ids"], nlohmann::json::parse("[1,2,3]"));
  EXPECT_EQ(result["open"], nlohmann::json::parse(R"(["ship"])"));
  EXPECT_EQ(result["all"], nlohmann::json::parse(
                               R"([{"title":"write","done":true},{"title":"test","done":true},
                                   {"title":"ship","done":false}])"));
  EXPECT_EQ(result["codes"], nlohmann::json::parse(
                                 R"({"reserved":"INVALID_ARGUMENT","missing":"DATABASE_ERROR",
                                     "duplicate":"DATABASE_ERROR"})"));
  // The rows are in the application database's file.
  sqlite3* app = nullptr;
  ASSERT_EQ(sqlite3_open(stack_->app_database_path().c_str(), &app), SQLITE_OK);
  sqlite3_stmt* count = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(app, "SELECT count(*) FROM todos WHERE done = 1", -1, &count, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(count), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(count, 0), 2);
  sqlite3_finalize(count);
  sqlite3_close(app);
}

TEST_P(EndToEndTest, BadInputThroughThePublicApi) {
  auto syntax = stack_->Publish("broken", "const x = ;\nreturn x;");
  EXPECT_EQ(syntax.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(syntax.status().message().find("line 1, column 11"), std::string::npos) << syntax.status();
  auto unknown = stack_->Submit("no-such-task", "{}");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(stack_->Publish("ok", "return input;").ok());
  auto big = stack_->Submit("ok", absl::StrCat("{\"blob\":\"", std::string(17 << 20, 'x'), "\"}"));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("input_json"), std::string::npos) << big.status();
  v1::GetRunRequest get;
  get.set_name("run_does_not_exist");
  v1::GetRunResponse response;
  auto context = MakeContext(absl::Seconds(5));
  EXPECT_EQ(stack_->api()->GetRun(context.get(), get, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  // Nothing half-stored: no runs exist.
  v1::ListRunsRequest list;
  v1::ListRunsResponse runs;
  auto list_context = MakeContext(absl::Seconds(5));
  ASSERT_TRUE(stack_->api()->ListRuns(list_context.get(), list, &runs).ok());
  EXPECT_EQ(runs.runs_size(), 0);
  // The same submission again returns the same run; the key with another
  // input is refused, naming the key and the run.
  auto first = stack_->Submit("ok", R"({"n":1})", "same-key");
  auto second = stack_->Submit("ok", R"({"n":1})", "same-key");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
  auto other = stack_->Submit("ok", R"({"n":2})", "same-key");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists) << other.status();
  EXPECT_NE(other.status().message().find("idempotency_key 'same-key': already used by run " + *first),
            std::string::npos)
      << other.status();
}

TEST_P(EndToEndTest, WatchStreamsUntilTheRunEnds) {
  ASSERT_TRUE(stack_->Publish("watched", R"(
    for (let i = 0; i < 3; i++) await __callHostTool__('admin-debug', 'sleep', {ms: 100});
    return 'done';
  )").ok());
  auto id = stack_->Submit("watched", "{}");
  ASSERT_TRUE(id.ok());
  v1::WatchRunRequest watch;
  watch.set_name(*id);
  auto context = MakeContext(absl::Seconds(30));
  auto reader = stack_->api()->WatchRun(context.get(), watch);
  v1::RunEvent event;
  std::vector<v1::RunEvent> events;
  while (reader->Read(&event)) events.push_back(event);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_GE(events.size(), 2u);
  EXPECT_TRUE(events.back().final());
  EXPECT_EQ(events.back().run().status(), v1::RUN_STATUS_COMPLETED);
}

TEST(EndToEndHttpTest, TheSeedPlatformsHttpApi) {
  auto stack = Stack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  httplib::Client http("127.0.0.1", (*stack)->http_port());
  auto health = http.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto stored = http.Post("/task/store-function",
                          R"({"name":"hello","code":"return {greeting: 'hi ' + input.who, echoed: (await __callHostTool__('admin-debug','echo',{n:1})).n};"})",
                          "application/json");
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->status, 200) << stored->body;
  auto bad_code = http.Post("/task/store-function", R"({"name":"broken","code":"return (;"})", "application/json");
  ASSERT_TRUE(bad_code);
  EXPECT_EQ(bad_code->status, 400);
  EXPECT_NE(bad_code->body.find("line 1"), std::string::npos) << bad_code->body;
  auto malformed = http.Post("/task/submit", "{not json", "application/json");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  EXPECT_NE(malformed->body.find("not valid JSON"), std::string::npos);
  auto unknown = http.Post("/task/submit", R"({"name":"nope"})", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto submitted = http.Post("/task/submit", R"({"name":"hello","input":{"who":"http"}})", "application/json");
  ASSERT_TRUE(submitted);
  ASSERT_EQ(submitted->status, 200) << submitted->body;
  const std::string run_id = nlohmann::json::parse(submitted->body)["runId"];
  nlohmann::json status;
  for (int i = 0; i < 200; ++i) {
    auto got = http.Get(("/task/status/" + run_id).c_str());
    ASSERT_TRUE(got);
    ASSERT_EQ(got->status, 200);
    status = nlohmann::json::parse(got->body);
    if (status["status"] == "completed") break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(status["status"], "completed") << status.dump();
  EXPECT_EQ(status["result"], nlohmann::json::parse(R"({"greeting":"hi http","echoed":1})"));
  // The path form takes the input as the body and starts a new run of it.
  auto via_path = http.Post("/functions/v1/tasks/hello", R"({"who":"path"})", "application/json");
  ASSERT_TRUE(via_path);
  ASSERT_EQ(via_path->status, 200) << via_path->body;
  const nlohmann::json path_run = nlohmann::json::parse(via_path->body);
  ASSERT_TRUE(path_run["runId"].is_string()) << via_path->body;
  EXPECT_NE(path_run["runId"], run_id);
  EXPECT_EQ(path_run["created"], true) << via_path->body;
  auto path_done = (*stack)->Wait(path_run["runId"], absl::Seconds(60));
  ASSERT_TRUE(path_done.ok()) << path_done.status();
  EXPECT_EQ(path_done->status(), v1::RUN_STATUS_COMPLETED) << path_done->error().message();
  EXPECT_EQ(ResultOf(*path_done), nlohmann::json::parse(R"({"greeting":"hi path","echoed":1})"));
  auto listed = http.Get("/functions/v1/tasks");
  ASSERT_TRUE(listed);
  EXPECT_EQ(nlohmann::json::parse(listed->body)["functions"].size(), 1u);
  auto missing = http.Get("/task/status/run_nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

INSTANTIATE_TEST_SUITE_P(Backends, EndToEndTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tasker::e2e
