// Test support for the task-globals tests: a run driven by the test
// (results delivered in the order it says), its journal, and helpers.
#ifndef TASKER_RUNTIME_JS_GLOBALS_TEST_SUPPORT_H_
#define TASKER_RUNTIME_JS_GLOBALS_TEST_SUPPORT_H_

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/js/live_run.h"
#include "runtime/js/replay.h"

namespace tasker::js::testing {

using nlohmann::json;

constexpr int64_t kClock = 1700000000000;

// A run driven by the test: results are delivered in the order it says.
class TaskRun {
 public:
  explicit TaskRun(const std::string& code, uint64_t seed = 42, const std::string& input = "null") : code_(code) {
    auto run = LiveRun::Start(code, input, {.clock_ms = kClock, .random_seed = seed}, {}, &last_);
    EXPECT_TRUE(run.ok()) << run.status();
    if (run.ok()) run_ = std::move(*run);
    Note(last_, 0);
    steps_.push_back({0, "", kClock, seed});
  }

  // Every call made so far, by id ("c1"...).
  const HostCall& call(const std::string& id) const { return calls_.at(id); }
  bool has_call(const std::string& id) const { return calls_.count(id) > 0; }
  size_t call_count() const { return calls_.size(); }
  const Outcome& last() const { return last_; }
  LiveRun* live() { return run_.get(); }
  std::vector<LogLine>& logs() { return logs_; }

  // Delivers a result (JSON) for call `id`; returns the step's outcome.
  const Outcome& Deliver(const std::string& id, const std::string& result_json) {
    return DeliverResult({id, true, result_json});
  }
  const Outcome& Fail(const std::string& id, const std::string& message, const std::string& code) {
    CallResult r{id, false};
    r.error_message = message;
    r.error_code = code;
    return DeliverResult(r);
  }
  // Checkpoints the live run and goes on in a run restored from it.
  void CheckpointAndRestore() {
    ASSERT_NE(run_, nullptr);
    auto checkpoint = run_->Checkpoint();
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    const int steps = run_->steps();
    run_.reset();
    auto restored = LiveRun::Restore(*checkpoint, steps, {});
    ASSERT_TRUE(restored.ok()) << restored.status();
    run_ = std::move(*restored);
  }
  // The journal so far (steps and calls with the results delivered).
  RebuildInput Journal(size_t steps) const {
    RebuildInput in;
    in.code = code_;
    in.input_json = "null";
    in.steps.assign(steps_.begin(), steps_.begin() + steps);
    for (const auto& [id, call] : calls_) {
      JournalCall j{call.index, made_in_.at(id), id, call.service, call.method, call.args_json, false, {}};
      auto it = results_.find(id);
      if (it != results_.end()) {
        j.done = true;
        j.result = it->second;
      }
      in.calls.push_back(j);
    }
    std::sort(in.calls.begin(), in.calls.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
    return in;
  }
  size_t steps() const { return steps_.size(); }

 private:
  const Outcome& DeliverResult(const CallResult& result) {
    EXPECT_NE(run_, nullptr) << "the run is over";
    if (!run_) return last_;
    clock_ += 1000;
    const int seq = static_cast<int>(steps_.size());
    steps_.push_back({seq, result.call_id, clock_, 0});
    results_[result.call_id] = result;
    auto out = run_->Deliver(result, clock_);
    EXPECT_TRUE(out.ok()) << out.status();
    if (out.ok()) last_ = *out;
    Note(last_, seq);
    if (run_->finished()) run_.reset();
    return last_;
  }
  void Note(const Outcome& out, int step) {
    for (const HostCall& c : out.calls) {
      calls_[c.call_id] = c;
      made_in_[c.call_id] = step;
    }
    for (const LogLine& line : out.logs) logs_.push_back(line);
  }

  std::string code_;
  std::unique_ptr<LiveRun> run_;
  Outcome last_;
  std::map<std::string, HostCall> calls_;
  std::map<std::string, int> made_in_;
  std::map<std::string, CallResult> results_;
  std::vector<JournalStep> steps_;
  std::vector<LogLine> logs_;
  int64_t clock_ = kClock;
};

// Runs a task to its end, answering each call with null, oldest first.
inline Outcome Finish(const std::string& code, uint64_t seed = 42) {
  TaskRun run(code, seed);
  for (int i = 1; i <= 200 && run.last().kind == Outcome::Kind::kSuspended; ++i) {
    const std::string id = absl::StrCat("c", i);
    if (!run.has_call(id)) break;
    run.Deliver(id, "null");
  }
  return run.last();
}

inline json ResultOf(const Outcome& out) {
  EXPECT_EQ(out.kind, Outcome::Kind::kCompleted) << out.error_name << ": " << out.error_message;
  if (out.kind != Outcome::Kind::kCompleted) return json();
  return json::parse(out.result_json);
}

// The http service's answer: {status, statusText, headers, body, bodyEncoding, url}.
inline std::string HttpAnswer(int status, const std::string& body, const std::string& encoding = "utf8",
                       const std::string& headers = R"({"Content-Type":"application/json","X-Many":"a"})") {
  return absl::StrCat(R"({"status":)", status, R"(,"statusText":"Status )", status, R"(","headers":)", headers,
                      R"(,"body":)", json(body).dump(), R"(,"bodyEncoding":")", encoding,
                      R"(","url":"https://api.test/final"})");
}

}  // namespace tasker::js::testing

#endif  // TASKER_RUNTIME_JS_GLOBALS_TEST_SUPPORT_H_
