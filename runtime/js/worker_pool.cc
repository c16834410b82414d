#include "runtime/js/worker_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/js/worker_protocol.h"

namespace tasker::js {

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Create(const WorkerPoolOptions& options) {
  if (options.worker_path.empty() || access(options.worker_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("js worker binary '", options.worker_path, "' is not executable"));
  }
  if (options.workers < 1) return absl::InvalidArgumentError("workers: must be >= 1");
  signal(SIGPIPE, SIG_IGN);
  auto pool = std::unique_ptr<WorkerPool>(new WorkerPool(options));
  for (int i = 0; i < options.workers; ++i) {
    auto worker = pool->Spawn();
    if (!worker.ok()) return worker.status();
    pool->idle_.push_back(*worker);
  }
  return pool;
}

WorkerPool::~WorkerPool() {
  std::unique_lock<std::mutex> lock(mu_);
  // Steps in flight hold their workers; wait for them to come back.
  cv_.wait(lock, [this] { return idle_.size() == all_.size(); });
  for (Worker& w : idle_) Stop(w, false);
}

absl::StatusOr<WorkerPool::Worker> WorkerPool::Spawn() {
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return absl::InternalError("pipe failed");
  }
  const std::string heap = absl::StrCat("--heap_limit_mb=", options_.heap_limit_mb);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    char* argv[] = {const_cast<char*>(options_.worker_path.c_str()), const_cast<char*>(heap.c_str()), nullptr};
    execv(argv[0], argv);
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  Worker worker{pid, to_child[1], from_child[0]};
  std::lock_guard<std::mutex> lock(mu_);
  all_.push_back(pid);
  return worker;
}

void WorkerPool::Stop(Worker& worker, bool kill_first) {
  if (kill_first) kill(worker.pid, SIGKILL);
  close(worker.to_worker);  // a live worker exits on EOF
  close(worker.from_worker);
  int status = 0;
  waitpid(worker.pid, &status, 0);
}

WorkerPool::Worker WorkerPool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !idle_.empty(); });
  Worker w = idle_.back();
  idle_.pop_back();
  return w;
}

void WorkerPool::Release(Worker worker) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(worker);
  cv_.notify_one();
}

std::vector<pid_t> WorkerPool::pids() {
  std::lock_guard<std::mutex> lock(mu_);
  return all_;
}

absl::StatusOr<Outcome> WorkerPool::Run(const v1::StepRequest& request, absl::Duration cpu_limit) {
  Worker worker = Acquire();
  absl::Status io = WriteFrame(worker.to_worker, request);
  v1::StepResponse response;
  std::string crash;
  if (io.ok()) {
    pollfd fd{worker.from_worker, POLLIN, 0};
    const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(cpu_limit * 3 + options_.grace));
    int ready = poll(&fd, 1, timeout_ms);
    if (ready == 0) {
      crash = "the worker did not answer in time and was killed";
    } else {
      io = ReadFrame(worker.from_worker, &response);
    }
  }
  if (crash.empty() && !io.ok()) crash = std::string(io.message());
  if (crash.empty()) {
    Release(worker);
    return OutcomeFromProto(response);
  }
  // The worker died (V8 abort, OOM kill, ...) or hung: replace it.
  kill(worker.pid, SIGKILL);
  close(worker.to_worker);
  close(worker.from_worker);
  int status = 0;
  waitpid(worker.pid, &status, 0);
  ++crashes_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all_.erase(std::remove(all_.begin(), all_.end(), worker.pid), all_.end());
  }
  auto replacement = Spawn();
  if (replacement.ok()) {
    Release(*replacement);
  } else {
    cv_.notify_all();
  }
  std::string how = WIFSIGNALED(status) ? absl::StrCat("killed by signal ", WTERMSIG(status), " (",
                                                       strsignal(WTERMSIG(status)), ")")
                                        : absl::StrCat("exited with status ", WEXITSTATUS(status));
  Outcome out;
  out.kind = Outcome::Kind::kFailed;
  out.failure = FailureKind::kRuntimeCrash;
  out.error_name = "RuntimeCrash";
  out.error_message = absl::StrCat("the JavaScript runtime process running this step ", how, ": ", crash,
                                   ". The run's last continuation is intact.");
  return out;
}

absl::StatusOr<Outcome> WorkerPool::Start(absl::string_view code, absl::string_view input_json,
                                          const Limits& limits) {
  if (code.empty()) return absl::InvalidArgumentError("code: must not be empty");
  v1::StepRequest request;
  *request.mutable_limits() = LimitsToProto(limits);
  request.set_code(std::string(code));
  request.set_input_json(std::string(input_json));
  return Run(request, limits.step_cpu);
}

absl::StatusOr<Outcome> WorkerPool::Resume(absl::string_view continuation, const std::vector<CallResult>& results,
                                           const Limits& limits) {
  if (continuation.empty()) return absl::InvalidArgumentError("continuation: must not be empty");
  v1::StepRequest request;
  *request.mutable_limits() = LimitsToProto(limits);
  request.set_continuation(std::string(continuation));
  for (const auto& r : results) *request.add_results() = CallResultToProto(r);
  return Run(request, limits.step_cpu);
}

}  // namespace tasker::js
