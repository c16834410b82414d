// Warm runs in-process: results delivered into a live isolate, the journal a
// live run leaves, and rebuilding it by checkpoint + replay.
#include "runtime/js/live_run.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/js/continuation.h"
#include "runtime/js/replay.h"

namespace tasker::js {
namespace {

// A task that observes every kind of nondeterminism and passes it into its
// calls, so that a replay that saw other values would diverge.
constexpr char kTask[] = R"(
  const seen = [];
  for (let i = 0; i < 5; i++) {
    const r = Math.random();
    const t = Date.now();
    seen.push(await __callHostTool__('svc', 'step', {i, r, t}));
  }
  const [a, b] = await Promise.all([__callHostTool__('svc', 'a', {}), __callHostTool__('svc', 'b', {})]);
  return {seen, a, b, end: Date.now(), r: Math.random()};
)";

// Runs a task live against a host that answers each call with f(call),
// delivering pending results last-made-first, and keeps the journal.
struct Recorded {
  std::vector<JournalStep> steps;
  std::vector<JournalCall> calls;
  Outcome last;
  // The live run, stopped after `stop_after` steps (or null once finished).
  std::unique_ptr<LiveRun> run;
  std::vector<std::string> outstanding;
};

Recorded Record(const std::string& code, std::function<std::string(const HostCall&)> answer, int stop_after = 1000) {
  Recorded rec;
  int64_t clock = 1700000000000;
  rec.steps.push_back({0, "", clock, 0x1234567890abcdefULL});
  auto run = LiveRun::Start(code, "null", {.clock_ms = clock, .random_seed = 0x1234567890abcdefULL}, {}, &rec.last);
  EXPECT_TRUE(run.ok()) << run.status();
  rec.run = std::move(*run);
  auto note_calls = [&](const Outcome& out, int step) {
    for (const HostCall& c : out.calls) {
      JournalCall j{c.index, step, c.call_id, c.service, c.method, c.args_json, true, {c.call_id, true, answer(c)}};
      rec.calls.push_back(j);
      rec.outstanding.push_back(c.call_id);
    }
  };
  note_calls(rec.last, 0);
  while (rec.run && rec.last.kind == Outcome::Kind::kSuspended && !rec.outstanding.empty() &&
         static_cast<int>(rec.steps.size()) < stop_after) {
    const std::string id = rec.outstanding.back();
    rec.outstanding.pop_back();
    const JournalCall* call = nullptr;
    for (const auto& c : rec.calls) {
      if (c.call_id == id) call = &c;
    }
    clock += 7;
    const int seq = static_cast<int>(rec.steps.size());
    rec.steps.push_back({seq, id, clock, 0});
    auto out = rec.run->Deliver(call->result, clock);
    EXPECT_TRUE(out.ok()) << out.status();
    rec.last = *out;
    note_calls(rec.last, seq);
    if (rec.run->finished()) rec.run.reset();
  }
  return rec;
}

std::string Echo(const HostCall& c) { return absl::StrCat(R"({"m":")", c.method, R"(","args":)", c.args_json, "}"); }

TEST(LiveRunTest, ResultsAreDeliveredIntoTheLiveIsolate) {
  Recorded rec = Record(kTask, Echo);
  ASSERT_EQ(rec.last.kind, Outcome::Kind::kCompleted) << rec.last.error_message;
  // 1 start + 5 sequential + 2 parallel deliveries.
  EXPECT_EQ(rec.steps.size(), 8u);
  EXPECT_EQ(rec.calls.size(), 7u);
  // Date.now() is the step's clock: the first call saw the start clock.
  EXPECT_NE(rec.calls[0].args_json.find("\"t\":1700000000000"), std::string::npos) << rec.calls[0].args_json;
  EXPECT_NE(rec.last.result_json.find(absl::StrCat("\"end\":", rec.steps.back().clock_ms)), std::string::npos)
      << rec.last.result_json;
  // The same seed gives the same Math.random() sequence.
  Recorded again = Record(kTask, Echo);
  EXPECT_EQ(again.last.result_json, rec.last.result_json);
}

TEST(LiveRunTest, AResultForNoPendingCallIsRefusedAndNothingRuns) {
  Outcome out;
  auto run = LiveRun::Start("return await __callHostTool__('a', 'b', 1);", "null", {}, {}, &out);
  ASSERT_TRUE(run.ok() && *run);
  auto bad = (*run)->Deliver({"c9", true, "1"}, 0);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*run)->steps(), 1);
  auto good = (*run)->Deliver({"c1", true, "41"}, 0);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->kind, Outcome::Kind::kCompleted);
  EXPECT_EQ(good->result_json, "41");
}

