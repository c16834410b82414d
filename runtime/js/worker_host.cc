#include "runtime/js/worker_host.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/js/worker_protocol.h"

namespace tasker::js {

namespace {

// waitpid, retried on EINTR (the executor's SIGTERM handler interrupts
// system calls). Returns the pid, or -1.
pid_t WaitPid(pid_t pid, int* status, int options) {
  while (true) {
    const pid_t r = waitpid(pid, status, options);
    if (r >= 0 || errno != EINTR) return r;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<WorkerHost>> WorkerHost::Create(const WorkerHostOptions& options,
                                                               LostCallback on_lost) {
  if (options.worker_path.empty() || access(options.worker_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("js worker binary '", options.worker_path, "' is not executable"));
  }
  if (options.workers < 1) return absl::InvalidArgumentError("workers: must be >= 1");
  signal(SIGPIPE, SIG_IGN);
  auto host = std::unique_ptr<WorkerHost>(new WorkerHost(options, std::move(on_lost)));
  // Every slot exists before the first reader thread starts: readers index
  // slots_, which must not grow (and move) under them.
  for (int i = 0; i < options.workers; ++i) host->slots_.push_back(std::make_unique<Slot>());
  for (auto& slot : host->slots_) {
    std::lock_guard<std::mutex> lock(slot->mu);
    if (absl::Status s = host->Spawn(*slot); !s.ok()) return s;
  }
  return host;
}

WorkerHost::~WorkerHost() {
  stopping_ = true;
  for (auto& slot : slots_) {
    std::lock_guard<std::mutex> write_lock(slot->write_mu);
    std::lock_guard<std::mutex> lock(slot->mu);
    if (slot->pid > 0) {
      close(slot->to_worker);  // a live worker exits on EOF...
      int status = 0;
      const absl::Time give_up = absl::Now() + options_.exit_grace;
      while (WaitPid(slot->pid, &status, WNOHANG) == 0) {
        if (absl::Now() >= give_up) {  // ...a busy or hung one is killed
          kill(slot->pid, SIGKILL);
          WaitPid(slot->pid, &status, 0);
          break;
        }
        absl::SleepFor(absl::Milliseconds(5));
      }
      slot->pid = -1;
    }
    // Callers still waiting are answered now, not at their timeout.
    for (auto& [id, promise] : slot->pending) promise.set_value(absl::UnavailableError("the worker host is shutting down"));
    slot->pending.clear();
  }
  while (threads_.load() > 0) absl::SleepFor(absl::Milliseconds(5));
  for (auto& slot : slots_) {
    if (slot->from_worker >= 0) close(slot->from_worker);
  }
}

// Called with slot.mu held.
absl::Status WorkerHost::Spawn(Slot& slot) {
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return absl::InternalError("pipe failed");
  }
  const std::string heap = absl::StrCat("--heap_limit_mb=", options_.heap_limit_mb);
  std::vector<char*> argv = {const_cast<char*>(options_.worker_path.c_str()), const_cast<char*>(heap.c_str())};
  for (const std::string& arg : options_.extra_args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  slot.pid = pid;
  slot.to_worker = to_child[1];
  slot.from_worker = from_child[0];
  const uint64_t generation = ++slot.generation;
  const int index = [&] {
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].get() == &slot) return static_cast<int>(i);
    }
    return -1;
  }();
  ++threads_;
  std::thread([this, index, generation, fd = slot.from_worker] {
    Read(index, generation, fd);
    --threads_;
  }).detach();
  return absl::OkStatus();
}

void WorkerHost::Read(int index, uint64_t generation, int fd) {
  Slot& slot = *slots_[index];
  while (true) {
    v1::Response response;
    absl::Status status = ReadFrame(fd, &response);
    if (!status.ok()) {
      if (!stopping_) Lost(index, generation, std::string(status.message()));
      return;
    }
    std::lock_guard<std::mutex> lock(slot.mu);
    auto it = slot.pending.find(response.id());
    if (it == slot.pending.end()) continue;  // its caller gave up
    it->second.set_value(std::move(response));
    slot.pending.erase(it);
  }
}

void WorkerHost::Lost(int index, uint64_t generation, const std::string& reason) {
  Slot& slot = *slots_[index];
  std::string how;
  {
    // Lock order: write_mu, then mu. Holding write_mu keeps the old pipe's
    // descriptor from being reused under a writer.
    std::lock_guard<std::mutex> write_lock(slot.write_mu);
    std::lock_guard<std::mutex> lock(slot.mu);
    if (slot.generation != generation || slot.pid < 0) return;
    kill(slot.pid, SIGKILL);
    int status = 0;
    WaitPid(slot.pid, &status, 0);
    how = WIFSIGNALED(status)
              ? absl::StrCat("killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")")
              : absl::StrCat("exited with status ", WEXITSTATUS(status));
    close(slot.to_worker);
    close(slot.from_worker);
    slot.pid = -1;
    slot.to_worker = slot.from_worker = -1;
    const std::string message = absl::StrCat("the JavaScript worker process ", how, ": ", reason);
    for (auto& [id, promise] : slot.pending) promise.set_value(absl::UnavailableError(message));
    slot.pending.clear();
    ++crashes_;
    if (!stopping_) (void)Spawn(slot);
  }
  if (on_lost_ && !stopping_) {
    ++threads_;
    std::thread([this, index, message = absl::StrCat(how, ": ", reason)] {
      on_lost_(index, message);
      --threads_;
    }).detach();
  }
}

absl::StatusOr<v1::Response> WorkerHost::Call(int index, v1::Request request, absl::Duration timeout) {
  if (index < 0 || index >= workers()) return absl::InvalidArgumentError("worker: out of range");
  Slot& slot = *slots_[index];
  std::future<absl::StatusOr<v1::Response>> answer;
  uint64_t generation = 0;
  absl::Status written;
  {
    std::lock_guard<std::mutex> write_lock(slot.write_mu);
    int fd = -1;
    {
      std::lock_guard<std::mutex> lock(slot.mu);
      if (slot.pid < 0) return absl::UnavailableError("the JavaScript worker is not running");
      request.set_id(next_id_++);
      answer = slot.pending[request.id()].get_future();
      generation = slot.generation;
      fd = slot.to_worker;
    }
    written = WriteFrame(fd, request, absl::Now() + timeout);
  }
  if (written.code() == absl::StatusCode::kDeadlineExceeded) {
    // Hung: it read nothing of the request in time. Killed; the reader
    // fails the request.
    {
      std::lock_guard<std::mutex> lock(slot.mu);
      if (slot.generation == generation && slot.pid > 0) kill(slot.pid, SIGKILL);
    }
    if (answer.wait_for(std::chrono::seconds(10)) == std::future_status::ready) (void)answer.get();
    return absl::UnavailableError(absl::StrCat("the worker read no request for ", absl::FormatDuration(timeout),
                                               " and was killed"));
  }
  if (!written.ok()) {
    // The reader sees the same death and fails the request; wait for it.
    if (answer.wait_for(std::chrono::seconds(10)) == std::future_status::ready) return answer.get();
    return absl::UnavailableError("the JavaScript worker's pipe closed");
  }
  if (answer.wait_for(absl::ToChronoMilliseconds(timeout)) == std::future_status::ready) return answer.get();
  {
    std::lock_guard<std::mutex> lock(slot.mu);
    if (slot.generation == generation && slot.pid > 0) kill(slot.pid, SIGKILL);  // hung: the reader handles it
  }
  if (answer.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
    auto result = answer.get();
    if (!result.ok()) {
      return absl::UnavailableError(absl::StrCat("the worker did not answer within ", absl::FormatDuration(timeout),
                                                 " and was killed"));
    }
    return result;
  }
  return absl::UnavailableError("the JavaScript worker did not answer");
}

std::vector<pid_t> WorkerHost::pids() {
  std::vector<pid_t> out;
  for (auto& slot : slots_) {
    std::lock_guard<std::mutex> lock(slot->mu);
    out.push_back(slot->pid);
  }
  return out;
}

int64_t WorkerHost::ResidentBytes() {
  int64_t total = 0;
  for (pid_t pid : pids()) {
    if (pid <= 0) continue;
    std::ifstream statm(absl::StrCat("/proc/", pid, "/statm"));
    int64_t size = 0, resident = 0;
    if (statm >> size >> resident) total += resident * sysconf(_SC_PAGESIZE);
  }
  return total;
}

}  // namespace tasker::js
