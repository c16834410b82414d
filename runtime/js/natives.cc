#include "runtime/js/natives.h"

#include <map>
#include <regex>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "runtime/js/v8_setup.h"

namespace tasker::js {

void NativeLog(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  IsolateState* state = StateOf(isolate);
  if (!state || !state->logs || state->replaying || info.Length() < 2) return;
  std::string level = ToStd(isolate, info[0]);
  std::string text = ToStd(isolate, info[1]);
  const size_t size = text.size();
  if (state->log_lines >= state->limits.max_log_lines || state->log_bytes + size > state->limits.max_log_bytes) {
    *state->logs_truncated = true;
    return;
  }
  state->log_bytes += size;
  ++state->log_lines;
  state->logs->push_back(
      {static_cast<double>(RealClockMs()), level.empty() ? "log" : std::move(level), std::move(text)});
}

// Kept in the native table (append-only); the warm-run prelude seeds its own
// generator from the journal instead.
void NativeRandom(const v8::FunctionCallbackInfo<v8::Value>& info) {
  thread_local absl::BitGen gen;
  info.GetReturnValue().Set(absl::Uniform<double>(gen, 0.0, 1.0));
}

ScriptCache& ScriptCache::For(const std::string& name) {
  static std::mutex* mu = new std::mutex();
  static std::map<std::string, std::unique_ptr<ScriptCache>>* caches =
      new std::map<std::string, std::unique_ptr<ScriptCache>>();
  std::lock_guard<std::mutex> lock(*mu);
  std::unique_ptr<ScriptCache>& cache = (*caches)[name];
  if (!cache) cache = std::make_unique<ScriptCache>();
  return *cache;
}

v8::MaybeLocal<v8::Script> ScriptCache::Compile(v8::Local<v8::Context> context, const char* source,
                                                v8::ScriptOrigin* origin) {
  v8::Isolate* isolate = context->GetIsolate();
  std::shared_ptr<const std::string> bytes;  // shared, not copied per compile
  {
    std::lock_guard<std::mutex> lock(mu_);
    bytes = bytes_;
  }
  if (!bytes) {
    v8::ScriptCompiler::Source plain(Str(isolate, source), *origin);
    return v8::ScriptCompiler::Compile(context, &plain);
  }
  // The source owns the CachedData (not its bytes, which `bytes` keeps).
  v8::ScriptCompiler::Source cached(
      Str(isolate, source), *origin,
      new v8::ScriptCompiler::CachedData(reinterpret_cast<const uint8_t*>(bytes->data()),
                                         static_cast<int>(bytes->size())));
  v8::MaybeLocal<v8::Script> script =
      v8::ScriptCompiler::Compile(context, &cached, v8::ScriptCompiler::kConsumeCodeCache);
  if (cached.GetCachedData()->rejected) {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_.reset();  // made by another V8 or flags: make it again
    made_ = false;
  }
  return script;
}

bool ScriptCache::made() {
  std::lock_guard<std::mutex> lock(mu_);
  return made_;
}

void ScriptCache::MakeAtStepEnd(v8::Isolate* isolate, v8::Local<v8::Script> script) {
  IsolateState* state = StateOf(isolate);
  if (state == nullptr || made()) return;
  state->uncached.emplace_back(this, v8::Global<v8::UnboundScript>(isolate, script->GetUnboundScript()));
}

void ScriptCache::MakeFrom(v8::Local<v8::UnboundScript> script) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (made_) return;
    made_ = true;
  }
  std::unique_ptr<v8::ScriptCompiler::CachedData> data(v8::ScriptCompiler::CreateCodeCache(script));
  if (!data) return;
  auto bytes = std::make_shared<const std::string>(reinterpret_cast<const char*>(data->data),
                                                   static_cast<size_t>(data->length));
  std::lock_guard<std::mutex> lock(mu_);
  bytes_ = std::move(bytes);
}