RebuildInput InputFor(const Recorded& rec, size_t steps) {
  RebuildInput in;
  in.code = kTask;
  in.input_json = "null";
  in.steps.assign(rec.steps.begin(), rec.steps.begin() + steps);
  in.calls = rec.calls;
  return in;
}

// Finishes a rebuilt run by delivering the results the journal does not show
// as delivered, in the recorder's order.
Outcome Finish(LiveRun& run, const Recorded& rec, size_t from_step) {
  Outcome out;
  for (size_t seq = from_step; seq < rec.steps.size(); ++seq) {
    for (const auto& c : rec.calls) {
      if (c.call_id == rec.steps[seq].trigger_call_id) {
        auto step = run.Deliver(c.result, rec.steps[seq].clock_ms);
        EXPECT_TRUE(step.ok()) << step.status();
        out = *step;
      }
    }
  }
  return out;
}

TEST(LiveRunTest, ReplayFromTheStartReachesTheSameStateWithoutPerformingCalls) {
  Recorded rec = Record(kTask, Echo);
  ASSERT_EQ(rec.last.kind, Outcome::Kind::kCompleted);
  for (size_t cut : {1u, 3u, 6u, 7u}) {
    auto rebuilt = Rebuild(InputFor(rec, cut));
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
    ASSERT_NE(rebuilt->run, nullptr) << rebuilt->outcome.error_message;
    EXPECT_FALSE(rebuilt->from_checkpoint);
    EXPECT_EQ(rebuilt->steps_replayed, static_cast<int>(cut));
    EXPECT_EQ(rebuilt->run->steps(), static_cast<int>(cut));
    Outcome out = Finish(*rebuilt->run, rec, cut);
    EXPECT_EQ(out.kind, Outcome::Kind::kCompleted) << out.error_message;
    EXPECT_EQ(out.result_json, rec.last.result_json) << "cut at " << cut;
  }
}

TEST(LiveRunTest, ACheckpointPlusTheRestOfTheJournalRebuildsTheRun) {
  Recorded rec = Record(kTask, Echo);
  Recorded partial = Record(kTask, Echo, 4);  // live, after 4 steps
  ASSERT_NE(partial.run, nullptr);
  auto checkpoint = partial.run->Checkpoint();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  RebuildInput in = InputFor(rec, 6);
  in.checkpoint = *checkpoint;
  in.checkpoint_step = 4;
  auto rebuilt = Rebuild(in);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  ASSERT_NE(rebuilt->run, nullptr) << rebuilt->outcome.error_message;
  EXPECT_TRUE(rebuilt->from_checkpoint);
  EXPECT_EQ(rebuilt->steps_replayed, 2);
  Outcome out = Finish(*rebuilt->run, rec, 6);
  EXPECT_EQ(out.result_json, rec.last.result_json);
}

TEST(LiveRunTest, ACheckpointFromAnotherV8IsRebuiltByReplayFromTheStart) {
  Recorded rec = Record(kTask, Echo);
  Recorded partial = Record(kTask, Echo, 4);
  auto checkpoint = partial.run->Checkpoint();
  ASSERT_TRUE(checkpoint.ok());
  auto blob = DecodeContinuation(*checkpoint, ExternalReferencesVersion(), V8Version());
  ASSERT_TRUE(blob.ok());
  RebuildInput in = InputFor(rec, 6);
  in.checkpoint = EncodeContinuation(*blob, ExternalReferencesVersion(), "9.9.999-other");
  in.checkpoint_step = 4;
  auto rebuilt = Rebuild(in);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  ASSERT_NE(rebuilt->run, nullptr) << rebuilt->outcome.error_message;
  EXPECT_FALSE(rebuilt->from_checkpoint);
  EXPECT_NE(rebuilt->checkpoint_note.find("9.9.999-other"), std::string::npos) << rebuilt->checkpoint_note;
  EXPECT_EQ(rebuilt->steps_replayed, 6);
  Outcome out = Finish(*rebuilt->run, rec, 6);
  EXPECT_EQ(out.result_json, rec.last.result_json);
  // And one from another native table.
  in.checkpoint = EncodeContinuation(*blob, ExternalReferencesVersion() + 1, V8Version());
  rebuilt = Rebuild(in);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_FALSE(rebuilt->from_checkpoint);
  EXPECT_NE(rebuilt->run, nullptr);
}

