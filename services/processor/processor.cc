#include "services/processor/processor.h"

#include <optional>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"

namespace tasker::services {

namespace v1 = ::tasker::v1;

Processor::Processor(ProcessorStores stores, std::shared_ptr<grpc::Channel> proxy, Notifier* notifier,
                     ProcessorConfig config)
    : stores_(stores),
      proxy_(v1::WrappedServiceProxy::NewStub(std::move(proxy))),
      notifier_(notifier),
      config_(std::move(config)),
      workers_(
          &queue_, config_.threads,
          [this](const WorkItem& item) { return Process(item.id); },
          config_.sweep_interval, [this] { Sweep(); }) {}

Processor::~Processor() { Stop(); }

void Processor::Start() { workers_.Start(); }

void Processor::Stop() { workers_.Stop(); }

bool Processor::Enqueue(const std::string& id, absl::Time at) {
  return queue_.Push({v1::WORK_KIND_PERFORM_CALL, id}, at);
}

// Lost notifications, expired leases, retries due after a restart.
void Processor::Sweep() {
  for (int i = 0; i < 100 && !workers_.stopping() && counters_.in_flight < config_.threads; ++i) {
    if (!Process("").ok()) break;
  }
}

absl::Duration Processor::Backoff(const ProcessorConfig& config, int attempt) {
  absl::Duration delay = config.base_backoff;
  for (int i = 1; i < attempt && delay < config.max_backoff; ++i) delay *= 2;
  delay = std::min(delay, config.max_backoff);
  thread_local absl::BitGen gen;
  // Full jitter between half and the whole delay.
  return delay * absl::Uniform(gen, 0.5, 1.0);
}

bool Processor::Dispatch(const v1::StackRun& call) {
  {
    std::lock_guard<std::mutex> lock(dispatched_mu_);
    dispatched_[call.id()] = call;
  }
  return queue_.Push({v1::WORK_KIND_PERFORM_CALL, call.id()});
}

absl::Status Processor::Process(const std::string& id) {
  if (!id.empty()) {
    std::optional<v1::StackRun> held;
    {
      std::lock_guard<std::mutex> lock(dispatched_mu_);
      auto it = dispatched_.find(id);
      if (it != dispatched_.end()) {
        held = std::move(it->second);
        dispatched_.erase(it);
      }
    }
    if (held) {
      WorkerThreads::InFlight in_flight(&counters_.in_flight);
      ++counters_.performed;
      return Perform(*held, held->fencing_token());
    }
  }
  v1::ClaimWorkRequest claim_request;
  claim_request.set_kind(v1::WORK_KIND_PERFORM_CALL);
  claim_request.set_owner(config_.owner);
  claim_request.set_lease_ms(absl::ToInt64Milliseconds(config_.lease));
  claim_request.set_stack_run_id(id);
  ASSIGN_OR_RETURN(auto claim, stores_.leases->ClaimWork(claim_request));
  if (!claim.has_stack_run()) return absl::NotFoundError("nothing to claim");
  WorkerThreads::InFlight in_flight(&counters_.in_flight);
  ++counters_.performed;
  return Perform(claim.stack_run(), claim.lease().fencing_token());
}

absl::Status Processor::Perform(const v1::StackRun& call, int64_t token) {

  v1::CallRequest request;
  request.set_service(call.service());
  request.set_method(call.method());
  request.set_args_json(call.args_json());
  // The same key on every attempt of this call: providers may deduplicate.
  request.set_idempotency_key(absl::StrCat(call.task_run_id(), "/", call.id()));
  request.set_deadline_ms(absl::ToInt64Milliseconds(config_.call_timeout));
  request.set_task_run_id(call.task_run_id());
  v1::CallResponse response;
  auto context = MakeContext(config_.call_timeout + absl::Seconds(5));
  grpc::Status rpc = proxy_->Call(context.get(), request, &response);

  v1::ErrorInfo error;
  bool ok = false;
  if (rpc.ok() && response.outcome_case() == v1::CallResponse::kResultJson) {
    ok = true;
  } else if (rpc.ok()) {
    error = response.error();
  } else {
    // The proxy refused the call itself (bad service/method/args) -> final;
    // the proxy unreachable or slow -> retryable.
    error.set_code(absl::StatusCodeToString(static_cast<absl::StatusCode>(rpc.error_code())));
    error.set_message(rpc.error_message());
    error.set_retryable(rpc.error_code() == grpc::StatusCode::UNAVAILABLE ||
                        rpc.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                        rpc.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }

  // An unreachable proxy is Tasker's own outage, not the provider's answer:
  // such calls are retried without an attempt limit.
  const bool proxy_down = !rpc.ok() && rpc.error_code() == grpc::StatusCode::UNAVAILABLE;
  if (!ok && error.retryable() && (proxy_down || call.attempt() < config_.max_attempts)) {
    const absl::Time next = absl::Now() + Backoff(config_, call.attempt());
    v1::RetryCallRequest retry;
    retry.set_stack_run_id(call.id());
    retry.set_fencing_token(token);
    *retry.mutable_error() = error;
    *retry.mutable_next_attempt_at() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(next));
    auto retried = stores_.calls->RetryCall(retry);
    if (retried.ok()) {
      ++counters_.retried;
      Enqueue(call.id(), next);
    }
    return retried.status().code() == absl::StatusCode::kAborted ? absl::OkStatus() : retried.status();
  }

  v1::CompleteCallRequest complete;
  complete.set_stack_run_id(call.id());
  complete.set_fencing_token(token);
  if (ok) {
    complete.set_result_json(response.result_json());
  } else {
    if (error.retryable()) {
      error.set_message(absl::StrCat(error.message(), " (gave up after ", call.attempt(), " attempts)"));
    }
    *complete.mutable_error() = error;
  }
  // The provider has answered: the answer is kept and its recording retried
  // while storage is unreachable (or its answer is lost), until it is
  // recorded, storage says the lease is lost, or the processor stops.
  // Dropping it would let the lease expire and the call be performed again.
  absl::StatusOr<v1::CompleteCallResponse> completed;
  bool outcome_unknown = false;  // an earlier attempt may have been applied
  for (int attempt = 1;; ++attempt) {
    completed = stores_.calls->CompleteCall(complete);
    const absl::StatusCode code = completed.status().code();
    if (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded) break;
    if (workers_.stopping()) break;
    outcome_unknown = true;
    if (attempt == 1 || attempt % 10 == 0) {
      LogWarning("recording a call result failed; retrying",
              {{"stack_run", call.id()}, {"attempt", std::to_string(attempt)},
               {"reason", completed.status().ToString()}});
    }
    ProcessorConfig capped = config_;
    // Short enough to renew the lease (below) well before it expires.
    capped.max_backoff = std::min({config_.max_backoff, absl::Seconds(5), config_.lease / 3});
    const absl::Time until = absl::Now() + Backoff(capped, attempt);
    while (!workers_.stopping() && absl::Now() < until) {
      absl::SleepFor(std::min(until - absl::Now(), absl::Milliseconds(50)));
    }
    // Keep the lease meanwhile, so that no sweep performs the call again;
    // storage refusing it (lease lost, call finished) ends the retries.
    v1::RenewLeaseRequest renew;
    renew.set_stack_run_id(call.id());
    renew.set_owner(call.lease_owner().empty() ? config_.owner : call.lease_owner());
    renew.set_fencing_token(token);
    renew.set_lease_ms(absl::ToInt64Milliseconds(config_.lease));
    auto renewed = stores_.leases->RenewLease(renew);
    if (renewed.status().code() == absl::StatusCode::kAborted ||
        renewed.status().code() == absl::StatusCode::kFailedPrecondition ||
        renewed.status().code() == absl::StatusCode::kNotFound) {
      completed = renewed.status();
      break;
    }
  }
  if (!completed.ok()) {
    if (completed.status().code() == absl::StatusCode::kAborted ||
        completed.status().code() == absl::StatusCode::kFailedPrecondition) {
      // Lease lost or run cancelled: someone else owns it. After a lost
      // answer, FAILED_PRECONDITION may also be our own earlier write.
      LogInfo(outcome_unknown ? "call result already recorded or dropped" : "call result dropped",
              {{"stack_run", call.id()}, {"reason", completed.status().ToString()}});
      return absl::OkStatus();
    }
    return completed.status();
  }
  ok ? ++counters_.succeeded : ++counters_.failed;
  if (!completed->reply_to().empty()) {
    notifier_->DeliverResult(completed->reply_to(), completed->call());
  } else if (completed->parent_ready()) {
    notifier_->NotifyResume(completed->parent_id());
  }
  return absl::OkStatus();
}

}  // namespace tasker::services
