// The V8 runtime driven through Start/Resume chains, every resume in a fresh
// isolate, compared with what plain Node.js computes for the same task with
// the host calls answered the same way (testdata/node_host.js).
#include "runtime/js/engine.h"

#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "runtime/js/continuation.h"
#include "tests/support/process.h"

namespace tasker::js {
namespace {

// The deterministic test host; keep in step with testdata/node_host.js.
CallResult Answer(const HostCall& call) {
  google::protobuf::Value args;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(call.args_json, &args).ok()) << call.args_json;
  CallResult r;
  r.call_id = call.call_id;
  if (call.service == "echo") {
    r.result_json = absl::StrCat(R"({"service":")", call.service, R"(","method":")", call.method,
                                 R"(","args":)", call.args_json, "}");
  } else if (call.service == "num") {
    const auto& obj = args.has_list_value() ? args.list_value().values(0) : args;
    r.result_json = absl::StrCat(obj.struct_value().fields().at("n").number_value() * 2);
  } else if (call.service == "big") {
    const int size = static_cast<int>(args.struct_value().fields().at("size").number_value());
    r.result_json = absl::StrCat("\"", std::string(size, 'x'), "\"");
  } else if (call.service == "fail") {
    r.ok = false;
    r.error_message = absl::StrCat("failed ", call.method);
    r.error_code = "E_FAIL";
  } else {
    r.ok = false;
    r.error_message = absl::StrCat("unknown service ", call.service);
    r.error_code = "E_UNKNOWN";
  }
  return r;
}

struct Chain {
  Outcome last;
  int suspensions = 0;
  std::vector<LogLine> logs;
};

Chain Drive(const std::string& code, const std::string& input = "null", Limits limits = {}) {
  Chain chain;
  auto out = Start(code, input, limits);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return chain;
  while (true) {
    chain.logs.insert(chain.logs.end(), out->logs.begin(), out->logs.end());
    if (out->kind != Outcome::Kind::kSuspended) break;
    ++chain.suspensions;
    std::vector<CallResult> results;
    for (const auto& call : out->calls) results.push_back(Answer(call));
    out = Resume(out->continuation, results, limits);
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return chain;
  }
  chain.last = std::move(*out);
  return chain;
}

// Node's outcome for the same task: {"ok":..., "result"|"name","message"}.
google::protobuf::Value RunUnderNode(const std::string& code, const std::string& input) {
  const std::string dir = tasker::testing::MakeTempDir("node");
  std::ofstream(dir + "/task.js") << code;
  std::ofstream(dir + "/input.json") << input;
  auto [rc, output] = tasker::testing::RunCommand(
      absl::StrCat("/usr/bin/node ", tasker::testing::Runfile("runtime/js/testdata/node_host.js"), " ", dir,
                   "/task.js \"$(cat ", dir, "/input.json)\""));
  EXPECT_EQ(rc, 0) << output;
  google::protobuf::Value v;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(output, &v).ok()) << output;
  return v;
}

bool SameJson(const std::string& a, const google::protobuf::Value& b) {
  google::protobuf::Value va;
  if (!google::protobuf::util::JsonStringToMessage(a, &va).ok()) return false;
  return google::protobuf::util::MessageDifferencer::Equals(va, b);
}

struct Case {
  const char* name;
  const char* code;
  const char* input;
  int min_suspensions;
  // When set, the expected result instead of Node's: Tasker deliberately
  // differs (JSON.stringify silently drops functions; Tasker refuses them).
  const char* expect = nullptr;
};