TEST(LiveRunTest, ATamperedJournalIsDetectedAsNondeterminism) {
  Recorded rec = Record(kTask, Echo);
  RebuildInput in = InputFor(rec, 6);
  in.calls[2].args_json = R"({"i":2,"r":0.5,"t":1})";
  auto rebuilt = Rebuild(in);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_EQ(rebuilt->run, nullptr);
  EXPECT_EQ(rebuilt->outcome.failure, FailureKind::kNondeterminism);
  EXPECT_NE(rebuilt->outcome.error_message.find("nondeterminism detected at call 3"), std::string::npos)
      << rebuilt->outcome.error_message;
  // Another clock for a step changes what the task passes on.
  in = InputFor(rec, 6);
  in.steps[1].clock_ms += 1;
  rebuilt = Rebuild(in);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_EQ(rebuilt->outcome.failure, FailureKind::kNondeterminism);
  EXPECT_NE(rebuilt->outcome.error_message.find("at call 2"), std::string::npos) << rebuilt->outcome.error_message;
  // Another method.
  in = InputFor(rec, 6);
  in.calls[0].method = "other";
  rebuilt = Rebuild(in);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_NE(rebuilt->outcome.error_message.find("nondeterminism detected at call 1: the task called svc.step("),
            std::string::npos)
      << rebuilt->outcome.error_message;
  // Another seed.
  in = InputFor(rec, 6);
  in.steps[0].random_seed ^= 1;
  rebuilt = Rebuild(in);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_EQ(rebuilt->outcome.failure, FailureKind::kNondeterminism);
}

TEST(LiveRunTest, ParallelResultsReplayInTheOrderTheyWereDelivered) {
  constexpr char kRace[] = R"(
    const order = [];
    await Promise.all(['x', 'y', 'z'].map(async (k) => { await __callHostTool__('svc', k, {}); order.push(k); }));
    return order;
  )";
  Recorded rec = Record(kRace, Echo);
  ASSERT_EQ(rec.last.kind, Outcome::Kind::kCompleted);
  EXPECT_EQ(rec.last.result_json, R"(["z","y","x"])");  // the recorder delivers last-made-first
  RebuildInput in;
  in.code = kRace;
  in.input_json = "null";
  in.steps.assign(rec.steps.begin(), rec.steps.begin() + 3);
  in.calls = rec.calls;
  auto rebuilt = Rebuild(in);
  ASSERT_TRUE(rebuilt.ok() && rebuilt->run) << rebuilt->outcome.error_message;
  auto out = rebuilt->run->Deliver(rec.calls[0].result, 0);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->result_json, R"(["z","y","x"])");
}

TEST(LiveRunTest, AJournalWithoutAStartIsRefused) {
  RebuildInput in;
  in.code = kTask;
  EXPECT_EQ(Rebuild(in).status().code(), absl::StatusCode::kInvalidArgument);
  in.steps.push_back({1, "c1", 0, 0});
  EXPECT_EQ(Rebuild(in).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LiveRunTest, ManyLiveRunsInterleaveOnOneThread) {
  constexpr char kSum[] = "let s = 0; for (let k = 0; k < 3; k++) s += await __callHostTool__('a', 'b', k); return s;";
  std::vector<std::unique_ptr<LiveRun>> runs;
  for (int i = 0; i < 50; ++i) {
    Outcome out;
    auto run = LiveRun::Start(kSum, "null", {.clock_ms = 1, .random_seed = static_cast<uint64_t>(i)}, {}, &out);
    ASSERT_TRUE(run.ok() && *run);
    runs.push_back(std::move(*run));
  }
  for (int k = 1; k <= 3; ++k) {
    for (int i = 0; i < 50; ++i) {
      if (!runs[i]) continue;
      auto out = runs[i]->Deliver({absl::StrCat("c", k), true, std::to_string(i)}, 1);
      ASSERT_TRUE(out.ok()) << out.status();
      if (k == 3) EXPECT_EQ(out->result_json, std::to_string(3 * i));
    }
    if (k == 1) {
      // Runs destroyed out of creation order while others live on.
      runs[7].reset();
      runs[30].reset();
      runs[0].reset();
    }
  }
}

// A finished run's isolate is kept for the next run of the same code, which
// starts in a new context: nothing of the earlier run is reachable, and
// another task's code never gets the isolate.
TEST(LiveRunTest, AFinishedRunsIsolateServesTheNextRunOfTheSameCodeOnly) {
  const std::string code = R"(
    const before = typeof globalThis.leak === 'undefined' && Array.prototype.mine === undefined
        ? 'clean' : 'leaked:' + globalThis.leak;
    globalThis.leak = input.v;
    Array.prototype.mine = 1;
    const r = await __callHostTool__('svc', 'echo', {v: input.v});
    return {before, echoed: r, rand: Math.random()};
  )";
  auto finish = [&](const std::string& input, const std::string& task_code) -> std::string {
    Outcome out;
    auto run = LiveRun::Start(task_code, input, {.clock_ms = 1, .random_seed = 42}, {}, &out);
    EXPECT_TRUE(run.ok() && *run) << (run.ok() ? out.error_message : run.status().ToString());
    if (!run.ok() || !*run) return "";
    auto done = (*run)->Deliver({out.calls.at(0).call_id, true, "\"ok\""}, 2);
    EXPECT_TRUE(done.ok() && done->kind == Outcome::Kind::kCompleted);
    LiveRun::Release(std::move(*run));
    return done.ok() ? done->result_json : "";
  };
  const int kept_before = LiveRun::ReusableIsolates();
  const std::string first = finish(R"({"v":"one"})", code);
  EXPECT_EQ(LiveRun::ReusableIsolates(), std::min(kept_before + 1, 4));
  const std::string second = finish(R"({"v":"two"})", code);
  // The second run saw a clean global and clean builtins, and the same
  // seeded random value as the first (the generator lives in the context).
  EXPECT_NE(first.find(R"("before":"clean")"), std::string::npos) << first;
  EXPECT_NE(second.find(R"("before":"clean")"), std::string::npos) << second;
  const auto rand_of = [](const std::string& json) { return json.substr(json.find("\"rand\"")); };
  EXPECT_EQ(rand_of(first), rand_of(second));
  // Another task does not take it.
  const int kept = LiveRun::ReusableIsolates();
  const std::string other = finish(R"({"v":"three"})", std::string(code) + "\n// another task");
  EXPECT_NE(other.find(R"("before":"clean")"), std::string::npos) << other;
  EXPECT_GE(LiveRun::ReusableIsolates(), std::min(kept, 4));
}

