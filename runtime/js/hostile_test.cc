// Hostile tasks end in a clear answer (issue 12): every test runs real task
// code in real tasker-js-worker processes, and checks that the run ends with
// its right result or a clear failure, and that the worker survives it.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/js/engine.h"
#include "runtime/js/worker_host.h"
#include "runtime/js/worker_protocol.h"
#include "tests/support/process.h"

namespace tasker::js {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(60);

std::unique_ptr<WorkerHost> MakeHost(int workers = 1, int heap_limit_mb = 256,
                                     std::vector<std::string> extra_args = {},
                                     WorkerHost::LostCallback lost = nullptr) {
  auto host = WorkerHost::Create({.worker_path = tasker::testing::Runfile("runtime/js/tasker-js-worker"),
                                  .workers = workers,
                                  .heap_limit_mb = heap_limit_mb,
                                  .extra_args = std::move(extra_args)},
                                 std::move(lost));
  EXPECT_TRUE(host.ok()) << host.status();
  return host.ok() ? std::move(*host) : nullptr;
}

struct Ended {
  absl::Status status;  // of the worker call (not the task)
  v1::Step step;        // the last step
  std::vector<std::string> logs;  // of every step
  std::vector<std::string> args;  // of every call made
};

// Runs `code` to its end in worker 0 of `host`, answering each host call
// with answer(args_json) (default: echo of the args).
Ended RunTask(WorkerHost& host, const std::string& run, const std::string& code, const std::string& input = "null",
              std::function<std::string(const std::string&)> answer = nullptr, v1::Limits limits = {}) {
  Ended ended;
  v1::Request start;
  start.set_run(run);
  start.mutable_start()->set_code(code);
  start.mutable_start()->set_input_json(input);
  start.mutable_start()->set_clock_ms(1700000000000);
  *start.mutable_start()->mutable_limits() = limits;
  auto response = host.Call(0, start, kTimeout);
  std::vector<v1::HostCall> pending;
  while (true) {
    if (!response.ok()) {
      ended.status = response.status();
      return ended;
    }
    if (response->status_code() != 0) {
      ended.status = absl::Status(static_cast<absl::StatusCode>(response->status_code()), response->status_message());
      return ended;
    }
    ended.step = response->step();
    for (const auto& line : ended.step.logs()) ended.logs.push_back(line.message());
    for (const auto& call : ended.step.calls()) {
      ended.args.push_back(call.args_json());
      pending.push_back(call);
    }
    if (ended.step.kind() != static_cast<int>(Outcome::Kind::kSuspended) || pending.empty()) return ended;
    const v1::HostCall call = pending.front();
    pending.erase(pending.begin());
    v1::Request deliver;
    deliver.set_run(run);
    deliver.mutable_deliver()->mutable_result()->set_call_id(call.call_id());
    const std::string answered = answer ? answer(call.args_json()) : call.args_json();
    if (answered.rfind("!", 0) == 0) {  // "!code:message": a failed call
      const size_t colon = answered.find(':');
      deliver.mutable_deliver()->mutable_result()->set_ok(false);
      deliver.mutable_deliver()->mutable_result()->set_error_code(answered.substr(1, colon - 1));
      deliver.mutable_deliver()->mutable_result()->set_error_message(answered.substr(colon + 1));
    } else {
      deliver.mutable_deliver()->mutable_result()->set_ok(true);
      deliver.mutable_deliver()->mutable_result()->set_result_json(answered);
    }
    deliver.mutable_deliver()->set_clock_ms(1700000000001);
    response = host.Call(0, deliver, kTimeout);
  }
}

bool Completed(const Ended& e) { return e.status.ok() && e.step.kind() == static_cast<int>(Outcome::Kind::kCompleted); }
bool FailedWith(const Ended& e, FailureKind kind) {
  return e.status.ok() && e.step.kind() == static_cast<int>(Outcome::Kind::kFailed) &&
         e.step.failure() == static_cast<int>(kind);
}
std::string Describe(const Ended& e) {
  return absl::StrCat("status=", e.status.ToString(), " kind=", e.step.kind(), " failure=", e.step.failure(),
                      " result=", e.step.result_json(), " error=", e.step.error_name(), ": ", e.step.error_message());
}

// The worker still runs tasks (and is the same process).
void ExpectWorkerServes(WorkerHost& host, pid_t pid, const std::string& run) {
  Ended after = RunTask(host, run, "const r = await __callHostTool__('svc', 'm', {x: 1}); return r.x + 1;");
  EXPECT_TRUE(Completed(after)) << Describe(after);
  EXPECT_EQ(after.step.result_json(), "2");
  EXPECT_EQ(host.pids()[0], pid) << "the worker was replaced";
  EXPECT_EQ(host.crashes(), 0);
}

// --- 1. Lone surrogates -------------------------------------------------------

constexpr char kSurrogates[] = R"(
  console.log('a\ud83db', '\udc00');
  try { throw new Error('caught \ud83d'); } catch (e) { console.error(e.message); }
  const echoed = await __callHostTool__('svc', 'echo', {s: '\ud83d'});
  if (input.fail) throw new Error('bad \ud83d here');
  return {s: '\ud83d', echoed, pair: '\ud83d\ude00'};
)";

