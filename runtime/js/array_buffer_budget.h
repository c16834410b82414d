// Internal to runtime/js: the ArrayBuffer allocator of every run's isolate.
// Built without RTTI, as libnode is (it subclasses a V8 class).
#ifndef TASKER_RUNTIME_JS_ARRAY_BUFFER_BUDGET_H_
#define TASKER_RUNTIME_JS_ARRAY_BUFFER_BUDGET_H_

#include <atomic>
#include <cstddef>

#include "v8.h"

namespace tasker::js {

// The ArrayBuffer memory of one isolate, against a budget: ArrayBuffer and
// typed-array backing stores live outside the V8 heap (and its limit), so
// without one a task could take the whole machine's memory. An allocation
// past the budget fails (V8 throws a RangeError, after collecting garbage
// and retrying); one that still fails after V8's retries marks the step as
// out of memory. Thread-safe (V8 may free backing stores on GC threads).
class ArrayBufferBudget : public v8::ArrayBuffer::Allocator {
 public:
  explicit ArrayBufferBudget(size_t limit) : limit_(limit) {}
  void* Allocate(size_t length) override;
  void* AllocateUninitialized(size_t length) override;
  void Free(void* data, size_t length) override;

  size_t limit() const { return limit_; }
  size_t used() const { return used_.load(); }
  // An allocation failed even after V8 collected garbage and retried.
  bool exceeded() const { return exceeded_.load(); }
  void ResetExceeded() {
    exceeded_ = false;
    consecutive_failures_ = 0;
  }

  // Makes `budget` the ArrayBuffer allocator of a SnapshotCreator's isolate
  // (V8 10.2's SnapshotCreator gives its isolate an internal allocator and
  // has no API to set another): the isolate's one pointer to the creator's
  // allocator is found and replaced, after checking that it is V8's default
  // allocator. Call right after the creator is made, before any ArrayBuffer
  // exists. False (nothing changed) when the layout is not the expected one.
  static bool Install(v8::SnapshotCreator* creator, v8::Isolate* isolate, ArrayBufferBudget* budget);

 private:
  bool Reserve(size_t length);
  void Release(size_t length);

  const size_t limit_;
  std::atomic<size_t> used_{0};
  std::atomic<int> consecutive_failures_{0};
  std::atomic<bool> exceeded_{false};
};

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_ARRAY_BUFFER_BUDGET_H_
