#include "storage/remote/write_batcher.h"

#include "absl/strings/str_cat.h"
#include "runtime/client/channel.h"
#include "runtime/common/status.h"

namespace tasker::storage {

WriteBatcher::WriteBatcher(v1::Storage::Stub* stub, WriteBatcherOptions options)
    : stub_(stub), options_(options) {}

absl::StatusOr<v1::WriteResult> WriteBatcher::Write(v1::WriteOp op) {
  Job job;
  job.op = std::move(op);
  job.result = absl::UnknownError("not sent");
  std::unique_lock<std::mutex> lock(mu_);
  pending_.push_back(&job);
  while (!job.done) {
    if (in_flight_ >= options_.max_in_flight || pending_.empty()) {
      job.cv.wait(lock);
      continue;
    }
    // This thread sends what is queued (its own write among it, or ahead of it).
    std::deque<Job*> batch;
    size_t bytes = 0;
    while (!pending_.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
      const size_t size = pending_.front()->op.ByteSizeLong();
      if (!batch.empty() && bytes + size > options_.max_batch_bytes) break;
      bytes += size;
      batch.push_back(pending_.front());
      pending_.pop_front();
    }
    ++in_flight_;
    lock.unlock();
    Send(batch);
    lock.lock();
    --in_flight_;
    for (Job* sent : batch) {
      sent->done = true;
      if (sent != &job) sent->cv.notify_one();
    }
    // The next in line sends what queued meanwhile.
    if (!pending_.empty() && pending_.front() != &job) pending_.front()->cv.notify_one();
  }
  return std::move(job.result);
}

void WriteBatcher::Send(const std::deque<Job*>& batch) {
  v1::WriteBatchRequest request;
  for (Job* job : batch) *request.add_ops() = std::move(job->op);
  v1::WriteBatchResponse response;
  auto context = MakeWaitingContext(options_.timeout);
  grpc::Status status = stub_->WriteBatch(context.get(), request, &response);
  absl::Status failed;
  if (!status.ok()) {
    failed = FromGrpcStatus(status);
  } else if (response.results_size() != static_cast<int>(batch.size())) {
    failed = absl::InternalError(absl::StrCat("WriteBatch answered ", response.results_size(), " results for ",
                                              batch.size(), " ops"));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!failed.ok()) {
      batch[i]->result = failed;
    } else {
      batch[i]->result = std::move(*response.mutable_results(static_cast<int>(i)));
    }
  }
}

}  // namespace tasker::storage