TEST(HostileTest, LoneSurrogatesComeOutAsJsonEscapes) {
  auto host = MakeHost();
  ASSERT_NE(host, nullptr);
  const pid_t pid = host->pids()[0];
  Ended ok = RunTask(*host, "s1", kSurrogates, R"({"fail":false})");
  ASSERT_TRUE(Completed(ok)) << Describe(ok);
  EXPECT_EQ(ok.step.result_json(), R"({"s":"\ud83d","echoed":{"s":"\ud83d"},"pair":"😀"})");
  ASSERT_EQ(ok.logs.size(), 2u);
  EXPECT_EQ(ok.logs[0], R"(a\ud83db \udc00)");
  EXPECT_EQ(ok.logs[1], R"(caught \ud83d)");
  ASSERT_EQ(ok.args.size(), 1u);
  EXPECT_EQ(ok.args[0], R"({"s":"\ud83d"})");

  Ended failed = RunTask(*host, "s2", kSurrogates, R"({"fail":true})");
  ASSERT_TRUE(FailedWith(failed, FailureKind::kTaskError)) << Describe(failed);
  EXPECT_EQ(failed.step.error_message(), R"(bad \ud83d here)");
  EXPECT_TRUE(absl::StrContains(failed.step.error_stack(), R"(Error: bad \ud83d here)")) << failed.step.error_stack();

  // A rebuild replays the call from a journal whose args are spelt otherwise
  // (as storage gives them back): still the same call.
  v1::Request rebuild;
  rebuild.set_run("s3");
  auto* op = rebuild.mutable_rebuild();
  op->set_code(kSurrogates);
  op->set_input_json(R"({"fail":false})");
  op->add_steps()->set_clock_ms(1700000000000);
  auto* call = op->add_calls();
  call->set_index(1);
  call->set_call_id("c1");
  call->set_service("svc");
  call->set_method("echo");
  call->set_args_json(R"({ "s" : "\ud83d" })");
  auto rebuilt = host->Call(0, rebuild, kTimeout);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  ASSERT_EQ(rebuilt->status_code(), 0) << rebuilt->status_message();
  EXPECT_EQ(rebuilt->step().kind(), static_cast<int>(Outcome::Kind::kSuspended))
      << rebuilt->step().error_message();
  ExpectWorkerServes(*host, pid, "s4");
}

// --- 2. ArrayBuffer memory budget ----------------------------------------------

