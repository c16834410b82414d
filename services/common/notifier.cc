#include "services/common/notifier.h"

#include "runtime/client/channel.h"
#include "runtime/common/log.h"

namespace tasker::services {

Notifier::Notifier(const std::vector<std::string>& executors, const std::vector<std::string>& processors,
                   const std::string& auth_token) {
  for (const auto& target : executors) {
    auto channel = MakeChannel({.target = target, .auth_token = auth_token});
    if (channel.ok()) executors_.push_back(tasker::v1::Executor::NewStub(*channel));
  }
  for (const auto& target : processors) {
    auto channel = MakeChannel({.target = target, .auth_token = auth_token});
    if (channel.ok()) processors_.push_back(tasker::v1::StackProcessor::NewStub(*channel));
  }
}

void Notifier::NotifyCalls(const std::vector<std::string>& ids) {
  if (processors_.empty() || ids.empty()) return;
  // Spread the calls of one suspension over the processors.
  std::vector<tasker::v1::NotifyCallsRequest> requests(processors_.size());
  for (const auto& id : ids) requests[next_++ % processors_.size()].add_stack_run_ids(id);
  for (size_t i = 0; i < processors_.size(); ++i) {
    if (requests[i].stack_run_ids_size() == 0) continue;
    auto context = MakeContext(absl::Seconds(2));
    tasker::v1::NotifyCallsResponse response;
    grpc::Status status = processors_[i]->NotifyCalls(context.get(), requests[i], &response);
    if (!status.ok()) LogWarning("notify processor failed", {{"error", status.error_message()}});
  }
}

void Notifier::NotifyResume(const std::string& root_id) {
  if (executors_.empty()) return;
  tasker::v1::NotifyRequest request;
  request.set_kind(tasker::v1::WORK_KIND_RESUME_PARENT);
  request.add_stack_run_ids(root_id);
  auto& stub = executors_[next_++ % executors_.size()];
  auto context = MakeContext(absl::Seconds(2));
  tasker::v1::NotifyResponse response;
  grpc::Status status = stub->Notify(context.get(), request, &response);
  if (!status.ok()) LogWarning("notify executor failed", {{"error", status.error_message()}});
}

}  // namespace tasker::services
