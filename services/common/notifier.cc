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
    if (channel.ok()) {
      processors_.push_back(v1::StackProcessor::NewStub(*channel));
      dispatch_lanes_.push_back(std::make_unique<Lane<v1::NotifyCallsRequest>>());
    }
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
  const size_t at = next_++ % processors_.size();
  auto request = dispatch_lanes_[at]->Push([&](v1::NotifyCallsRequest* r) {
    for (const auto& call : calls) *r->add_calls() = call;
  });
  if (request) Dispatch(std::move(request), at, 0);
}

// A first try (tries == 0) holds processor `at`'s lane: when it is answered,
// the lane's queued calls go next. Retries go to the following processor
// outside any lane.
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
        if (tries == 0) {
          if (auto next = dispatch_lanes_[at]->Next()) Dispatch(std::move(next), at, 0);
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

Notifier::ExecutorPeer* Notifier::ExecutorAt(const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_target_.find(target);
  if (it != by_target_.end()) return it->second.get();
  auto channel = MakeChannel({.target = target, .auth_token = auth_token_});
  if (!channel.ok()) return nullptr;
  auto peer = std::make_unique<ExecutorPeer>();
  peer->stub = v1::Executor::NewStub(*channel);
  return (by_target_[target] = std::move(peer)).get();
}

void Notifier::DeliverResult(const std::string& reply_to, const v1::StackRun& call) {
  ExecutorPeer* peer = ExecutorAt(reply_to);
  if (!peer) {
    LogWarning("bad reply_to", {{"reply_to", reply_to}});
    return;
  }
  auto request = peer->results.Push([&](v1::DeliverResultsRequest* r) { *r->add_calls() = call; });
  if (request) SendResults(peer, std::move(request));
}

void Notifier::SendResults(ExecutorPeer* peer, std::shared_ptr<v1::DeliverResultsRequest> request) {
  struct Pending {
    std::unique_ptr<grpc::ClientContext> context = MakeContext(absl::Seconds(2));
    v1::DeliverResultsResponse response;
  };
  auto pending = std::make_shared<Pending>();
  ++in_flight_;
  peer->stub->async()->DeliverResults(
      pending->context.get(), request.get(), &pending->response, [this, peer, request, pending](grpc::Status status) {
        // A lost push: the executor's straggler check, or whoever takes the
        // run over, reads it from storage.
        if (!status.ok()) LogInfo("result push failed", {{"error", status.error_message()}});
        if (auto next = peer->results.Next()) SendResults(peer, std::move(next));
        --in_flight_;
      });
}

}  // namespace tasker::services