TEST(HostileTest, ArrayBuffersPastTheMemoryLimitFailTheRunWithMemoryLimit) {
  auto host = MakeHost(1, /*heap_limit_mb=*/128);
  ASSERT_NE(host, nullptr);
  const pid_t pid = host->pids()[0];
  // Kept (and written, so resident): the 128 MiB budget is reached at the
  // second; without a budget this grows until the machine runs out.
  Ended kept = RunTask(*host, "ab1", R"(
    const kept = [];
    for (let i = 0; i < 64; i++) { const a = new Uint8Array(64 << 20); a.fill(1); kept.push(a); }
    return kept.length;
  )");
  ASSERT_TRUE(FailedWith(kept, FailureKind::kMemoryLimit)) << Describe(kept);
  EXPECT_EQ(kept.step.error_message(),
            "memory limit exceeded (ArrayBuffer and typed array memory reached its limit of 128 MiB)");
  const int64_t rss = host->ResidentBytes();
  fprintf(stderr, "worker RSS after the ArrayBuffer MEMORY_LIMIT run: %lld MiB\n", static_cast<long long>(rss >> 20));
  EXPECT_LT(rss, int64_t{400} << 20);
  // Catching the RangeError does not help.
  Ended caught = RunTask(*host, "ab2", R"(
    const kept = [];
    try { for (;;) kept.push(new ArrayBuffer(64 << 20)); } catch (e) { return String(e); }
  )");
  ASSERT_TRUE(FailedWith(caught, FailureKind::kMemoryLimit)) << Describe(caught);
  // Freed buffers give their budget back: 2 GiB allocated in all, 64 MiB at a time.
  Ended freed = RunTask(*host, "ab3", R"(
    let total = 0;
    for (let i = 0; i < 32; i++) { const a = new Uint8Array(64 << 20); a[i] = 1; total += a.length; }
    return total / (1 << 20);
  )");
  ASSERT_TRUE(Completed(freed)) << Describe(freed);
  EXPECT_EQ(freed.step.result_json(), "2048");
  // The same code again (an isolate kept for it, whose last run's buffers
  // may not be collected yet): each run has the whole budget.
  for (int i = 0; i < 3; ++i) {
    Ended again = RunTask(*host, absl::StrCat("ab-again", i),
                          "const a = new Uint8Array(100 << 20); a.fill(2); return a.length >> 20;");
    ASSERT_TRUE(Completed(again)) << Describe(again);
    EXPECT_EQ(again.step.result_json(), "100");
  }
  ExpectWorkerServes(*host, pid, "ab4");
}

TEST(HostileTest, ArrayBuffersSurviveACheckpoint) {
  auto host = MakeHost(1, /*heap_limit_mb=*/128);
  ASSERT_NE(host, nullptr);
  constexpr char kCode[] = R"(
    const a = new Uint8Array(32 << 20);
    for (let i = 0; i < a.length; i += 4096) a[i] = (i >> 12) & 0xff;
    const b = new Float64Array([1.5, 2.5]);
    await __callHostTool__('svc', 'wait', {});
    let sum = 0;
    for (let i = 0; i < a.length; i += 4096) sum += a[i];
    return {sum, b: Array.from(b), big: new Uint8Array(64 << 20).length};
  )";
  v1::Request start;
  start.set_run("cp");
  start.mutable_start()->set_code(kCode);
  start.mutable_start()->set_input_json("null");
  start.mutable_start()->set_clock_ms(7);
  auto started = host->Call(0, start, kTimeout);
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_EQ(started->step().calls_size(), 1) << started->step().error_message();
  v1::Request checkpoint;
  checkpoint.set_run("cp");
  checkpoint.mutable_checkpoint();
  auto written = host->Call(0, checkpoint, kTimeout);
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_EQ(written->status_code(), 0) << written->status_message();
  // Restored twice over (the budget of each restored isolate is its own).
  for (int i = 0; i < 2; ++i) {
    const std::string run = absl::StrCat("cp", i);
    v1::Request rebuild;
    rebuild.set_run(run);
    auto* op = rebuild.mutable_rebuild();
    op->set_code(kCode);
    op->set_input_json("null");
    op->set_checkpoint(written->checkpoint());
    op->set_checkpoint_step(written->checkpoint_step());
    op->add_steps()->set_clock_ms(7);
    auto* call = op->add_calls();
    call->set_index(1);
    call->set_call_id("c1");
    call->set_service("svc");
    call->set_method("wait");
    call->set_args_json("{}");
    auto rebuilt = host->Call(0, rebuild, kTimeout);
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
    ASSERT_EQ(rebuilt->status_code(), 0) << rebuilt->status_message();
    ASSERT_TRUE(rebuilt->from_checkpoint()) << rebuilt->checkpoint_note();
    v1::Request deliver;
    deliver.set_run(run);
    deliver.mutable_deliver()->mutable_result()->set_call_id("c1");
    deliver.mutable_deliver()->mutable_result()->set_ok(true);
    deliver.mutable_deliver()->mutable_result()->set_result_json("null");
    auto done = host->Call(0, deliver, kTimeout);
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->step().kind(), static_cast<int>(Outcome::Kind::kCompleted)) << done->step().error_message();
    int sum = 0;
    for (int k = 0; k < (32 << 20) / 4096; ++k) sum += k & 0xff;
    EXPECT_EQ(done->step().result_json(), absl::StrCat(R"({"sum":)", sum, R"(,"b":[1.5,2.5],"big":67108864})"));
  }
}