void NativeLoad(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  const std::string name = info.Length() > 0 && info[0]->IsString() ? ToStd(isolate, info[0]) : "";
  const char* source = nullptr;
  for (int i = 0; i < kPreludeSectionCount; ++i) {
    if (name == kPreludeSections[i].name) source = kPreludeSections[i].source;
  }
  if (source == nullptr) {
    isolate->ThrowException(v8::Exception::TypeError(Str(isolate, absl::StrCat("no runtime section '", name, "'"))));
    return;
  }
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::ScriptOrigin origin(isolate, Str(isolate, absl::StrCat("tasker:", name)));
  ScriptCache& cache = ScriptCache::For(name);
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> fn;
  if (!cache.Compile(context, source, &origin).ToLocal(&script) || !script->Run(context).ToLocal(&fn)) return;
  if (!fn->IsFunction()) {
    isolate->ThrowException(
        v8::Exception::TypeError(Str(isolate, absl::StrCat("runtime section '", name, "' is not a function"))));
    return;
  }
  v8::Local<v8::Value> args[] = {info.Length() > 1 ? info[1] : v8::Undefined(isolate).As<v8::Value>(),
                                 info.Length() > 2 ? info[2] : v8::Undefined(isolate).As<v8::Value>()};
  v8::Local<v8::Value> exports;
  if (!fn.As<v8::Function>()->Call(context, v8::Undefined(isolate), 2, args).ToLocal(&exports)) return;
  cache.MakeAtStepEnd(isolate, script);
  info.GetReturnValue().Set(exports);
}

size_t OnNearHeapLimit(void* data, size_t current_heap_limit, size_t /*initial*/) {
  auto* isolate = static_cast<v8::Isolate*>(data);
  if (IsolateState* state = StateOf(isolate)) state->memory_exceeded = true;
  isolate->TerminateExecution();
  // Room for the termination to unwind; the step fails regardless.
  return current_heap_limit + 64 * 1024 * 1024;
}

v8::Local<v8::String> Str(v8::Isolate* isolate, absl::string_view text) {
  // Empty only past V8's string length limit (~512 M characters).
  v8::Local<v8::String> out;
  if (text.size() > static_cast<size_t>(v8::String::kMaxLength) ||
      !v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal, static_cast<int>(text.size()))
           .ToLocal(&out)) {
    return v8::String::Empty(isolate);
  }
  return out;
}

namespace {

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  }
}

}  // namespace

std::string Utf16ToUtf8(const uint16_t* units, size_t length) {
  std::string out;
  out.reserve(length + length / 2);
  for (size_t i = 0; i < length; ++i) {
    const uint32_t unit = units[i];
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < length && units[i + 1] >= 0xdc00 && units[i + 1] <= 0xdfff) {
      AppendUtf8(0x10000 + ((unit - 0xd800) << 10) + (units[i + 1] - 0xdc00), &out);
      ++i;
    } else if (unit >= 0xd800 && unit <= 0xdfff) {
      // A lone surrogate has no UTF-8 form: written as JSON.stringify does.
      static const char kHex[] = "0123456789abcdef";
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kHex[(unit >> shift) & 0xf]);
    } else {
      AppendUtf8(unit, &out);
    }
  }
  return out;
}

std::string ToStd(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  if (value.IsEmpty()) return std::string();
  v8::Local<v8::String> text;
  if (value->IsString()) {
    text = value.As<v8::String>();
  } else {
    // ToString may run the task's code (toString, Symbol.toPrimitive) and throw.
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    if (context.IsEmpty() || !value->ToString(context).ToLocal(&text)) return std::string();
  }
  const int length = text->Length();
  if (text->IsOneByte()) {  // Latin-1: no surrogates
    std::string out(static_cast<size_t>(text->Utf8Length(isolate)), '\0');
    text->WriteUtf8(isolate, out.data(), static_cast<int>(out.size()), nullptr, v8::String::NO_NULL_TERMINATION);
    return out;
  }
  std::vector<uint16_t> units(static_cast<size_t>(length));
  text->Write(isolate, units.data(), 0, length, v8::String::NO_NULL_TERMINATION);
  return Utf16ToUtf8(units.data(), units.size());
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