const Case kCases[] = {
    {"closures_and_loops", R"(
      const totals = [];
      let sum = 0;
      const add = (x) => { sum += x; return sum; };
      for (let i = 1; i <= 5; i++) {
        const doubled = await __callHostTool__('num', 'double', {n: i});
        totals.push(add(doubled));
      }
      return {totals, sum, last: totals.at(-1)};
    )", "null", 5},
    {"try_catch_failed_call_across_suspension", R"(
      const before = await __callHostTool__('echo', 'a.b', {x: 1});
      let caught;
      try {
        await __callHostTool__('fail', 'admin.users.list', {});
      } catch (e) {
        caught = {name: e.name, message: e.message, code: e.code, isError: e instanceof Error};
      }
      const after = await __callHostTool__('num', 'x', {n: 21});
      return {before: before.method, caught, after};
    )", "null", 3},
    {"classes_and_private_fields", R"(
      class Counter {
        #count = 0;
        static created = 0;
        constructor(name) { this.name = name; Counter.created++; }
        async bump(by) { this.#count += await __callHostTool__('num', 'n', {n: by}); return this.#count; }
        get value() { return this.#count; }
      }
      const c = new Counter('c1');
      await c.bump(1);
      await c.bump(10);
      return {name: c.name, value: c.value, created: Counter.created};
    )", "null", 2},
    {"map_and_set", R"(
      const m = new Map([['a', 1]]);
      const s = new Set(['x']);
      const r = await __callHostTool__('echo', 'm', {k: 'b'});
      m.set(r.args.k, 2);
      s.add(r.method);
      s.add('x');
      return {m: [...m.entries()], s: [...s], size: m.size + s.size, has: m.has('b')};
    )", "null", 1},
    {"generators", R"(
      function* counter(limit) { for (let i = 0; i < limit; i++) yield i * i; }
      const gen = counter(6);
      const first = [gen.next().value, gen.next().value];
      await __callHostTool__('echo', 'g', null);
      const rest = [...gen];
      async function* pages() { for (let p = 1; p <= 3; p++) yield await __callHostTool__('num', 'p', {n: p}); }
      const got = [];
      for await (const v of pages()) got.push(v);
      return {first, rest, got};
    )", "null", 4},
    {"typed_arrays", R"(
      const bytes = new Uint8Array([1, 2, 3, 250]);
      const floats = new Float64Array(3).fill(1.5);
      const view = new DataView(new ArrayBuffer(8));
      view.setInt32(0, -42);
      await __callHostTool__('echo', 't', null);
      bytes[0] += 10;
      return {bytes: Array.from(bytes), sum: floats.reduce((a, b) => a + b, 0), i: view.getInt32(0),
              last: bytes.at(-1)};
    )", "null", 1},
    {"dates", R"(
      const d = new Date(Date.UTC(2024, 1, 29, 12, 30));
      await __callHostTool__('echo', 'd', null);
      d.setUTCDate(d.getUTCDate() + 1);
      return {iso: d.toISOString(), day: d.getUTCDay(), json: JSON.stringify({d}),
              parsed: Date.parse('2020-01-01T00:00:00Z')};
    )", "null", 1},
    {"nested_async_helpers", R"(
      async function fetchUser(id) { const r = await __callHostTool__('echo', 'user.get', {id}); return r.args.id; }
      async function fetchAll(ids) { const out = []; for (const id of ids) out.push(await fetchUser(id)); return out; }
      async function outer() { const a = await fetchAll([1, 2]); const b = await fetchAll([3]); return [...a, ...b]; }
      return await outer();
    )", "null", 3},
    {"promise_all_of_ten", R"(
      const calls = [];
      for (let i = 0; i < 10; i++) calls.push(__callHostTool__('num', 'double', {n: i}));
      const results = await Promise.all(calls);
      return {results, sum: results.reduce((a, b) => a + b, 0)};
    )", "null", 1},
    {"fire_then_await", R"(
      const p1 = __callHostTool__('num', 'a', {n: 1});
      const p2 = __callHostTool__('num', 'b', {n: 2});
      const local = 5;
      const b = await p2;
      const a = await p1;
      return a + b + local;
    )", "null", 1},
    {"result_used_after_three_more_suspensions", R"(
      const kept = await __callHostTool__('echo', 'keep.me', {secret: 'v1'});
      for (let i = 0; i < 3; i++) await __callHostTool__('num', 'n', {n: i});
      return kept.args.secret + ':' + kept.method;
    )", "null", 4},
    {"errors_thrown_before_suspension", R"(
      if (input.bad) throw new RangeError('bad input: ' + input.bad);
      await __callHostTool__('echo', 'never', null);
      return 1;
    )", R"({"bad":"yes"})", 0},
    {"errors_thrown_after_suspension", R"(
      const r = await __callHostTool__('num', 'n', {n: 2});
      if (r === 4) throw new TypeError('four is not allowed');
      return r;
    )", "null", 1},
    {"uncaught_failed_call", R"(
      await __callHostTool__('fail', 'gmail.users.messages.list', {userId: 'me'});
      return 'unreachable';
    )", "null", 1},
    {"module_exports_function", R"(
      module.exports = async function (input) {
        const r = await __callHostTool__('num', ['math', 'double'], [{n: input.n}]);
        return {doubled: r};
      };
    )", R"({"n":8})", 1},
    {"exports_handler", R"(
      exports.helper = 5;
      exports.handler = async (input) => (await __callHostTool__('echo', 'h', input)).args;
    )", R"({"q":[1,2]})", 1},
    {"prelude_builtins", R"(
      const arr = [1, 2, 3, 4];
      await __callHostTool__('echo', 'x', null);
      let stack;
      try { null.f(); } catch (e) { stack = typeof e.stack === 'string' && e.stack.includes('TypeError'); }
      return {at: arr.at(-1), fl: arr.findLast((x) => x % 2 === 1), fli: arr.findLastIndex((x) => x > 10),
              own: Object.hasOwn({a: 1}, 'a'), str: 'abc'.at(-1), stack};
    )", "null", 1},
    {"json_boundary_in_args", R"(
      const errors = [];
      for (const bad of [{f() {}}, {n: 10n}, (() => { const o = {}; o.self = o; return o; })()]) {
        try { await __callHostTool__('echo', 'x', bad); } catch (e) { errors.push(e.name); }
      }
      return errors;
    )", "null", 0, R"(["TypeError","TypeError","TypeError"])"},
    {"two_hundred_sequential_suspensions", R"(
      let acc = 0;
      for (let i = 0; i < 200; i++) acc += await __callHostTool__('num', 'n', {n: 1});
      return acc;
    )", "null", 200},
};

class EngineTableTest : public ::testing::TestWithParam<Case> {};

TEST_P(EngineTableTest, MatchesNode) {
  const Case& c = GetParam();
  Chain chain = Drive(c.code, c.input);
  EXPECT_GE(chain.suspensions, c.min_suspensions);
  if (c.expect != nullptr) {
    ASSERT_EQ(chain.last.kind, Outcome::Kind::kCompleted) << chain.last.error_message;
    EXPECT_EQ(chain.last.result_json, c.expect);
    return;
  }
  google::protobuf::Value node = RunUnderNode(c.code, c.input);
  const auto& fields = node.struct_value().fields();
  ASSERT_TRUE(fields.count("ok"));
  if (fields.at("ok").bool_value()) {
    ASSERT_EQ(chain.last.kind, Outcome::Kind::kCompleted)
        << chain.last.error_name << ": " << chain.last.error_message;
    EXPECT_TRUE(SameJson(chain.last.result_json, fields.at("result")))
        << "tasker: " << chain.last.result_json << "\nnode: " << fields.at("result").DebugString();
  } else {
    ASSERT_EQ(chain.last.kind, Outcome::Kind::kFailed) << chain.last.result_json;
    EXPECT_EQ(chain.last.failure, FailureKind::kTaskError);
    EXPECT_EQ(chain.last.error_name, fields.at("name").string_value());
    EXPECT_NE(chain.last.error_message.find(fields.at("message").string_value()), std::string::npos)
        << chain.last.error_message;
  }
}

INSTANTIATE_TEST_SUITE_P(Tasks, EngineTableTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(EngineTest, OneMegabyteResult) {
  Chain chain = Drive(R"(
    const s = await __callHostTool__('big', 'x', {size: 1048576});
    return {s, len: s.length};
  )");
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kCompleted) << chain.last.error_message;
  EXPECT_GT(chain.last.result_json.size(), 1048576u);
  EXPECT_NE(chain.last.result_json.find(R"("len":1048576)"), std::string::npos);
}

TEST(EngineTest, ErrorStackSurvivesAResume) {
  Chain chain = Drive(R"(
    async function deep() { await __callHostTool__('echo', 'x', null); throw new Error('after resume'); }
    await deep();
  )");
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kFailed);
  EXPECT_EQ(chain.last.error_message, "after resume");
  EXPECT_NE(chain.last.error_stack.find("deep"), std::string::npos) << chain.last.error_stack;
  EXPECT_NE(chain.last.error_stack.find("task.js:3"), std::string::npos) << chain.last.error_stack;
}

TEST(EngineTest, InfiniteLoopHitsTheTimeLimit) {
  Limits limits;
  limits.step_cpu = absl::Milliseconds(300);
  Chain chain = Drive("await __callHostTool__('echo', 'x', null); while (true) {}", "null", limits);
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kFailed);
  EXPECT_EQ(chain.last.failure, FailureKind::kTimeLimit);
  EXPECT_NE(chain.last.error_message.find("time limit exceeded"), std::string::npos);
}