// The task globals (issue 14) in a worker: their sections load there, and a
// run holding a URL, Headers, a TextDecoder mid-stream, a pending timer and
// an unanswered fetch is checkpointed and rebuilt from the checkpoint.
TEST(HostileTest, TaskGlobalsSurviveAWorkerCheckpoint) {
  auto host = MakeHost();
  ASSERT_NE(host, nullptr);
  constexpr char kCode[] = R"(
    const url = new URL('https://example.com/p?a=1');
    const headers = new Headers({'X-One': '1'});
    const decoder = new TextDecoder();
    const head = decoder.decode(new Uint8Array([0xe2, 0x82]), {stream: true});
    const fired = [];
    setTimeout(() => fired.push(crypto.randomUUID().length), 10);
    const res = await fetch(url, {headers});
    url.searchParams.append('b', '2');
    await new Promise((resolve) => setTimeout(resolve, 20));
    return {href: url.href, text: head + decoder.decode(new Uint8Array([0xac])), status: res.status,
            body: await res.json(), fired, sent: [...headers]};
  )";
  v1::Request start;
  start.set_run("g");
  start.mutable_start()->set_code(kCode);
  start.mutable_start()->set_input_json("null");
  start.mutable_start()->set_clock_ms(7);
  auto started = host->Call(0, start, kTimeout);
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_EQ(started->step().calls_size(), 2) << started->step().error_message();
  EXPECT_EQ(started->step().calls(0).service(), "timer");
  EXPECT_EQ(started->step().calls(0).args_json(), R"({"ms":10})");
  EXPECT_EQ(started->step().calls(1).service(), "http");
  v1::Request checkpoint;
  checkpoint.set_run("g");
  checkpoint.mutable_checkpoint();
  auto written = host->Call(0, checkpoint, kTimeout);
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_EQ(written->status_code(), 0) << written->status_message();
  v1::Request rebuild;
  rebuild.set_run("g2");
  auto* op = rebuild.mutable_rebuild();
  op->set_code(kCode);
  op->set_input_json("null");
  op->set_checkpoint(written->checkpoint());
  op->set_checkpoint_step(written->checkpoint_step());
  op->add_steps()->set_clock_ms(7);
  for (const auto& made : started->step().calls()) {
    auto* call = op->add_calls();
    call->set_index(made.index());
    call->set_call_id(made.call_id());
    call->set_service(made.service());
    call->set_method(made.method());
    call->set_args_json(made.args_json());
  }
  auto rebuilt = host->Call(0, rebuild, kTimeout);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  ASSERT_EQ(rebuilt->status_code(), 0) << rebuilt->status_message();
  ASSERT_TRUE(rebuilt->from_checkpoint()) << rebuilt->checkpoint_note();
  auto deliver = [&](const std::string& id, const std::string& result) {
    v1::Request request;
    request.set_run("g2");
    request.mutable_deliver()->mutable_result()->set_call_id(id);
    request.mutable_deliver()->mutable_result()->set_ok(true);
    request.mutable_deliver()->mutable_result()->set_result_json(result);
    request.mutable_deliver()->set_clock_ms(8);
    auto response = host->Call(0, request, kTimeout);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->step() : v1::Step();
  };
  deliver("c2", R"({"status":200,"headers":{"content-type":"application/json"},"body":"{\"ok\":1}",)"
                R"("bodyEncoding":"utf8"})");
  deliver("c1", "null");
  v1::Step last = deliver("c3", "null");
  ASSERT_EQ(last.kind(), static_cast<int>(Outcome::Kind::kCompleted)) << last.error_message();
  EXPECT_EQ(last.result_json(), R"({"href":"https://example.com/p?a=1&b=2","text":")" "\xe2\x82\xac"
                                R"(","status":200,"body":{"ok":1},"fired":[36],"sent":[["x-one","1"]]})");
}

