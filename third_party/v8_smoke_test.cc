// Proves the V8 target links and runs without LD_LIBRARY_PATH (rpath), with
// the headers of the unpacked libnode108 prefix (V8 10.2).
#include <memory>

#include "gtest/gtest.h"
#include "libplatform/libplatform.h"
#include "v8.h"

TEST(V8Smoke, EvaluatesScript) {
  EXPECT_EQ(V8_MAJOR_VERSION, 10);
  EXPECT_EQ(V8_MINOR_VERSION, 2);
  v8::V8::InitializeICUDefaultLocation("");
  std::unique_ptr<v8::Platform> platform = v8::platform::NewDefaultPlatform();
  v8::V8::InitializePlatform(platform.get());
  ASSERT_TRUE(v8::V8::Initialize());
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = v8::ArrayBuffer::Allocator::NewDefaultAllocator();
  v8::Isolate* isolate = v8::Isolate::New(params);
  {
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    v8::Context::Scope context_scope(context);
    auto source = v8::String::NewFromUtf8Literal(isolate, "[1, 2, 3].map(x => x * 2).join(',')");
    auto script = v8::Script::Compile(context, source).ToLocalChecked();
    v8::String::Utf8Value result(isolate, script->Run(context).ToLocalChecked());
    EXPECT_STREQ(*result, "2,4,6");
  }
  isolate->Dispose();
  delete params.array_buffer_allocator;
}
