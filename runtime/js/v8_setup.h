// V8, set up once per process: flags, ICU, the platform whose wall clock is
// the runtime's one clock seam, and the native callback table that is part
// of the checkpoint format.
#ifndef TASKER_RUNTIME_JS_V8_SETUP_H_
#define TASKER_RUNTIME_JS_V8_SETUP_H_

#include <cstdint>
#include <string>

#include "runtime/js/engine.h"
#include "v8.h"

namespace tasker::js {

// The native callback table (null-terminated). Its order is part of the
// checkpoint format: append only, and bump ExternalReferencesVersion().
const intptr_t* ExternalReferences();

// The default platform V8 runs on (for pumping its message loop).
v8::Platform* DefaultPlatform();

// Date.now() / new Date() on this thread while a step runs: the step's
// journaled clock. ClearStepClock() returns to the real clock.
void SetStepClock(int64_t clock_ms);
void ClearStepClock();
// The memory limit of every isolate in this process, MiB
// (EngineOptions::heap_limit_mb): its V8 heap, and separately its
// ArrayBuffer memory (outside the heap).
int HeapLimitMb();

// The real wall clock, in ms since the epoch.
int64_t RealClockMs();

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_V8_SETUP_H_