// --- 3. The CPU watchdog covers all task code ---------------------------------------

TEST(HostileTest, EveryPieceOfTaskCodeIsUnderTheWatchdog) {
  auto host = MakeHost();
  ASSERT_NE(host, nullptr);
  const pid_t pid = host->pids()[0];
  v1::Limits limits;
  limits.set_step_cpu_ms(300);
  const std::vector<std::pair<std::string, std::string>> tasks = {
      {"toJSON of the result", "return {toJSON() { for (;;) {} }};"},
      {"getter on the result", "return {a: 1, get b() { for (;;) {} }};"},
      {"getter on call args", "await __callHostTool__('svc', 'm', {get x() { for (;;) {} }}); return 1;"},
      {"toJSON of call args", "await __callHostTool__('svc', 'm', {toJSON() { for (;;) {} }}); return 1;"},
      {"then callback after a host call",
       "await __callHostTool__('svc', 'm', {}).then(() => { for (;;) {} }); return 1;"},
      {"thenable returned", "return {then(resolve) { for (;;) {} }};"},
      {"thenable awaited after a host call",
       "await __callHostTool__('svc', 'm', {}); await {then() { for (;;) {} }}; return 1;"},
      {"microtask queued", "queueMicrotask(() => { for (;;) {} }); return 1;"},
      {"getter on the error's message",
       "const e = new Error('x'); Object.defineProperty(e, 'message', {get() { for (;;) {} }}); throw e;"},
      {"getter on the error's stack",
       "const e = new Error('x'); Object.defineProperty(e, 'stack', {get() { for (;;) {} }}); throw e;"},
      {"toJSON of a thrown object", "throw {toJSON() { for (;;) {} }};"},
      {"getter on a thrown error's name (sync)",
       "module.exports = function () { const e = new Error('x'); "
       "Object.defineProperty(e, 'name', {get() { for (;;) {} }}); throw e; };"},
      {"toString of a value thrown at top level", "module.exports = 1; throw {toString() { for (;;) {} }};"},
  };
  int i = 0;
  for (const auto& [what, code] : tasks) {
    const absl::Time start = absl::Now();
    Ended e = RunTask(*host, absl::StrCat("w", i++), code, "null", nullptr, limits);
    EXPECT_TRUE(FailedWith(e, FailureKind::kTimeLimit)) << what << ": " << Describe(e);
    EXPECT_EQ(e.step.error_message(), "time limit exceeded (300ms of CPU per step)") << what;
    EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << what;
  }
  ExpectWorkerServes(*host, pid, "w-after");
}

TEST(HostileTest, FinalizationCallbacksRunUnderTheWatchdogWhenCheckpointing) {
  auto host = MakeHost();
  ASSERT_NE(host, nullptr);
  const pid_t pid = host->pids()[0];
  v1::Request start;
  start.set_run("fr");
  start.mutable_start()->set_code(R"(
    const registry = new FinalizationRegistry(() => { for (;;) {} });
    (() => { registry.register({}, 1); })();
    await __callHostTool__('svc', 'wait', {});
    return registry !== undefined;
  )");
  start.mutable_start()->set_input_json("null");
  start.mutable_start()->mutable_limits()->set_step_cpu_ms(300);
  auto started = host->Call(0, start, kTimeout);
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_EQ(started->step().calls_size(), 1) << started->step().error_message();
  v1::Request checkpoint;
  checkpoint.set_run("fr");
  checkpoint.mutable_checkpoint();
  auto written = host->Call(0, checkpoint, kTimeout);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->status_code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(absl::StrContains(written->status_message(), "FinalizationRegistry")) << written->status_message();
  ExpectWorkerServes(*host, pid, "fr-after");
}

