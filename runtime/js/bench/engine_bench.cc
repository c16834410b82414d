// V8 runtime benchmark: per-suspension (create continuation) and per-resume
// (restore to running) costs, continuation sizes, for a small task and for a
// task holding 1 MB of live data, against a fresh-isolate baseline.
//
//   bazel build //runtime/js/bench:engine_bench && bazel-bin/runtime/js/bench/engine_bench --cycles=200
#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "libplatform/libplatform.h"
#include "runtime/js/engine.h"
#include "v8.h"

ABSL_FLAG(int, cycles, 200, "Suspend/resume cycles per task.");

namespace tasker::js {
namespace {

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void Measure(const char* name, const char* code) {
  const int cycles = absl::GetFlag(FLAGS_cycles);
  std::vector<double> restore, run, snapshot, cycle, compress;
  size_t raw = 0, stored = 0;
  Limits limits;
  auto out = Start(code, "null", limits);
  if (!out.ok() || out->kind != Outcome::Kind::kSuspended) {
    std::fprintf(stderr, "%s did not suspend: %s\n", name, out.ok() ? out->error_message.c_str() : "");
    return;
  }
  for (int i = 0; i < cycles; ++i) {
    std::vector<CallResult> results = {{out->calls[0].call_id, true, "1"}};
    absl::Time t0 = absl::Now();
    out = Resume(out->continuation, results, limits);
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
    if (!out.ok() || out->kind != Outcome::Kind::kSuspended) {
      std::fprintf(stderr, "%s stopped: %s\n", name, out.ok() ? out->error_message.c_str() : "");
      return;
    }
    cycle.push_back(ms);
    restore.push_back(out->stats.restore_ms);
    run.push_back(out->stats.run_ms);
    snapshot.push_back(out->stats.snapshot_ms);
    compress.push_back(out->stats.compress_ms);
    raw = out->stats.raw_bytes;
    stored = out->stats.stored_bytes;
  }
  std::printf("%-16s cycle p50 %6.2f ms p99 %6.2f | resume(restore) p50 %5.2f p99 %5.2f | "
              "suspend(snapshot+zstd) p50 %5.2f p99 %5.2f (zstd %4.2f) | js p50 %5.2f | raw %zu B, stored %zu B\n",
              name, Pct(cycle, 0.5), Pct(cycle, 0.99), Pct(restore, 0.5), Pct(restore, 0.99),
              Pct(snapshot, 0.5), Pct(snapshot, 0.99), Pct(compress, 0.5), Pct(run, 0.5), raw, stored);
  std::fflush(stdout);
}

void FreshIsolateBaseline() {
  std::vector<double> v;
  for (int i = 0; i < 100; ++i) {
    absl::Time t0 = absl::Now();
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = v8::ArrayBuffer::Allocator::NewDefaultAllocator();
    v8::Isolate* isolate = v8::Isolate::New(params);
    {
      v8::Isolate::Scope scope(isolate);
      v8::HandleScope hs(isolate);
      auto context = v8::Context::New(isolate);
      v8::Context::Scope cs(context);
      auto script = v8::Script::Compile(context, v8::String::NewFromUtf8Literal(isolate, "let s = 0; for (let i = 0; i < 10; i++) s += i; s")).ToLocalChecked();
      (void)script->Run(context);
    }
    isolate->Dispose();
    delete params.array_buffer_allocator;
    v.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  std::printf("%-16s new isolate + context + small script p50 %5.2f ms p99 %5.2f ms\n", "baseline",
              Pct(v, 0.5), Pct(v, 0.99));
}

}  // namespace
}  // namespace tasker::js

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  tasker::js::InitializeV8({});
  tasker::js::FreshIsolateBaseline();
  tasker::js::Measure("small task", R"(
    let n = 0;
    while (true) n += await __callHostTool__('admin-debug', 'echo', {n});
  )");
  tasker::js::Measure("task globals", R"(
    const url = new URL('https://api.example.com/v1/items?page=1');
    const decoder = new TextDecoder();
    const headers = new Headers({'content-type': 'application/json'});
    const copy = structuredClone({page: url.searchParams.get('page')});
    let n = 0;
    while (true) n += await __callHostTool__('admin-debug', 'echo', {n, href: url.href, copy});
  )");
  tasker::js::Measure("1 MB live data", R"(
    const data = Array.from({length: 16384}, (_, i) => ({id: i, name: 'user-' + i, tags: ['a', 'b']}));
    const blob = 'x'.repeat(262144);
    let n = 0;
    while (true) n += await __callHostTool__('admin-debug', 'echo', {n, size: data.length + blob.length});
  )");
  return 0;
}
