#include "runtime/js/array_buffer_budget.h"

#include <malloc.h>

#include <cstdlib>
#include <memory>

namespace tasker::js {

bool ArrayBufferBudget::Reserve(size_t length) {
  size_t used = used_.load();
  do {
    if (length > limit_ || used > limit_ - length) {
      // V8 collects garbage and retries a failed allocation twice before it
      // gives up with a RangeError: a third failure in a row is final.
      if (++consecutive_failures_ >= 3) exceeded_ = true;
      return false;
    }
  } while (!used_.compare_exchange_weak(used, used + length));
  consecutive_failures_ = 0;
  return true;
}

void ArrayBufferBudget::Release(size_t length) {
  size_t used = used_.load();
  while (!used_.compare_exchange_weak(used, used >= length ? used - length : 0)) {
  }
}

void* ArrayBufferBudget::Allocate(size_t length) {
  if (!Reserve(length)) return nullptr;
  void* data = calloc(length, 1);
  if (!data) Release(length);
  return data;
}

void* ArrayBufferBudget::AllocateUninitialized(size_t length) {
  if (!Reserve(length)) return nullptr;
  void* data = malloc(length);
  if (!data) Release(length);
  return data;
}

void ArrayBufferBudget::Free(void* data, size_t length) {
  free(data);
  Release(length);
}

bool ArrayBufferBudget::Install(v8::SnapshotCreator* creator, v8::Isolate* isolate, ArrayBufferBudget* budget) {
  // The vtable of V8's default allocator, which SnapshotCreator embeds.
  static void* const kDefaultVtable = [] {
    std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
    return *reinterpret_cast<void**>(allocator.get());
  }();
  // SnapshotCreator's one member points at its data, whose first member is
  // the allocator it gave the isolate.
  void* const internal = *reinterpret_cast<void**>(creator);
  if (internal == nullptr || *reinterpret_cast<void**>(internal) != kDefaultVtable) return false;
  // The isolate (v8::Isolate is i::Isolate) is one heap block without
  // pointer compression; exactly one of its words must point at it.
  void** words = reinterpret_cast<void**>(isolate);
  const size_t count = malloc_usable_size(isolate) / sizeof(void*);
  void** found = nullptr;
  for (size_t i = 0; i < count; ++i) {
    if (words[i] != internal) continue;
    if (found) return false;
    found = &words[i];
  }
  if (!found) return false;
  *found = budget;
  return true;
}

}  // namespace tasker::js