// --- 4. Builtin overrides do not reach the runtime ----------------------------------

TEST(HostileTest, BuiltinOverridesNeverAbortTheWorker) {
  auto host = MakeHost();
  ASSERT_NE(host, nullptr);
  const pid_t pid = host->pids()[0];
  // The task's own work after its override: a call, a failed call, logs, a result.
  constexpr char kBody[] = R"(
    const r = await __callHostTool__('svc', 'm', {a: [1, 2]});
    let err;
    try { await __callHostTool__('svc', 'fail', {}); } catch (e) { err = e.name + ':' + e.message + ':' + e.code; }
    console.log('got', r, err);
    if (input === 'throw') throw new Error('boom');
    return {r, err, ok: true};
  )";
  auto prop = [](const std::string& name, const std::string& how) {
    return absl::StrCat("Object.defineProperty(Object.prototype, '", name, "', {__proto__: null, ", how,
                        ", configurable: true});");
  };
  const std::string kThrowSetter = "set(v) { throw new Error('setter'); }";
  const std::string kThrowGetter = "get() { throw new Error('getter'); }";
  const std::vector<std::string> overrides = {
      "Array.prototype.push = function () { throw new Error('push'); };",
      "Array.prototype.pop = function () { throw new Error('pop'); }; Array.prototype.includes = () => { throw 1; };",
      "Array.prototype.map = function () { throw new Error('map'); }; Array.prototype.join = () => { throw 2; };",
      "Array.prototype.splice = () => { throw 1; }; Array.prototype.every = () => { throw 1; };",
      "JSON.stringify = function () { throw new Error('stringify'); };",
      "JSON.parse = function () { return 'hijacked'; };",
      "Promise.prototype.then = function () { throw new Error('then'); };",
      "Promise.resolve = () => { throw 1; }; Promise.reject = () => { throw 1; };",
      "globalThis.Promise = function () { throw new Error('Promise'); };",
      prop("result", kThrowSetter),
      prop("exports", kThrowSetter),
      prop("state", kThrowSetter) + prop("value", kThrowSetter) + prop("main", kThrowSetter),
      prop("code", kThrowSetter) + prop("name", kThrowSetter) + prop("message", kThrowSetter) +
          prop("details", kThrowSetter),
      prop("get", kThrowGetter) + prop("set", kThrowGetter),
      prop("0", kThrowSetter) + prop("1", kThrowSetter) + prop("2", kThrowSetter) + prop("3", kThrowSetter),
      prop("resolve", kThrowSetter) + prop("reject", kThrowSetter),
      prop("next", kThrowSetter) + prop("call", kThrowSetter) + prop("v", kThrowSetter) + prop("up", kThrowSetter),
      "Array.prototype[Symbol.iterator] = function () { throw new Error('iterator'); };",
      "Function.prototype.call = function () { throw new Error('call'); };"
      "Function.prototype.apply = function () { throw new Error('apply'); };",
      "Function.prototype.bind = () => { throw 1; };",
      "Map.prototype.set = Map.prototype.get = Map.prototype.delete = Map.prototype.has = () => { throw 1; };",
      "Object.keys = () => { throw 1; }; Array.isArray = () => { throw 1; };",
      "Object.defineProperty = () => { throw 1; }; Reflect.defineProperty = () => { throw 1; };",
      "Reflect.apply = () => { throw 1; }; Reflect.construct = () => { throw 1; };",
      "globalThis.String = () => { throw 1; }; globalThis.TypeError = function () { throw 1; };",
      "globalThis.Error = function () { throw 1; };",
      "Error.prototype.toString = () => { throw 1; };",
      "Object.defineProperty(Error, Symbol.hasInstance, {value: () => { throw 1; }});",
      "Object.prototype.toString = () => { throw 1; }; Object.prototype.hasOwnProperty = () => { throw 1; };",
      "String.prototype.split = () => { throw 1; }; String.prototype.slice = () => { throw 1; };",
      "Object.freeze(Object.prototype); Object.freeze(Array.prototype); Object.freeze(Promise.prototype);",
  };
  auto answer = [](const std::string& args) { return args == "{}" ? std::string("!E1:nope") : args; };
  int i = 0;
  for (const std::string& override_code : overrides) {
    const std::string code = override_code + kBody;
    Ended ok = RunTask(*host, absl::StrCat("o", i), code, "null", answer);
    EXPECT_TRUE(Completed(ok)) << override_code << "\n" << Describe(ok);
    if (Completed(ok)) {
      EXPECT_EQ(ok.step.result_json(), R"({"r":{"a":[1,2]},"err":"HostCallError:nope:E1","ok":true})")
          << override_code;
    }
    Ended thrown = RunTask(*host, absl::StrCat("t", i), code, "\"throw\"", answer);
    EXPECT_TRUE(FailedWith(thrown, FailureKind::kTaskError)) << override_code << "\n" << Describe(thrown);
    EXPECT_FALSE(thrown.step.error_message().empty()) << override_code;
    // A CommonJS module with the override at its top level.
    Ended module = RunTask(*host, absl::StrCat("m", i),
                           absl::StrCat(override_code, "\nmodule.exports = async function (input) {", kBody, "};"),
                           "null", answer);
    EXPECT_TRUE(Completed(module)) << override_code << "\n" << Describe(module);
    ++i;
  }
  // The task's own error survives hostile stack formatting and getters.
  for (const std::string& code : {
           std::string("Error.prepareStackTrace = () => { throw 1; }; throw new Error('boom');"),
           std::string("const e = new Error('boom'); Object.defineProperty(e, 'name', {get() { throw 1; }}); throw e;"),
       }) {
    Ended e = RunTask(*host, absl::StrCat("p", i++), code, "null", answer);
    ASSERT_TRUE(FailedWith(e, FailureKind::kTaskError)) << code << "\n" << Describe(e);
    EXPECT_EQ(e.step.error_message(), "boom") << code;
  }
  // Overrides that change what the task itself sees end in a clear failure.
  const std::vector<std::string> failing = {
      prop("then", kThrowGetter) + "return {x: 1};",
      "Object.defineProperty(Promise.prototype, 'constructor', {get() { throw new Error('species'); }});"
      "return 1;",
  };
  for (const std::string& code : failing) {
    Ended e = RunTask(*host, absl::StrCat("f", i++), code, "null", answer);
    EXPECT_TRUE(Completed(e) || FailedWith(e, FailureKind::kTaskError)) << code << "\n" << Describe(e);
    EXPECT_TRUE(Completed(e) || !e.step.error_message().empty()) << code;
  }
  ExpectWorkerServes(*host, pid, "o-after");
}

