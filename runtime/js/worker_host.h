// WorkerHost: the executor's side of its tasker-js-worker processes. Each
// worker holds many live runs; requests to one worker are pipelined (any
// thread may call, answers are matched by id) and run in order there. A
// fatal V8 error (which aborts its process) loses only that worker's live
// runs: pending requests fail with UNAVAILABLE, the worker is replaced, and
// `on_lost` is told so that the runs can be rebuilt from their journals.
#ifndef TASKER_RUNTIME_JS_WORKER_HOST_H_
#define TASKER_RUNTIME_JS_WORKER_HOST_H_

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/js/worker.pb.h"

namespace tasker::js {

struct WorkerHostOptions {
  // Path of the tasker-js-worker binary.
  std::string worker_path;
  int workers = 2;
  int heap_limit_mb = 256;
  // More arguments for every worker (tests: the worker's --test_* faults).
  std::vector<std::string> extra_args;
  // How long the destructor lets a worker exit on its own (EOF on its
  // stdin) before it kills it.
  absl::Duration exit_grace = absl::Seconds(2);
};

class WorkerHost {
 public:
  // Called (on its own thread) after worker `worker` died or was killed and
  // was replaced; every live run it held is gone.
  using LostCallback = std::function<void(int worker, const std::string& reason)>;

  // Starts the workers. FAILED_PRECONDITION when the binary is missing.
  static absl::StatusOr<std::unique_ptr<WorkerHost>> Create(const WorkerHostOptions& options,
                                                            LostCallback on_lost = nullptr);
  ~WorkerHost();

  // Sends `request` to worker `worker` and waits for its answer (its
  // status_code may be non-zero: a refused request). UNAVAILABLE when the
  // worker died meanwhile; a worker that does not answer within `timeout`
  // is killed as hung. The deadline covers writing the request too: a hung
  // worker that reads no more never blocks a caller (or, through the
  // worker's write lock, every other caller) beyond `timeout`.
  absl::StatusOr<v1::Response> Call(int worker, v1::Request request, absl::Duration timeout);

  int workers() const { return static_cast<int>(slots_.size()); }
  const WorkerHostOptions& options() const { return options_; }
  int crashes() const { return crashes_.load(); }
  // Pids of the current workers (for tests).
  std::vector<pid_t> pids();
  // Resident memory of all workers, bytes (from /proc).
  int64_t ResidentBytes();

 private:
  struct Slot {
    std::mutex write_mu;  // one frame at a time on to_worker
    std::mutex mu;        // guards everything below
    pid_t pid = -1;
    int to_worker = -1;
    int from_worker = -1;
    uint64_t generation = 0;
    std::map<uint64_t, std::promise<absl::StatusOr<v1::Response>>> pending;
  };

  explicit WorkerHost(WorkerHostOptions options, LostCallback on_lost)
      : options_(std::move(options)), on_lost_(std::move(on_lost)) {}
  absl::Status Spawn(Slot& slot);
  void Read(int index, uint64_t generation, int fd);
  void Lost(int index, uint64_t generation, const std::string& reason);

  WorkerHostOptions options_;
  LostCallback on_lost_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<int> crashes_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int> threads_{0};  // detached readers and callbacks still running
};

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_WORKER_HOST_H_