// A run started in a kept isolate, or in a spare, checkpoints and restores
// like any other.
TEST(LiveRunTest, RunsInKeptAndSpareIsolatesCheckpointAndRestore) {
  const std::string body = R"(
    const a = await __callHostTool__('svc', 'one', {});
    const b = await __callHostTool__('svc', 'two', {a});
    return [a, b, Math.random() < 1];
  )";
  // Runs `code` to its end, answering 1 and 2.
  auto finish = [](const std::string& code) {
    Outcome o;
    auto r = LiveRun::Start(code, "null", {.clock_ms = 1, .random_seed = 1}, {}, &o);
    ASSERT_TRUE(r.ok() && *r);
    auto d1 = (*r)->Deliver({o.calls.at(0).call_id, true, "1"}, 2);
    ASSERT_TRUE(d1.ok());
    auto d2 = (*r)->Deliver({d1->calls.at(0).call_id, true, "2"}, 3);
    ASSERT_TRUE(d2.ok() && d2->kind == Outcome::Kind::kCompleted);
    LiveRun::Release(std::move(*r));
  };
  for (const char* how : {"kept", "spare"}) {
    const std::string code = absl::StrCat(body, "// ", how);
    if (std::string(how) == "kept") {
      finish(code);  // its isolate is kept for the next start of `code`
    } else {
      LiveRun::PrepareSpare(2);
      ASSERT_GT(LiveRun::SpareIsolates(), 0);
    }
    const int kept = LiveRun::ReusableIsolates(), spares = LiveRun::SpareIsolates();
    Outcome out;
    auto run = LiveRun::Start(code, "null", {.clock_ms = 1, .random_seed = 7}, {}, &out);
    ASSERT_TRUE(run.ok() && *run) << how;
    if (std::string(how) == "kept") {
      EXPECT_EQ(LiveRun::ReusableIsolates(), kept - 1);
    } else {
      EXPECT_EQ(LiveRun::SpareIsolates(), spares - 1);
    }
    auto second = (*run)->Deliver({out.calls.at(0).call_id, true, "1"}, 2);
    ASSERT_TRUE(second.ok() && second->kind == Outcome::Kind::kSuspended) << how;
    auto checkpoint = (*run)->Checkpoint();
    ASSERT_TRUE(checkpoint.ok()) << how << ": " << checkpoint.status();
    run->reset();
    auto restored = LiveRun::Restore(*checkpoint, 2, {});
    ASSERT_TRUE(restored.ok()) << how << ": " << restored.status();
    auto done = (*restored)->Deliver({second->calls.at(0).call_id, true, "2"}, 3);
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->result_json, "[1,2,true]") << how;
  }
}

TEST(LiveRunTest, ARunStoppedByTheTimeLimitIsNotKept) {
  Limits limits;
  limits.step_cpu = absl::Milliseconds(100);
  const std::string code = "await __callHostTool__('svc', 'x', {}); while (true) {}";
  Outcome out;
  auto run = LiveRun::Start(code, "null", {.clock_ms = 1, .random_seed = 1}, limits, &out);
  ASSERT_TRUE(run.ok() && *run);
  auto stopped = (*run)->Deliver({out.calls.at(0).call_id, true, "1"}, 2);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->failure, FailureKind::kTimeLimit);
  const int kept = LiveRun::ReusableIsolates();
  LiveRun::Release(std::move(*run));
  EXPECT_EQ(LiveRun::ReusableIsolates(), kept);
}

}  // namespace
}  // namespace tasker::js