TEST(EngineTest, MemoryBombHitsTheMemoryLimit) {
  Chain chain = Drive(R"(
    const hog = [];
    while (true) hog.push(new Array(100000).fill({a: Math.random()}));
  )");
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kFailed);
  EXPECT_EQ(chain.last.failure, FailureKind::kMemoryLimit);
  EXPECT_TRUE(absl::StartsWith(chain.last.error_message, "memory limit exceeded (the JavaScript heap reached its limit of "))
      << chain.last.error_message;
  // The process is fine afterwards.
  Chain after = Drive("return 1 + 1;");
  EXPECT_EQ(after.last.result_json, "2");
}

TEST(EngineTest, IntlAliveAcrossAwaitIsAClearError) {
  Chain chain = Drive(R"(
    const fmt = new Intl.NumberFormat('en-US');
    await __callHostTool__('echo', 'x', null);
    return fmt.format(1234.5);
  )");
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kFailed);
  EXPECT_EQ(chain.last.failure, FailureKind::kUnsupportedState);
  EXPECT_NE(chain.last.error_message.find("Intl.NumberFormat"), std::string::npos) << chain.last.error_message;
}

TEST(EngineTest, IntlUsedBetweenAwaitsIsFine) {
  Chain chain = Drive(R"(
    const a = new Intl.NumberFormat('en-US').format(1234.5);
    await __callHostTool__('echo', 'x', null);
    const b = new Intl.DateTimeFormat('en-US', {timeZone: 'UTC'}).format(new Date(0));
    const c = (9876.5).toLocaleString('en-US');
    return [a, b, c];
  )");
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kCompleted) << chain.last.error_message;
  EXPECT_EQ(chain.last.result_json, R"(["1,234.5","1/1/1970","9,876.5"])");
}

