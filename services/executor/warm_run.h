// Internal to the executor: what it keeps about one warm run.
#ifndef TASKER_SERVICES_EXECUTOR_WARM_RUN_H_
#define TASKER_SERVICES_EXECUTOR_WARM_RUN_H_

#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tasker/v1/records.pb.h"
#include "tasker/v1/storage.pb.h"
#include "runtime/common/log.h"
#include "runtime/js/engine.h"
#include "runtime/js/worker.pb.h"

namespace tasker::services {

inline tasker::v1::GetJournalRequest JournalRequest(const std::string& root_id) {
  tasker::v1::GetJournalRequest request;
  request.set_root_stack_run_id(root_id);
  return request;
}

// The runtime's view of a call row: its result, for delivery.
js::CallResult ResultOf(const tasker::v1::StackRunRecord& call);
// Whether a call row has its outcome.
bool Finished(const tasker::v1::StackRunRecord& call);
// The journal as the runtime's rebuild request (code, input, checkpoint,
// steps, calls); `extra_steps` are steps not committed yet.
void FillRebuild(const tasker::v1::Journal& journal, const std::string& code, const std::string& input_json,
                 const js::Limits& limits, const std::vector<tasker::v1::JournalStep>& extra_steps,
                 js::v1::RebuildOp* op);
// The stored form of a checkpoint a worker wrote.
tasker::v1::Continuation CheckpointRecord(const std::string& root_id, const js::v1::Response& written);

struct WarmRun {
  std::mutex mu;  // one step (and its commit) at a time; guards what follows
  std::string root_id;
  std::string run_id;
  // Its ids and trace on the log lines and calls made for it (RunLogContext).
  LogContext log_context;
  std::string task_identifier;
  int64_t task_version = 0;
  std::string input_json;
  int64_t token = 0;  // the root's fencing token
  int worker = -1;    // the live worker holding its isolate
  bool live = false;  // the isolate exists (false while starting or rebuilding)
  bool gone = false;  // forgotten here: every later event is ignored
  // The journal position: seq of the next step, and the steps (and their
  // console output) since the last commit.
  int next_seq = 0;
  std::vector<tasker::v1::JournalStep> pending_steps;
  std::vector<tasker::v1::LogEntry> pending_logs;
  // Calls not yet delivered, and results that arrived for them.
  std::set<std::string> outstanding;
  std::deque<js::CallResult> inbox;
  bool scheduled = false;  // in the delivery queue or being delivered
  // Results pushed while a step holds `mu` wait here (a push never waits
  // for a step and its commit); a delivery thread moves them to the inbox.
  std::mutex mail_mu;
  std::vector<tasker::v1::StackRunRecord> mail;  // guarded by mail_mu
  bool mail_queued = false;                // guarded by mail_mu: in the delivery queue for its mail
  absl::Time last_active = absl::Now();
  // Checkpoints: the step the stored one covers, and when it was written.
  int checkpoint_step = 0;
  absl::Time checkpoint_at = absl::Now();
  bool checkpointing = false;
  size_t heap_bytes = 0;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_WARM_RUN_H_
