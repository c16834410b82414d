// Rebuild: recovery by checkpoint + replay. Restores a run's last checkpoint
// (or starts its code from its input when there is none, or when the
// checkpoint is from another format, V8 or native table) and replays the
// journal in order: each step's result and clock are delivered again and
// every call the task makes is matched against the journal (service, method,
// args). No call is performed. A mismatch fails the rebuild with
// kNondeterminism: "nondeterminism detected at call N: ...".
#ifndef TASKER_RUNTIME_JS_REPLAY_H_
#define TASKER_RUNTIME_JS_REPLAY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/js/engine.h"
#include "runtime/js/live_run.h"

namespace tasker::js {

struct JournalStep {
  int seq = 0;
  std::string trigger_call_id;  // empty for the start (seq 0)
  int64_t clock_ms = 0;
  uint64_t random_seed = 0;  // start only
};

struct JournalCall {
  int index = 0;  // 1-based
  int step = 0;   // the step that made it
  std::string call_id;
  std::string service;
  std::string method;
  std::string args_json;
  bool done = false;  // result (or error) recorded
  CallResult result;
};

struct RebuildInput {
  std::string code;
  std::string input_json;
  std::string checkpoint;   // optional
  int checkpoint_step = 0;  // the steps it covers
  std::vector<JournalStep> steps;  // every journal step, by seq
  std::vector<JournalCall> calls;  // every call, by index
  Limits limits;
};

struct RebuildResult {
  // Live at the end of the journal; null when the rebuild failed (outcome).
  std::unique_ptr<LiveRun> run;
  Outcome outcome;  // kSuspended when the run is live, else why not
  bool from_checkpoint = false;
  // Why a checkpoint given was not used (e.g. written by another V8).
  std::string checkpoint_note;
  int steps_replayed = 0;
  int calls_replayed = 0;
  double restore_ms = 0;  // checkpoint restore, or isolate start
  double replay_ms = 0;
};

// INVALID_ARGUMENT when the journal has no start step (nothing to rebuild:
// start the run instead) or is malformed.
absl::StatusOr<RebuildResult> Rebuild(const RebuildInput& input);

// Whether two JSON texts denote the same value (object key order and number
// spelling aside).
bool SameJson(const std::string& a, const std::string& b);

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_REPLAY_H_
