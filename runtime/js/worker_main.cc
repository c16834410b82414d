// tasker-js-worker: holds live runs for a WorkerHost and runs their steps,
// one request at a time, reading Requests on stdin and answering Responses
// on stdout. A fatal V8 error ends only this process (and its live runs,
// which the executor rebuilds from the journal); the host starts another.
//
//   tasker-js-worker --heap_limit_mb=256
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <map>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/js/engine.h"
#include "runtime/js/live_run.h"
#include "runtime/js/replay.h"
#include "runtime/js/worker_protocol.h"

ABSL_FLAG(int, heap_limit_mb, 256, "V8 old-generation heap limit per isolate, MiB.");
ABSL_FLAG(int, spare_isolates, 2, "Fresh isolates made while idle, ready for the next starts.");
// Faults for tests of the host and the executor (never set in production).
ABSL_FLAG(std::string, test_crash_marker, "",
          "Tests only: the worker aborts on a start, rebuild or syntax check whose code, or a delivery whose "
          "result, contains this text.");
ABSL_FLAG(std::string, test_crash_once_file, "",
          "Tests only: with --test_crash_marker, abort only if this file does not exist yet (it is created).");
ABSL_FLAG(std::string, test_hang_marker, "",
          "Tests only: like --test_crash_marker, but the worker hangs (reads no more requests) instead.");

namespace js = tasker::js;

namespace {

// Test faults (see the --test_* flags).
void MaybeFault(absl::string_view text) {
  const std::string crash = absl::GetFlag(FLAGS_test_crash_marker);
  if (!crash.empty() && absl::StrContains(text, crash)) {
    const std::string once = absl::GetFlag(FLAGS_test_crash_once_file);
    int fd = -1;
    if (once.empty() || (fd = open(once.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644)) >= 0) {
      if (fd >= 0) close(fd);
      abort();
    }
  }
  const std::string hang = absl::GetFlag(FLAGS_test_hang_marker);
  if (!hang.empty() && absl::StrContains(text, hang)) {
    while (true) pause();
  }
}

class Worker {
 public:
  size_t live() const { return runs_.size(); }
  js::v1::Response Handle(const js::v1::Request& request) {
    js::v1::Response response;
    response.set_id(request.id());
    absl::Status status = Dispatch(request, &response);
    if (!status.ok()) {
      response.set_status_code(static_cast<int>(status.code()));
      response.set_status_message(std::string(status.message()));
    }
    return response;
  }

