// Internal to runtime/js: the per-isolate state reached from native
// callbacks (isolate data slot 0), the callbacks themselves, and small V8
// helpers shared by the run, checkpoint and replay code.
#ifndef TASKER_RUNTIME_JS_NATIVES_H_
#define TASKER_RUNTIME_JS_NATIVES_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "runtime/js/engine.h"
#include "v8.h"

namespace tasker::js {

class ScriptCache;

struct IsolateState {
  Limits limits;
  // Lines of the current step (not collected while replaying).
  std::vector<LogLine>* logs = nullptr;
  bool* logs_truncated = nullptr;
  size_t log_bytes = 0;
  size_t log_lines = 0;
  bool replaying = false;
  // The runtime's scripts compiled in this step whose code cache is not made
  // yet: made at the step's end, when the functions it ran are compiled too.
  std::vector<std::pair<ScriptCache*, v8::Global<v8::UnboundScript>>> uncached;
  std::atomic<bool> time_exceeded{false};
  std::atomic<bool> memory_exceeded{false};
};

inline IsolateState* StateOf(v8::Isolate* isolate) { return static_cast<IsolateState*>(isolate->GetData(0)); }

void NativeLog(const v8::FunctionCallbackInfo<v8::Value>& info);
void NativeRandom(const v8::FunctionCallbackInfo<v8::Value>& info);
// load(name, shared, section): compiles the prelude section `name` into the
// current context, calls its function with (shared, section) and returns
// what it returns (the section's exports). A TypeError for an unknown name.
void NativeLoad(const v8::FunctionCallbackInfo<v8::Value>& info);

// The runtime's own JavaScript (prelude_embedded.cc, generated from
// prelude.js and prelude_<name>.js by embed_prelude.sh).
struct PreludeSection {
  const char* name;
  const char* source;
};
extern const char kPreludeSource[];
extern const PreludeSection kPreludeSections[];
extern const int kPreludeSectionCount;

// A per-process code cache of one of the runtime's scripts (the prelude, a
// section), made once from the first compiled script at the end of the step
// that compiled it (the functions that step ran compiled by then), so that
// every later context deserializes its code instead of parsing and compiling
// it. Thread-safe.
class ScriptCache {
 public:
  static ScriptCache& For(const std::string& name);
  v8::MaybeLocal<v8::Script> Compile(v8::Local<v8::Context> context, const char* source, v8::ScriptOrigin* origin);
  bool made();
  // Queues the script for MakeFrom at the end of the isolate's step, unless
  // the cache is made.
  void MakeAtStepEnd(v8::Isolate* isolate, v8::Local<v8::Script> script);
  void MakeFrom(v8::Local<v8::UnboundScript> script);

 private:
  std::mutex mu_;
  bool made_ = false;
  std::shared_ptr<const std::string> bytes_;
};

// Near-heap-limit callback: marks the step as out of memory and stops it.
size_t OnNearHeapLimit(void* data, size_t current_heap_limit, size_t initial);

v8::Local<v8::String> Str(v8::Isolate* isolate, absl::string_view text);
// The UTF-8 of a value's string form. Lone surrogates (which UTF-8 cannot
// carry) come out as the 6-character escape JSON.stringify writes ("\\ud83d"),
// so the text is always valid UTF-8. Empty when ToString throws.
std::string ToStd(v8::Isolate* isolate, v8::Local<v8::Value> value);
std::string Utf16ToUtf8(const uint16_t* units, size_t length);
// "line L, column C: Name: message" of the caught exception.
std::string DescribeException(v8::Isolate* isolate, v8::Local<v8::Context> context, const v8::TryCatch& try_catch);
std::string ExceptionName(v8::Isolate* isolate, v8::Local<v8::Context> context, const v8::TryCatch& try_catch);
std::string ExceptionStack(v8::Isolate* isolate, v8::Local<v8::Context> context, const v8::TryCatch& try_catch);

bool IsCommonJs(absl::string_view code);
// Task code wrapped on its own line so line numbers stay the user's.
std::string WrapTask(absl::string_view code);
v8::ScriptOrigin TaskOrigin(v8::Isolate* isolate);

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_NATIVES_H_