TEST(EngineTest, FinalizationRegistryWithDeadTargetsDoesNotAbort) {
  Chain chain = Drive(R"(
    const registry = new FinalizationRegistry(() => {});
    for (let i = 0; i < 100; i++) registry.register({i}, i);
    let kept = {};
    registry.register(kept, 'kept');
    await __callHostTool__('echo', 'x', null);
    await __callHostTool__('echo', 'y', null);
    return typeof kept;
  )");
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kCompleted) << chain.last.error_message;
  EXPECT_EQ(chain.last.result_json, "\"object\"");
}

TEST(EngineTest, QueuedMicrotasksRunBeforeTheSnapshot) {
  Chain chain = Drive(R"(
    const log = [];
    Promise.resolve().then(() => log.push('micro1')).then(() => log.push('micro2'));
    queueMicrotask(() => log.push('queued'));
    const p = __callHostTool__('echo', 'x', null);
    log.push('sync');
    await p;
    return log;
  )");
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kCompleted) << chain.last.error_message;
  EXPECT_EQ(chain.last.result_json, R"(["sync","micro1","queued","micro2"])");
}

TEST(EngineTest, DateMovesForwardAndRandomGoesOnAfterResume) {
  auto out = Start(R"(
    const t1 = Date.now();
    const r1 = [Math.random(), Math.random(), Math.random()];
    await __callHostTool__('echo', 'x', null);
    const t2 = new Date().getTime();
    const r2 = [Math.random(), Math.random(), Math.random()];
    return {t1, t2, r1, r2};
  )", "null", {});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->kind, Outcome::Kind::kSuspended);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<CallResult> results = {Answer(out->calls[0])};
  auto a = Resume(out->continuation, results, {});
  auto b = Resume(out->continuation, results, {});
  ASSERT_TRUE(a.ok() && b.ok());
  google::protobuf::Value va, vb;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a->result_json, &va).ok()) << a->error_message;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(b->result_json, &vb).ok());
  const auto& fa = va.struct_value().fields();
  EXPECT_GE(fa.at("t2").number_value() - fa.at("t1").number_value(), 20);
  EXPECT_GT(fa.at("t1").number_value(), 1.7e12);  // real time, not a frozen snapshot clock
  EXPECT_FALSE(google::protobuf::util::MessageDifferencer::Equals(fa.at("r1"), fa.at("r2")));
  // The generator's state lives in the heap: two resumes of one
  // continuation see the same sequence, as a replay must.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      fa.at("r2"), vb.struct_value().fields().at("r2")));
}