 private:
  absl::Status Dispatch(const js::v1::Request& request, js::v1::Response* response) {
    if (request.op_case() == js::v1::Request::kCheckSyntax) {
      MaybeFault(request.check_syntax().code());
      return js::CheckSyntax(request.check_syntax().code());
    }
    const std::string& key = request.run();
    if (key.empty()) return absl::InvalidArgumentError("run: must not be empty");
    switch (request.op_case()) {
      case js::v1::Request::kStart: {
        const auto& op = request.start();
        MaybeFault(op.code());
        if (runs_.count(key)) return absl::AlreadyExistsError(absl::StrCat("run '", key, "' is already live here"));
        js::Outcome out;
        auto run = js::LiveRun::Start(op.code(), op.input_json(),
                                      {.clock_ms = op.clock_ms(), .random_seed = op.random_seed()},
                                      js::LimitsFromProto(op.limits()), &out);
        if (!run.ok()) return run.status();
        if (*run) runs_[key] = std::move(*run);
        *response->mutable_step() = js::StepToProto(out);
        return absl::OkStatus();
      }
      case js::v1::Request::kDeliver: {
        auto it = runs_.find(key);
        if (it == runs_.end()) return absl::NotFoundError(absl::StrCat("run '", key, "' is not live here"));
        MaybeFault(request.deliver().result().result_json());
        auto out = it->second->Deliver(js::CallResultFromProto(request.deliver().result()),
                                       request.deliver().clock_ms());
        if (!out.ok()) return out.status();
        if (it->second->finished()) {
          js::LiveRun::Release(std::move(it->second));
          runs_.erase(it);
        }
        *response->mutable_step() = js::StepToProto(*out);
        return absl::OkStatus();
      }
      case js::v1::Request::kRebuild: {
        const auto& op = request.rebuild();
        MaybeFault(op.code());
        js::RebuildInput input;
        input.code = op.code();
        input.input_json = op.input_json();
        input.limits = js::LimitsFromProto(op.limits());
        input.checkpoint = op.checkpoint();
        input.checkpoint_step = op.checkpoint_step();
        for (const auto& s : op.steps()) input.steps.push_back(js::JournalStepFromProto(s));
        for (const auto& c : op.calls()) input.calls.push_back(js::JournalCallFromProto(c));
        runs_.erase(key);
        auto rebuilt = js::Rebuild(input);
        if (!rebuilt.ok()) return rebuilt.status();
        response->set_from_checkpoint(rebuilt->from_checkpoint);
        response->set_checkpoint_note(rebuilt->checkpoint_note);
        response->set_steps_replayed(rebuilt->steps_replayed);
        response->set_calls_replayed(rebuilt->calls_replayed);
        response->set_restore_ms(rebuilt->restore_ms);
        response->set_replay_ms(rebuilt->replay_ms);
        *response->mutable_step() = js::StepToProto(rebuilt->outcome);
        if (!rebuilt->run) return absl::OkStatus();
        if (op.checkpoint_only()) {
          return WriteCheckpoint(std::move(rebuilt->run), response);
        }
        runs_[key] = std::move(rebuilt->run);
        return absl::OkStatus();
      }
      case js::v1::Request::kCheckpoint: {
        auto it = runs_.find(key);
        if (it == runs_.end()) return absl::NotFoundError(absl::StrCat("run '", key, "' is not live here"));
        std::unique_ptr<js::LiveRun> run = std::move(it->second);
        runs_.erase(it);
        return WriteCheckpoint(std::move(run), response);
      }
      case js::v1::Request::kDrop:
        runs_.erase(key);
        return absl::OkStatus();
      default:
        return absl::InvalidArgumentError("op: unknown");
    }
  }

  // Checkpoints `run` and drops it, even when V8 cannot snapshot its state
  // (the run is then recoverable by replay only).
  absl::Status WriteCheckpoint(std::unique_ptr<js::LiveRun> run, js::v1::Response* response) {
    js::StepStats stats;
    const int step = run->steps();
    auto checkpoint = run->Checkpoint(&stats);
    if (!checkpoint.ok()) return checkpoint.status();
    response->set_checkpoint(std::move(*checkpoint));
    response->set_checkpoint_step(step);
    response->set_checkpoint_ms(stats.snapshot_ms);
    response->set_checkpoint_raw_bytes(static_cast<int64_t>(stats.raw_bytes));
    return absl::OkStatus();
  }

  std::map<std::string, std::unique_ptr<js::LiveRun>> runs_;
};

}  // namespace

// Disposed isolates leave their malloc'd memory in glibc's free lists;
// giving it back keeps a worker's resident memory near its live runs'.
void TrimAfterDisposals(int* disposed) {
  if (++*disposed % 8 == 0) malloc_trim(0);
}

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  js::InitializeV8({.heap_limit_mb = absl::GetFlag(FLAGS_heap_limit_mb)});
  Worker worker;
  int disposed = 0;
  const int spares = absl::GetFlag(FLAGS_spare_isolates);
  // Whether a request is waiting on stdin (then no spare is made now).
  auto request_waiting = [] {
    pollfd fd{0, POLLIN, 0};
    return poll(&fd, 1, 0) > 0;
  };
  while (true) {
    while (!request_waiting() && js::LiveRun::PrepareSpare(spares)) {
    }
    js::v1::Request request;
    if (!js::ReadFrame(0, &request).ok()) return 0;  // the host closed the pipe
    const size_t live = worker.live();
    if (!js::WriteFrame(1, worker.Handle(request)).ok()) return 0;
    if (worker.live() < live || request.has_checkpoint() || request.has_drop()) TrimAfterDisposals(&disposed);
  }
}
