// WriteBatcher: the hot path's writes from many threads, coalesced into
// Storage.WriteBatch round trips. A write goes out at once when fewer than
// `max_in_flight` batches are on the wire; otherwise it waits and leaves
// with everything else that queued meanwhile. So a lone write pays no delay,
// and under load one round trip (and, on the server, one commit) carries
// many writes: the batch grows with the load. Each write keeps its own
// transaction and outcome. Thread-safe.
#ifndef TASKER_STORAGE_REMOTE_WRITE_BATCHER_H_
#define TASKER_STORAGE_REMOTE_WRITE_BATCHER_H_

#include <condition_variable>
#include <deque>
#include <mutex>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tasker/v1/storage.grpc.pb.h"

namespace tasker::storage {

struct WriteBatcherOptions {
  int max_in_flight = 2;
  int max_batch = 256;
  // A batch stops growing past this many bytes of ops (one op alone may be
  // larger), so batches of large payloads stay well under the gRPC message
  // limit (128 MiB).
  size_t max_batch_bytes = size_t{32} << 20;
  absl::Duration timeout = absl::Seconds(30);
};

class WriteBatcher {
 public:
  // `stub` must outlive the batcher.
  WriteBatcher(v1::Storage::Stub* stub, WriteBatcherOptions options);

  // Performs `op` and returns its result (its status as code and message).
  // A failed round trip fails every write it carried with that status.
  // UNIMPLEMENTED when the server has no WriteBatch (an older storage
  // service): the caller sends the write on its own method instead.
  absl::StatusOr<v1::WriteResult> Write(v1::WriteOp op);

 private:
  struct Job {
    v1::WriteOp op;
    absl::StatusOr<v1::WriteResult> result;
    bool done = false;
    // Its writer waits here, woken when the job is done or when it is first
    // in line and may send (no thundering herd of all waiting writers).
    std::condition_variable cv;
  };
  void Send(const std::deque<Job*>& batch);

  v1::Storage::Stub* stub_;
  const WriteBatcherOptions options_;
  std::mutex mu_;
  std::deque<Job*> pending_;
  int in_flight_ = 0;
};

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_REMOTE_WRITE_BATCHER_H_
