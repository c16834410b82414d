// Start of a live run (isolate + prelude + task to its first wait), deliver, and
// disposal: per-operation wall time in one process.
#include <cstdio>
#include <string>
#include <vector>
#include <algorithm>
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "runtime/js/live_run.h"
#include "runtime/js/v8_setup.h"

ABSL_FLAG(int, runs, 200, "Runs.");
ABSL_FLAG(std::string, task, "plain", "plain, or globals (a task that first uses URL, TextEncoder, Headers...).");
ABSL_FLAG(bool, reuse, true, "Keep each finished run's isolate for the next (false: every start makes a new isolate).");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  namespace js = tasker::js;
  js::InitializeV8({});
  const char* plain = R"(
    const gaps = [];
    for (let i = 0; i < input.calls; i++) { const t0 = Date.now(); await __callHostTool__('admin-debug', 'echo', {i}); gaps.push(Date.now() - t0); }
    return gaps;)";
  // The same, first touching the globals compiled on first use (issue 14).
  const char* globals = R"(
    const url = new URL('https://api.example.com/v1/items?page=1');
    const text = new TextDecoder().decode(new TextEncoder().encode(url.href));
    const headers = new Headers({'content-type': 'application/json'});
    const copy = structuredClone({text, page: url.searchParams.get('page'), type: headers.get('content-type')});
    const gaps = [];
    for (let i = 0; i < input.calls; i++) { const t0 = Date.now(); await __callHostTool__('admin-debug', 'echo', {i, copy}); gaps.push(Date.now() - t0); }
    return gaps;)";
  const char* code = absl::GetFlag(FLAGS_task) == "globals" ? globals : plain;
  std::vector<double> start, deliver, dispose;
  for (int r = 0; r < absl::GetFlag(FLAGS_runs); ++r) {
    js::Outcome out;
    absl::Time t0 = absl::Now();
    auto run = js::LiveRun::Start(code, R"({"calls":3})", {.clock_ms = 1, .random_seed = 7}, js::Limits{}, &out);
    start.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
    if (!run.ok() || !*run) { std::fprintf(stderr, "start failed\n"); return 1; }
    for (int i = 0; i < 3; ++i) {
      js::CallResult res; res.call_id = out.calls.at(0).call_id; res.ok = true; res.result_json = "{}";
      t0 = absl::Now();
      auto o = (*run)->Deliver(res, 2);
      deliver.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
      if (!o.ok()) { std::fprintf(stderr, "deliver failed\n"); return 1; }
      out = *o;
    }
    t0 = absl::Now();
    if (absl::GetFlag(FLAGS_reuse)) {
      js::LiveRun::Release(std::move(*run));
    } else {
      run->reset();
    }
    dispose.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
  }
  for (auto* v : {&start, &deliver, &dispose}) std::sort(v->begin(), v->end());
  std::printf("start p50 %.0f us, deliver p50 %.0f us, dispose p50 %.0f us\n", start[start.size()/2], deliver[deliver.size()/2], dispose[dispose.size()/2]);
}
