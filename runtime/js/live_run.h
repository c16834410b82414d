// LiveRun: the V8 isolate of one run, kept alive between its host calls, and
// its host-call bridge. A warm run is started once, then each call result is
// delivered into the live isolate, which runs on to its next wait: no
// snapshot and no restore on the hot path.
//
//   Outcome out;
//   auto run = LiveRun::Start(code, input, {.clock_ms = now, .random_seed = s}, limits, &out);
//   while (run && out.kind == Outcome::Kind::kSuspended) {
//     ... perform out.calls, then for each result as it arrives:
//     out = *run->Deliver(result, now);
//   }
//
// Each step (the start, or one delivery) runs to quiescence: the microtask
// queue is drained before the step returns. Date.now() is frozen at the
// step's clock; Math.random() is seeded once, from the start step. Given the
// same code, input, step clocks, seed and results in the same order, a run
// makes the same calls: that is what replay (replay.h) relies on.
//
// Threading: a LiveRun may be used from any one thread at a time; it enters
// its isolate only for the duration of each call. Not thread-safe.
#ifndef TASKER_RUNTIME_JS_LIVE_RUN_H_
#define TASKER_RUNTIME_JS_LIVE_RUN_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/js/engine.h"

namespace v8 {
class Isolate;
class SnapshotCreator;
class Context;
class Object;
template <class T>
class Global;
}  // namespace v8

namespace tasker::js {

struct IsolateState;
class ArrayBufferBudget;

struct StartValues {
  int64_t clock_ms = 0;
  uint64_t random_seed = 0;
  bool replaying = false;  // console output of the start step is not collected
};

class LiveRun {
 public:
  // Starts the task from its input and runs it to its first wait. The first
  // step's outcome goes to *out; the run is returned only while it waits
  // (kSuspended), null once it completed or failed. INVALID_ARGUMENT for an
  // empty code.
  static absl::StatusOr<std::unique_ptr<LiveRun>> Start(absl::string_view code, absl::string_view input_json,
                                                        const StartValues& values, const Limits& limits,
                                                        Outcome* out);

  // Restores a run from a checkpoint (checkpoint.h's format) that covers
  // journal steps [0, step). FAILED_PRECONDITION for a checkpoint of another
  // format, V8 or native table version; DATA_LOSS for a corrupt one.
  static absl::StatusOr<std::unique_ptr<LiveRun>> Restore(absl::string_view checkpoint, int step,
                                                          const Limits& limits);

  // Destroys a run, or keeps a finished run's isolate (without its context:
  // nothing of the run stays reachable) for the next Start of the same code
  // on the same thread, which then skips creating an isolate. Only isolates
  // of runs that finished normally, were never restored from a checkpoint
  // and stayed small are kept, a few per process, and only for the code that
  // ran in them (a run never gets another task's isolate).
  static void Release(std::unique_ptr<LiveRun> run);
  // Isolates kept for reuse in this process.
  static int ReusableIsolates();
  // Makes a fresh isolate (with its context) ahead of need, on this thread,
  // for the next Start of any code here that finds no kept isolate: called
  // when the thread is idle, it takes the ~1.3 ms of creating an isolate off
  // a run's start. Keeps at most `max` such spares per thread; returns
  // whether it made one.
  static bool PrepareSpare(int max);
  // Spare isolates ready on this thread.
  static int SpareIsolates();

  ~LiveRun();
  LiveRun(const LiveRun&) = delete;
  LiveRun& operator=(const LiveRun&) = delete;

  // Settles the pending call `result.call_id` and runs the task until it
  // waits again. INVALID_ARGUMENT when no such call is pending (nothing
  // runs). After a kCompleted/kFailed outcome the run is finished.
  absl::StatusOr<Outcome> Deliver(const CallResult& result, int64_t clock_ms);

  // Writes a checkpoint of the run: a V8 snapshot in the continuation format.
  // On success the run is spent (V8 can snapshot an isolate only once):
  // destroy it, or Restore() the checkpoint to go on. On failure (state V8
  // cannot snapshot, e.g. a live Intl object) the run is untouched.
  absl::StatusOr<std::string> Checkpoint(StepStats* stats = nullptr);

  // Steps run so far: the seq of the next journal step.
  int steps() const { return steps_; }
  // Host calls made so far.
  int calls_made() const { return calls_made_; }
  // Heap memory of the isolate after the last step (physical + malloced).
  size_t heap_bytes() const { return heap_bytes_; }
  bool finished() const { return finished_; }
  // While replaying, console output is not collected (it was, live).
  void set_replaying(bool replaying);

 private:
  LiveRun(const Limits& limits);
  absl::Status CreateIsolate(const std::string* blob);
  // A kept isolate taken for a new run: fresh state and a new context.
  void Reuse(const Limits& limits);
  template <typename Body>
  Outcome Step(Body body);
  bool Begin(absl::string_view code, absl::string_view input_json, const StartValues& values, Outcome* out);
  void Settle(Outcome* out);
  void MeasureHeap();

  std::unique_ptr<IsolateState> state_;
  // The isolate's ArrayBuffer allocator: outlives creator_ (the isolate).
  std::unique_ptr<ArrayBufferBudget> array_buffers_;
  std::string blob_;  // the snapshot this isolate was restored from: outlives creator_
  std::unique_ptr<v8::SnapshotCreator> creator_;
  v8::Isolate* isolate_ = nullptr;
  std::unique_ptr<v8::Global<v8::Context>> context_;
  std::unique_ptr<v8::Global<v8::Object>> runtime_;
  std::string code_;  // the task code this isolate ran (Start)
  int steps_ = 0;
  int calls_made_ = 0;
  size_t heap_bytes_ = 0;
  bool finished_ = false;
  bool spent_ = false;
};

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_LIVE_RUN_H_
