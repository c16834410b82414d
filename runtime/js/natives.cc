#include "runtime/js/natives.h"

#include <regex>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "runtime/js/v8_setup.h"

namespace tasker::js {

void NativeLog(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  IsolateState* state = StateOf(isolate);
  if (!state || !state->logs || state->replaying || info.Length() < 2) return;
  v8::String::Utf8Value level(isolate, info[0]);
  v8::String::Utf8Value text(isolate, info[1]);
  const size_t size = text.length();
  if (state->log_lines >= state->limits.max_log_lines || state->log_bytes + size > state->limits.max_log_bytes) {
    *state->logs_truncated = true;
    return;
  }
  state->log_bytes += size;
  ++state->log_lines;
  state->logs->push_back(
      {static_cast<double>(RealClockMs()), *level ? *level : "log", *text ? std::string(*text, size) : ""});
}

// Kept in the native table (append-only); the warm-run prelude seeds its own
// generator from the journal instead.
void NativeRandom(const v8::FunctionCallbackInfo<v8::Value>& info) {
  thread_local absl::BitGen gen;
  info.GetReturnValue().Set(absl::Uniform<double>(gen, 0.0, 1.0));
}

size_t OnNearHeapLimit(void* data, size_t current_heap_limit, size_t /*initial*/) {
  auto* isolate = static_cast<v8::Isolate*>(data);
  if (IsolateState* state = StateOf(isolate)) state->memory_exceeded = true;
  isolate->TerminateExecution();
  // Room for the termination to unwind; the step fails regardless.
  return current_heap_limit + 64 * 1024 * 1024;
}

v8::Local<v8::String> Str(v8::Isolate* isolate, absl::string_view text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal, static_cast<int>(text.size()))
      .ToLocalChecked();
}

std::string ToStd(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 ? std::string(*utf8, utf8.length()) : std::string();
}

std::string DescribeException(v8::Isolate* isolate, v8::Local<v8::Context> context, const v8::TryCatch& try_catch) {
  std::string text = try_catch.Exception().IsEmpty() ? "unknown error" : ToStd(isolate, try_catch.Exception());
  v8::Local<v8::Message> message = try_catch.Message();
  if (message.IsEmpty()) return text;
  int line = message->GetLineNumber(context).FromMaybe(0);
  int column = message->GetStartColumn(context).FromMaybe(0) + 1;
  return absl::StrCat("line ", line, ", column ", column, ": ", text);
}

std::string ExceptionName(v8::Isolate* isolate, v8::Local<v8::Context> context, const v8::TryCatch& try_catch) {
  v8::Local<v8::Value> e = try_catch.Exception();
  if (e.IsEmpty() || !e->IsObject()) return "Throw";
  v8::Local<v8::Value> name;
  if (e.As<v8::Object>()->Get(context, Str(isolate, "name")).ToLocal(&name) && name->IsString()) {
    return ToStd(isolate, name);
  }
  return "Error";
}

std::string ExceptionStack(v8::Isolate* isolate, v8::Local<v8::Context> context, const v8::TryCatch& try_catch) {
  v8::Local<v8::Value> stack;
  if (try_catch.StackTrace(context).ToLocal(&stack) && stack->IsString()) return ToStd(isolate, stack);
  return "";
}

bool IsCommonJs(absl::string_view code) {
  static const std::regex kExports(R"((^|[^.\w$])(module\.exports|exports\.[A-Za-z_$][\w$]*)\s*=)");
  return std::regex_search(code.begin(), code.end(), kExports);
}

std::string WrapTask(absl::string_view code) {
  if (IsCommonJs(code)) return absl::StrCat("(function (module, exports) {\n", code, "\n})");
  return absl::StrCat("(async function task(input) {\n", code, "\n})");
}

v8::ScriptOrigin TaskOrigin(v8::Isolate* isolate) { return v8::ScriptOrigin(isolate, Str(isolate, "task.js"), -1, 0); }

}  // namespace tasker::js
