// tasker-js-worker: runs task steps for a WorkerPool, one at a time, reading
// StepRequests on stdin and answering StepResponses on stdout. A fatal V8
// error ends only this process; the pool reports it and starts another.
//
//   tasker-js-worker --heap_limit_mb=256
#include <signal.h>
#include <unistd.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/js/engine.h"
#include "runtime/js/worker_protocol.h"

ABSL_FLAG(int, heap_limit_mb, 256, "V8 old-generation heap limit per step, MiB.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  tasker::js::InitializeV8({.heap_limit_mb = absl::GetFlag(FLAGS_heap_limit_mb)});
  while (true) {
    tasker::js::v1::StepRequest request;
    if (!tasker::js::ReadFrame(0, &request).ok()) return 0;  // pool closed the pipe
    const tasker::js::Limits limits = tasker::js::LimitsFromProto(request.limits());
    absl::StatusOr<tasker::js::Outcome> outcome;
    if (request.continuation().empty()) {
      outcome = tasker::js::Start(request.code(), request.input_json(), limits);
    } else {
      std::vector<tasker::js::CallResult> results;
      for (const auto& r : request.results()) results.push_back(tasker::js::CallResultFromProto(r));
      outcome = tasker::js::Resume(request.continuation(), results, limits);
    }
    if (!tasker::js::WriteFrame(1, tasker::js::OutcomeToProto(outcome)).ok()) return 0;
  }
}
