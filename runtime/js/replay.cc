#include "runtime/js/replay.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "runtime/common/json_text.h"

namespace tasker::js {

namespace {

std::string Describe(const std::string& service, const std::string& method, const std::string& args) {
  std::string shown = args.size() > 200 ? absl::StrCat(args.substr(0, 200), "...") : args;
  return absl::StrCat(service, ".", method, "(", shown, ")");
}

Outcome Diverged(std::string message) {
  Outcome out;
  out.kind = Outcome::Kind::kFailed;
  out.failure = FailureKind::kNondeterminism;
  out.error_name = "Nondeterminism";
  out.error_message = std::move(message);
  return out;
}

// Checks the outcome of replaying journal step `seq` against the journal.
// Returns true when it matches; *failure otherwise.
bool Matches(const Outcome& out, int seq, bool last_step, const std::vector<const JournalCall*>& expected,
             Outcome* failure) {
  if (out.kind == Outcome::Kind::kFailed) {
    *failure = out;
    if (failure->failure == FailureKind::kTaskError) {
      failure->failure = FailureKind::kNondeterminism;
      failure->error_message = absl::StrCat("nondeterminism detected at step ", seq,
                                            ": the task failed on replay where it went on before (",
                                            out.error_name, ": ", out.error_message, ")");
      failure->error_name = "Nondeterminism";
    }
    return false;
  }
  const size_t n = std::max(out.calls.size(), expected.size());
  for (size_t i = 0; i < n; ++i) {
    if (i >= out.calls.size()) {
      const JournalCall& want = *expected[i];
      *failure = Diverged(absl::StrCat("nondeterminism detected at call ", want.index, ": the journal has ",
                                       Describe(want.service, want.method, want.args_json), " at step ", seq,
                                       ", but the task did not make it on replay"));
      return false;
    }
    const HostCall& got = out.calls[i];
    if (i >= expected.size()) {
      *failure = Diverged(absl::StrCat("nondeterminism detected at call ", got.index, ": the task called ",
                                       Describe(got.service, got.method, got.args_json), " at step ", seq,
                                       ", which the journal does not have"));
      return false;
    }
    const JournalCall& want = *expected[i];
    if (got.index != want.index || got.service != want.service || got.method != want.method ||
        !SameJson(got.args_json, want.args_json)) {
      *failure = Diverged(absl::StrCat("nondeterminism detected at call ", want.index, ": the task called ",
                                       Describe(got.service, got.method, got.args_json),
                                       " where the journal has ", Describe(want.service, want.method, want.args_json)));
      return false;
    }
  }
  if (out.kind == Outcome::Kind::kCompleted) {
    *failure = Diverged(absl::StrCat("nondeterminism detected at step ", seq,
                                     ": the task completed on replay, but the journal goes on"));
    (void)last_step;
    return false;
  }
  return true;
}

}  // namespace

bool SameJson(const std::string& a, const std::string& b) {
  if (a == b) return true;
  // JSON.stringify writes a lone surrogate as "\udXXX", which nlohmann
  // refuses: compared as the text "\\udXXX".
  nlohmann::json x = nlohmann::json::parse(RewriteLoneSurrogateEscapes(a, LoneSurrogates::kAsText), nullptr, false);
  nlohmann::json y = nlohmann::json::parse(RewriteLoneSurrogateEscapes(b, LoneSurrogates::kAsText), nullptr, false);
  if (x.is_discarded() || y.is_discarded()) return false;
  return x == y;
}

absl::StatusOr<RebuildResult> Rebuild(const RebuildInput& in) {
  if (in.steps.empty() || in.steps[0].seq != 0 || !in.steps[0].trigger_call_id.empty()) {
    return absl::InvalidArgumentError("steps: the journal has no start step (seq 0)");
  }
  for (size_t i = 0; i < in.steps.size(); ++i) {
    if (in.steps[i].seq != static_cast<int>(i)) {
      return absl::InvalidArgumentError(absl::StrCat("steps[", i, "].seq: ", in.steps[i].seq, ", expected ", i));
    }
  }
  std::map<std::string, const JournalCall*> by_id;
  std::map<int, std::vector<const JournalCall*>> by_step;
  for (const JournalCall& c : in.calls) {
    by_id[c.call_id] = &c;
    by_step[c.step].push_back(&c);
  }
  RebuildResult result;
  const absl::Time start = absl::Now();
  int from = 0;
  if (!in.checkpoint.empty() && in.checkpoint_step >= 1 &&
      in.checkpoint_step <= static_cast<int>(in.steps.size())) {
    auto restored = LiveRun::Restore(in.checkpoint, in.checkpoint_step, in.limits);
    if (restored.ok()) {
      result.run = std::move(*restored);
      result.from_checkpoint = true;
      from = in.checkpoint_step;
    } else {
      result.checkpoint_note = std::string(restored.status().message());
    }
  } else if (!in.checkpoint.empty()) {
    result.checkpoint_note = absl::StrCat("checkpoint step ", in.checkpoint_step, " is outside the journal");
  }
  const size_t last = in.steps.size() - 1;
  if (!result.run) {
    Outcome out;
    auto run = LiveRun::Start(in.code, in.input_json,
                              {.clock_ms = in.steps[0].clock_ms, .random_seed = in.steps[0].random_seed, .replaying = true}, in.limits,
                              &out);
    if (!run.ok()) return run.status();
    result.restore_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    if (!Matches(out, 0, last == 0, by_step[0], &result.outcome)) return result;
    result.run = std::move(*run);
    result.calls_replayed += static_cast<int>(out.calls.size());
    result.steps_replayed = 1;
    from = 1;
  } else {
    result.restore_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  }
  const absl::Time replay_start = absl::Now();
  result.run->set_replaying(true);
  for (size_t seq = from; seq < in.steps.size(); ++seq) {
    const JournalStep& step = in.steps[seq];
    auto it = by_id.find(step.trigger_call_id);
    if (it == by_id.end() || !it->second->done) {
      result.run.reset();
      result.outcome = Diverged(absl::StrCat("the journal is inconsistent: step ", seq, " delivers call '",
                                             step.trigger_call_id, "', which has no recorded result"));
      return result;
    }
    CallResult delivered = it->second->result;
    delivered.call_id = step.trigger_call_id;
    auto out = result.run->Deliver(delivered, step.clock_ms);
    if (!out.ok()) {
      result.run.reset();
      result.outcome = Diverged(absl::StrCat("nondeterminism detected at step ", seq, ": call '",
                                             step.trigger_call_id, "' is not pending on replay"));
      return result;
    }
    if (!Matches(*out, static_cast<int>(seq), seq == last, by_step[static_cast<int>(seq)], &result.outcome)) {
      result.run.reset();
      return result;
    }
    result.calls_replayed += static_cast<int>(out->calls.size());
    ++result.steps_replayed;
  }
  result.run->set_replaying(false);
  result.replay_ms = absl::ToDoubleMilliseconds(absl::Now() - replay_start);
  result.outcome = Outcome();
  result.outcome.kind = Outcome::Kind::kSuspended;
  result.outcome.stats.heap_bytes = result.run->heap_bytes();
  result.outcome.stats.restore_ms = result.restore_ms;
  return result;
}

}  // namespace tasker::js
