// The retention sweep of finished runs (--finished_run_retention): every
// `interval`, runs that finished more than `retention` ago are deleted with
// everything they left (Store::PurgeFinishedRuns), a bounded batch at a time.
#ifndef TASKER_SERVICES_STORAGE_RETENTION_H_
#define TASKER_SERVICES_STORAGE_RETENTION_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "storage/store.h"

namespace tasker::storage {

struct RetentionConfig {
  absl::Duration retention = absl::ZeroDuration();  // zero: keep finished runs forever
  absl::Duration interval = absl::Minutes(1);
  int batch = 500;  // runs per transaction
};

class RetentionSweeper {
 public:
  RetentionSweeper(Store* store, RetentionConfig config);
  ~RetentionSweeper();  // stops the sweep

  // One sweep: deletes batches until fewer than a batch are left; returns
  // how many runs went.
  absl::StatusOr<int64_t> SweepOnce();
  int64_t purged() const { return purged_; }

 private:
  void Loop();

  Store* store_;
  RetentionConfig config_;
  std::atomic<int64_t> purged_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tasker::storage

#endif  // TASKER_SERVICES_STORAGE_RETENTION_H_