TEST(EngineTest, ConsoleIsCapturedAndBounded) {
  Limits limits;
  limits.max_log_lines = 5;
  Chain chain = Drive(R"(
    console.log('hello', {a: 1}, [1, 2], 3n);
    console.error(new Error('boom'));
    await __callHostTool__('echo', 'x', null);
    console.warn('after');
    for (let i = 0; i < 100; i++) console.info('spam', i);
    return 1;
  )", "null", limits);
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kCompleted);
  ASSERT_EQ(chain.logs.size(), 7u);  // 2 in the first step, 5 (the limit) in the second
  EXPECT_EQ(chain.logs[0].message, R"(hello {"a":1} [1,2] 3n)");
  EXPECT_EQ(chain.logs[0].level, "log");
  EXPECT_EQ(chain.logs[1].level, "error");
  EXPECT_NE(chain.logs[1].message.find("Error: boom"), std::string::npos);
  EXPECT_EQ(chain.logs[2].message, "after");
  EXPECT_TRUE(chain.last.logs_truncated);
}

TEST(EngineTest, ResultsThatAreNotJsonAreTaskErrors) {
  for (const char* code : {"return {n: 1n};", "const o = {}; o.o = o; return o;", "return {f() {}};"}) {
    Chain chain = Drive(code);
    ASSERT_EQ(chain.last.kind, Outcome::Kind::kFailed) << code;
    EXPECT_EQ(chain.last.failure, FailureKind::kTaskError);
    EXPECT_NE(chain.last.error_message.find("cannot cross the JSON boundary"), std::string::npos)
        << chain.last.error_message;
  }
  EXPECT_EQ(Drive("return undefined;").last.result_json, "null");
}

TEST(EngineTest, WaitingOnNothingIsAClearError) {
  Chain chain = Drive("await new Promise(() => {}); return 1;");
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kFailed);
  EXPECT_EQ(chain.last.failure, FailureKind::kUnsupportedState);
  EXPECT_EQ(chain.last.error_name, "Deadlock");
}

TEST(EngineTest, TooManyCallsInOneSuspension) {
  Limits limits;
  limits.max_calls_per_suspension = 5;
  Chain chain = Drive(R"(
    await Promise.all(Array.from({length: 6}, (_, i) => __callHostTool__('num', 'n', {n: i})));
  )", "null", limits);
  ASSERT_EQ(chain.last.kind, Outcome::Kind::kFailed);
  EXPECT_EQ(chain.last.failure, FailureKind::kLimitExceeded);
}

TEST(EngineTest, BadHostCallArgumentsRejectTheCall) {
  Chain chain = Drive(R"(
    const errors = [];
    for (const [s, m] of [['', 'x'], ['svc', ''], ['svc', []], [1, 'x'], ['svc', ['a', 2]]]) {
      try { await __callHostTool__(s, m, {}); } catch (e) { errors.push(e.name); }
    }
    return errors;
  )");
  // The prelude rejects each call before it is queued: no call reaches the host.
  EXPECT_EQ(chain.suspensions, 0);
  EXPECT_EQ(chain.last.result_json, R"(["TypeError","TypeError","TypeError","TypeError","TypeError"])")
      << chain.last.error_message;
}

TEST(EngineTest, SyntaxErrorsReportLineAndColumn) {
  absl::Status status = CheckSyntax("const a = 1;\nconst b = ;\nreturn a;");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("line 2, column 11"), std::string::npos) << status;
  EXPECT_NE(status.message().find("SyntaxError"), std::string::npos) << status;
  EXPECT_TRUE(CheckSyntax("const x = await __callHostTool__('a', 'b', {}); return x;").ok());
  EXPECT_TRUE(CheckSyntax("module.exports = async function (input) { return input; };").ok());
  // A syntax error at run time is a task error with the same location.
  auto out = Start("return (;", "null", {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->kind, Outcome::Kind::kFailed);
  EXPECT_NE(out->error_message.find("line 1"), std::string::npos) << out->error_message;
}