// --- 5. Syntax checks run in a worker -----------------------------------------------

absl::StatusOr<v1::Response> Check(WorkerHost& host, const std::string& code, absl::Duration timeout = kTimeout) {
  v1::Request request;
  request.mutable_check_syntax()->set_code(code);
  return host.Call(0, request, timeout);
}

TEST(HostileTest, SyntaxIsCheckedInAWorkerThatMayDie) {
  auto host = MakeHost(1, 256, {"--test_crash_marker=CRASH_ON_CHECK", "--test_hang_marker=HANG_ON_CHECK"});
  ASSERT_NE(host, nullptr);
  auto good = Check(*host, "const r = await __callHostTool__('s', 'm', {}); return r;");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->status_code(), 0) << good->status_message();
  // The same message as the in-process check (what PublishTask returned).
  InitializeV8({});
  for (const std::string code : {"return (;", "module.exports = function () {\n  let x = ;\n};", "}"}) {
    const absl::Status local = CheckSyntax(code);
    ASSERT_FALSE(local.ok()) << code;
    auto bad = Check(*host, code);
    ASSERT_TRUE(bad.ok()) << bad.status();
    EXPECT_EQ(bad->status_code(), static_cast<int>(absl::StatusCode::kInvalidArgument)) << code;
    EXPECT_EQ(bad->status_message(), local.message()) << code;
  }
  // Source that kills its checker takes only the worker down.
  auto crashed = Check(*host, "// CRASH_ON_CHECK\nreturn 1;");
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(crashed.status().message(), "signal 6")) << crashed.status();
  // Source whose check never ends is given up on in bounded time.
  const absl::Time start = absl::Now();
  auto hung = Check(*host, "// HANG_ON_CHECK\nreturn 1;", absl::Seconds(1));
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  auto again = Check(*host, "return 2;");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status_code(), 0);
}

