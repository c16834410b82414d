#include "services/common/notifier.h"

#include "absl/time/clock.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"

namespace tasker::services {

namespace v1 = ::tasker::v1;

Notifier::Notifier(const std::vector<std::string>& executors, const std::vector<std::string>& processors,
                   const std::string& auth_token)
    : auth_token_(auth_token) {
  for (const auto& target : executors) {
    auto channel = MakeChannel({.target = target, .auth_token = auth_token});
    if (channel.ok()) executors_.push_back(v1::Executor::NewStub(*channel));
  }
  for (const auto& target : processors) {
    auto channel = MakeChannel({.target = target, .auth_token = auth_token});
    if (channel.ok()) processors_.push_back(v1::StackProcessor::NewStub(*channel));
  }
}

Notifier::~Notifier() { Flush(); }

void Notifier::Flush() {
  while (in_flight_.load() > 0) absl::SleepFor(absl::Milliseconds(1));
}

void Notifier::NotifyCalls(const std::vector<std::string>& ids) {
  if (processors_.empty() || ids.empty()) return;
  // Spread the calls of one suspension over the processors.
  std::vector<v1::NotifyCallsRequest> requests(processors_.size());
  for (const auto& id : ids) requests[next_++ % processors_.size()].add_stack_run_ids(id);
  for (size_t i = 0; i < processors_.size(); ++i) {
    if (requests[i].stack_run_ids_size() == 0) continue;
    auto context = MakeContext(absl::Seconds(2));
    v1::NotifyCallsResponse response;
    grpc::Status status = processors_[i]->NotifyCalls(context.get(), requests[i], &response);
    if (!status.ok()) LogWarning("notify processor failed", {{"error", status.error_message()}});
  }
}

void Notifier::DispatchCalls(const std::vector<v1::StackRun>& calls) {
  if (processors_.empty() || calls.empty()) return;
  auto request = std::make_shared<v1::NotifyCallsRequest>();
  for (const auto& call : calls) *request->add_calls() = call;
  Dispatch(std::move(request), next_++ % processors_.size(), 0);
}

void Notifier::Dispatch(std::shared_ptr<v1::NotifyCallsRequest> request, size_t at, size_t tries) {
  struct Pending {
    std::unique_ptr<grpc::ClientContext> context = MakeContext(absl::Seconds(2));
    v1::NotifyCallsResponse response;
  };
  auto pending = std::make_shared<Pending>();
  ++in_flight_;
  processors_[at]->async()->NotifyCalls(
      pending->context.get(), request.get(), &pending->response,
      [this, request, pending, at, tries](grpc::Status status) {
        if (!status.ok()) {
          if (tries + 1 < processors_.size()) {
            // Another processor; the dispatch lease makes the calls
            // claimable by any processor's sweeper otherwise.
            Dispatch(request, (at + 1) % processors_.size(), tries + 1);
          } else {
            LogWarning("dispatch to processors failed", {{"error", status.error_message()}});
          }
        }
        --in_flight_;
      });
}

void Notifier::NotifyResume(const std::string& root_id) {
  if (executors_.empty()) return;
  v1::NotifyRequest request;
  request.set_kind(v1::WORK_KIND_RESUME_PARENT);
  request.add_stack_run_ids(root_id);
  auto& stub = executors_[next_++ % executors_.size()];
  auto context = MakeContext(absl::Seconds(2));
  v1::NotifyResponse response;
  grpc::Status status = stub->Notify(context.get(), request, &response);
  if (!status.ok()) LogWarning("notify executor failed", {{"error", status.error_message()}});
}

v1::Executor::Stub* Notifier::ExecutorAt(const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_target_.find(target);
  if (it != by_target_.end()) return it->second.get();
  auto channel = MakeChannel({.target = target, .auth_token = auth_token_});
  if (!channel.ok()) return nullptr;
  return (by_target_[target] = v1::Executor::NewStub(*channel)).get();
}

void Notifier::DeliverResult(const std::string& reply_to, const v1::StackRun& call) {
  v1::Executor::Stub* stub = ExecutorAt(reply_to);
  if (!stub) {
    LogWarning("bad reply_to", {{"reply_to", reply_to}});
    return;
  }
  struct Pending {
    std::unique_ptr<grpc::ClientContext> context = MakeContext(absl::Seconds(2));
    v1::DeliverResultsRequest request;
    v1::DeliverResultsResponse response;
  };
  auto pending = std::make_shared<Pending>();
  *pending->request.add_calls() = call;
  ++in_flight_;
  stub->async()->DeliverResults(pending->context.get(), &pending->request, &pending->response,
                                [this, pending](grpc::Status status) {
                                  // A lost push: the executor's straggler check, or
                                  // whoever takes the run over, reads it from storage.
                                  if (!status.ok()) {
                                    LogInfo("result push failed", {{"error", status.error_message()}});
                                  }
                                  --in_flight_;
                                });
}

}  // namespace tasker::services