TEST(EngineTest, BadInputJsonIsRejected) {
  auto out = Start("return input;", "{not json", {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->kind, Outcome::Kind::kFailed);
  EXPECT_EQ(out->error_name, "SyntaxError");
}

class MalformedContinuationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto out = Start("await __callHostTool__('echo', 'x', null); return 7;", "null", {});
    ASSERT_TRUE(out.ok());
    ASSERT_EQ(out->kind, Outcome::Kind::kSuspended);
    good_ = out->continuation;
    results_ = {Answer(out->calls[0])};
  }
  Outcome ResumeWith(const std::string& data) {
    auto out = Resume(data, results_, {});
    EXPECT_TRUE(out.ok());
    return out.ok() ? *out : Outcome();
  }
  std::string good_;
  std::vector<CallResult> results_;
};

TEST_F(MalformedContinuationTest, EveryKindIsAClearFailureNotACrash) {
  EXPECT_EQ(ResumeWith(good_).result_json, "7");
  struct Bad {
    std::string data;
    FailureKind kind;
    const char* text;
  };
  std::string flipped = good_;
  flipped[flipped.size() / 2] ^= 0x5a;
  std::string wrong_format = good_;
  wrong_format[4] = 9;
  std::string wrong_table = good_;
  wrong_table[6] = 77;
  std::string wrong_v8 = good_;
  wrong_v8[9] = '9';  // "10.2..." -> "90.2..."
  std::string wrong_magic = good_;
  wrong_magic[0] = 'X';
  std::vector<Bad> cases = {
      {"", FailureKind::kBadContinuation, "magic"},
      {"garbage that is not a continuation", FailureKind::kBadContinuation, "magic"},
      {good_.substr(0, good_.size() / 2), FailureKind::kBadContinuation, "truncated"},
      {good_.substr(0, 12), FailureKind::kBadContinuation, "truncated"},
      {flipped, FailureKind::kBadContinuation, "checksum"},
      {wrong_magic, FailureKind::kBadContinuation, "magic"},
      {wrong_format, FailureKind::kVersionMismatch, "format"},
      {wrong_table, FailureKind::kVersionMismatch, "native table"},
      {wrong_v8, FailureKind::kVersionMismatch, "V8"},
  };
  for (const auto& bad : cases) {
    Outcome out = ResumeWith(bad.data);
    EXPECT_EQ(out.kind, Outcome::Kind::kFailed);
    EXPECT_EQ(out.failure, bad.kind) << out.error_message;
    EXPECT_NE(out.error_message.find(bad.text), std::string::npos) << out.error_message;
  }
}

TEST_F(MalformedContinuationTest, DuplicateResultsAreRejected) {
  std::vector<CallResult> twice = {results_[0], results_[0]};
  EXPECT_EQ(Resume(good_, twice, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ContinuationFormatTest, HeaderFields) {
  std::string blob(100000, 'a');
  std::string encoded = EncodeContinuation(blob, 3, "10.2.154.26-node.37");
  auto header = ReadContinuationHeader(encoded);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->format_version, kFormatVersion);
  EXPECT_EQ(header->external_references_version, 3);
  EXPECT_EQ(header->v8_version, "10.2.154.26-node.37");
  EXPECT_EQ(header->raw_size, 100000u);
  EXPECT_LT(encoded.size(), 1000u);
  EXPECT_EQ(*DecodeContinuation(encoded, 3, "10.2.154.26-node.37"), blob);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);  // the standard CRC-32C check value
}

}  // namespace
}  // namespace tasker::js

namespace tasker::js {
namespace {

TEST(EngineLimitsTest, ResultAndContinuationSizeLimits) {
  Limits limits;
  limits.max_result_bytes = 1000;
  Chain big = Drive("return 'y'.repeat(5000);", "null", limits);
  ASSERT_EQ(big.last.kind, Outcome::Kind::kFailed);
  EXPECT_EQ(big.last.failure, FailureKind::kLimitExceeded);
  EXPECT_NE(big.last.error_message.find("result of 5002 bytes"), std::string::npos) << big.last.error_message;
  limits = Limits();
  limits.max_continuation_bytes = 10000;  // a real continuation is ~60 KB
  auto out = Start("await __callHostTool__('echo', 'x', null); return 1;", "null", limits);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->kind, Outcome::Kind::kFailed);
  EXPECT_EQ(out->failure, FailureKind::kLimitExceeded);
  EXPECT_NE(out->error_message.find("checkpoint of"), std::string::npos) << out->error_message;
  EXPECT_TRUE(out->calls.empty());
}

}  // namespace
}  // namespace tasker::js
