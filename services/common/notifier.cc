#include "services/common/notifier.h"

#include "absl/time/clock.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"

namespace tasker::services {

namespace v1 = ::tasker::v1;

Notifier::Notifier(const std::vector<std::string>& executors, const std::vector<std::string>& processors,
                   const ClientConfig& client, NotifierOptions options)
    : options_(options), client_(client) {
  auto config_for = [this](const std::string& target) {
    ClientConfig config = client_;
    config.target = target;
    return config;
  };
  for (const auto& target : executors) {
    auto channel = MakeChannel(config_for(target));
    if (channel.ok()) executors_.push_back(v1::Executor::NewStub(*channel));
  }
  for (const auto& target : processors) {
    auto channel = MakeChannel(config_for(target));
    if (channel.ok()) {
      processors_.push_back(v1::StackProcessor::NewStub(*channel));
      dispatch_lanes_.push_back(std::make_unique<Lane<v1::NotifyCallsRequest>>());
    }
  }
  suspect_until_.assign(processors_.size(), absl::InfinitePast());
}

Notifier::~Notifier() { Flush(); }

void Notifier::Flush() {
  while (in_flight_.load() > 0) absl::SleepFor(absl::Milliseconds(1));
}

size_t Notifier::NextProcessor() {
  const size_t n = processors_.size();
  const size_t first = next_++ % n;
  const absl::Time now = absl::Now();
  std::lock_guard<std::mutex> lock(suspect_mu_);
  for (size_t i = 0; i < n; ++i) {
    const size_t at = (first + i) % n;
    if (suspect_until_[at] <= now) return at;
  }
  return first;
}

void Notifier::DispatchCalls(const std::vector<v1::StackRunRecord>& calls) {
  if (processors_.empty() || calls.empty()) return;
  const size_t at = NextProcessor();
  bool dropped = false;
  auto request = dispatch_lanes_[at]->Push(
      [&](v1::NotifyCallsRequest* r) {
        for (const auto& call : calls) {
          if (call.status() == v1::STACK_RUN_STATUS_PENDING) {
            // A delayed call (durable timer): to be claimed when due.
            auto* scheduled = r->add_scheduled();
            scheduled->set_stack_run_id(call.id());
            *scheduled->mutable_at() = call.next_attempt_at();
          } else {
            *r->add_calls() = call;
          }
        }
      },
      static_cast<int>(calls.size()), options_.max_queued, &dropped);
  if (dropped) dropped_ += static_cast<int64_t>(calls.size());
  if (request) Dispatch(std::move(request), at, 0);
}

// A first try (tries == 0) holds processor `at`'s lane: when it is answered,
// the lane's queued calls go next. Retries go to the following processor
// outside any lane, and only when the first could not have received the
// calls (UNAVAILABLE: not reachable): a processor that did not answer in
// time may still perform them, so they are left to their dispatch lease
// (after which a sweeping processor claims them with a new fencing token)
// and that processor is passed over for a while.
void Notifier::Dispatch(std::shared_ptr<v1::NotifyCallsRequest> request, size_t at, size_t tries) {
  struct Pending {
    std::unique_ptr<grpc::ClientContext> context;
    v1::NotifyCallsResponse response;
  };
  auto pending = std::make_shared<Pending>();
  pending->context = MakeContext(options_.deadline);
  ++in_flight_;
  processors_[at]->async()->NotifyCalls(
      pending->context.get(), request.get(), &pending->response,
      [this, request, pending, at, tries](grpc::Status status) {
        if (!status.ok()) {
          {
            std::lock_guard<std::mutex> lock(suspect_mu_);
            suspect_until_[at] = absl::Now() + options_.suspect_for;
          }
          if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
            LogWarning("dispatch to a processor unanswered; its calls are left to their lease",
                       {{"error", status.error_message()}});
          } else if (tries + 1 < processors_.size()) {
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
  // Fire-and-forget: a lost one is found by the executors' sweeps.
  constexpr int kMaxResumesInFlight = 1000;
  if (in_flight_.load() >= kMaxResumesInFlight) {
    ++dropped_;
    return;
  }
  struct Pending {
    std::unique_ptr<grpc::ClientContext> context;
    v1::NotifyRequest request;
    v1::NotifyResponse response;
  };
  auto pending = std::make_shared<Pending>();
  pending->context = MakeContext(options_.deadline);
  pending->request.set_kind(v1::WORK_KIND_RESUME_PARENT);
  pending->request.add_stack_run_ids(root_id);
  auto& stub = executors_[next_++ % executors_.size()];
  ++in_flight_;
  stub->async()->Notify(pending->context.get(), &pending->request, &pending->response,
                        [this, pending](grpc::Status status) {
                          if (!status.ok()) LogInfo("notify executor failed", {{"error", status.error_message()}});
                          --in_flight_;
                        });
}

std::shared_ptr<Notifier::ExecutorPeer> Notifier::ExecutorAt(const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_target_.find(target);
  if (it != by_target_.end()) return it->second;
  if (static_cast<int>(by_target_.size()) >= options_.max_executor_peers) {
    // Let go of peers nobody is pushing to (a push in flight keeps its own
    // reference until it is answered).
    for (auto p = by_target_.begin(); p != by_target_.end();) {
      p = p->second.use_count() == 1 ? by_target_.erase(p) : std::next(p);
    }
  }
  ClientConfig config = client_;
  config.target = target;
  auto channel = MakeChannel(config);
  if (!channel.ok()) return nullptr;
  auto peer = std::make_shared<ExecutorPeer>();
  peer->stub = v1::Executor::NewStub(*channel);
  return by_target_[target] = std::move(peer);
}

void Notifier::DeliverResult(const std::string& reply_to, const v1::StackRunRecord& call) {
  std::shared_ptr<ExecutorPeer> peer = ExecutorAt(reply_to);
  if (!peer) {
    LogWarning("bad reply_to", {{"reply_to", reply_to}});
    return;
  }
  bool dropped = false;
  auto request = peer->results.Push([&](v1::DeliverResultsRequest* r) { *r->add_calls() = call; }, 1,
                                    options_.max_queued, &dropped);
  if (dropped) ++dropped_;
  if (request) SendResults(peer, std::move(request));
}

void Notifier::SendResults(std::shared_ptr<ExecutorPeer> peer, std::shared_ptr<v1::DeliverResultsRequest> request) {
  struct Pending {
    std::unique_ptr<grpc::ClientContext> context;
    v1::DeliverResultsResponse response;
  };
  auto pending = std::make_shared<Pending>();
  // An executor just restarted may still be reconnected to: waited for
  // (within the deadline) rather than the push failing at once and the run
  // waiting for its straggler check.
  pending->context = MakeWaitingContext(options_.deadline);
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