// --- 7. The host never hangs on a stuck worker, nor on EINTR --------------------------

TEST(HostileTest, AStuckWorkerDoesNotBlockItsCallersBeyondTheirTimeout) {
  auto host = MakeHost();
  ASSERT_NE(host, nullptr);
  const pid_t pid = host->pids()[0];
  ASSERT_EQ(kill(pid, SIGSTOP), 0);  // busy forever: it reads no more requests
  // A request larger than the pipe: its writer blocked forever in write()
  // (the timeout started only after the write), holding the worker's write
  // lock that every other caller waits for.
  std::string big(1 << 20, ' ');
  big += "return 1;";
  const absl::Time start = absl::Now();
  std::thread other([&] {
    absl::SleepFor(absl::Milliseconds(100));
    v1::Request small;
    small.set_run("small");
    small.mutable_drop();
    // Answered by the stuck worker's replacement, or failed with it: in time.
    (void)host->Call(0, small, absl::Seconds(2));
    EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  });
  v1::Request request;
  request.set_run("big");
  request.mutable_start()->set_code(big);
  auto answered = host->Call(0, request, absl::Seconds(2));
  other.join();
  ASSERT_FALSE(answered.ok());
  EXPECT_EQ(answered.status().code(), absl::StatusCode::kUnavailable) << answered.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  // The stuck worker was killed and replaced.
  for (int i = 0; i < 100 && (host->pids()[0] == pid || host->pids()[0] < 0); ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  Ended after = RunTask(*host, "after", "return 3;");
  EXPECT_TRUE(Completed(after)) << Describe(after);
}

TEST(HostileTest, DestroyingTheHostKillsAStuckWorker) {
  auto host = MakeHost(2);
  ASSERT_NE(host, nullptr);
  ASSERT_EQ(kill(host->pids()[1], SIGSTOP), 0);
  const absl::Time start = absl::Now();
  host.reset();  // waited forever for the stopped worker to exit
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

void OnSignal(int) {}

TEST(HostileTest, InterruptedSystemCallsAreRetried) {
  // As the executor's SIGTERM handler does: no SA_RESTART, so blocking
  // reads, writes, polls and waitpid calls return EINTR.
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGUSR1, &action, &old), 0);
  std::mutex mu;
  std::vector<std::string> reasons;
  auto host = MakeHost(1, 256, {}, [&](int, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu);
    reasons.push_back(reason);
  });
  ASSERT_NE(host, nullptr);
  // The signals go to the host's own threads (its readers, which also reap
  // dead workers), not to this one or the spammer.
  sigset_t usr1, previous;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &usr1, &previous), 0);
  std::atomic<bool> stop{false};
  std::thread spammer([&] {
    while (!stop) {
      kill(getpid(), SIGUSR1);
      absl::SleepFor(absl::Microseconds(50));
    }
  });
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 10; ++i) {
      Ended e = RunTask(*host, absl::StrCat("e", round, "-", i),
                        "let s = ''; for (let k = 0; k < 3; k++) s += (await __callHostTool__('s', 'm', {k: 'x'.repeat(70000)})).k.length; return s;");
      EXPECT_TRUE(Completed(e)) << Describe(e);
      EXPECT_EQ(e.step.result_json(), "\"700007000070000\"");
    }
    const pid_t pid = host->pids()[0];
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    for (int i = 0; i < 200 && (host->pids()[0] == pid || host->pids()[0] < 0); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (reasons.size() >= 3) break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  stop = true;
  spammer.join();
  host.reset();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  sigaction(SIGUSR1, &old, nullptr);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(reasons.size(), 3u);
  for (const std::string& reason : reasons) {
    EXPECT_TRUE(absl::StartsWith(reason, "killed by signal 9")) << reason;
  }
}

}  // namespace
}  // namespace tasker::js
