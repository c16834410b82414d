// Best-effort push notifications between executors and processors
// (round-robin over the peers' targets). A lost notification is not an
// error: the receiving side's slow sweeper picks the work up.
#ifndef TASKER_SERVICES_COMMON_NOTIFIER_H_
#define TASKER_SERVICES_COMMON_NOTIFIER_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "proto/tasker/v1/executor.grpc.pb.h"
#include "proto/tasker/v1/stack_processor.grpc.pb.h"

namespace tasker::services {

class Notifier {
 public:
  // `executors` and `processors` are gRPC targets; either list may be empty.
  Notifier(const std::vector<std::string>& executors, const std::vector<std::string>& processors,
           const std::string& auth_token);

  void NotifyCalls(const std::vector<std::string>& stack_run_ids);
  void NotifyResume(const std::string& root_stack_run_id);

 private:
  std::vector<std::unique_ptr<tasker::v1::Executor::Stub>> executors_;
  std::vector<std::unique_ptr<tasker::v1::StackProcessor::Stub>> processors_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_COMMON_NOTIFIER_H_
