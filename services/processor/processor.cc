#include "services/processor/processor.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <set>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"
#include "runtime/common/metrics.h"
#include "runtime/common/status.h"
#include "runtime/common/trace.h"
#include "services/common/timers.h"

namespace tasker::services {

namespace v1 = ::tasker::v1;

namespace {

// Labelled by the task's service and method names: bounded by the series
// cap (metrics.h), as task code may name anything.
metrics::Counters& HostCalls() {
  static auto* counters = new metrics::Counters(
      "tasker_host_calls_total",
      "Host calls performed by this processor, by service, method and outcome (ok, error: failed for good, "
      "retry: failed and scheduled again).",
      {"service", "method", "outcome"});
  return *counters;
}

metrics::Histograms& HostCallSeconds() {
  static auto* histograms = new metrics::Histograms(
      "tasker_host_call_duration_seconds",
      "Time of one attempt of a host call through the proxy, as the processor saw it, by service.", {"service"});
  return *histograms;
}

}  // namespace

Processor::Processor(ProcessorStores stores, std::shared_ptr<grpc::Channel> proxy, Notifier* notifier,
                     ProcessorConfig config)
    : stores_(stores),
      proxy_(v1::WrappedServiceProxy::NewStub(std::move(proxy))),
      notifier_(notifier),
      config_(std::move(config)),
      workers_(
          &queue_, config_.threads,
          [this](const WorkItem& item) { return Process(item.id); },
          config_.sweep_interval, [this] { Sweep(); }) {
  config_.renew_interval = std::min(config_.renew_interval, config_.lease / 3);
}

Processor::~Processor() { Stop(); }

void Processor::Start() {
  if (renew_thread_.joinable()) return;
  if (scraped_.empty()) {
    using metrics::ScrapedValue;
    scraped_.push_back(std::make_unique<ScrapedValue>(
        "tasker_processor_calls_held", "Calls this processor holds (queued or being performed).",
        ScrapedValue::Type::kGauge, std::map<std::string, std::string>{}, [this] { return held(); }));
    scraped_.push_back(std::make_unique<ScrapedValue>(
        "tasker_work_queue_depth", "Items waiting in a work queue of this process.", ScrapedValue::Type::kGauge,
        std::map<std::string, std::string>{{"queue", "processor_calls"}}, [this] { return queue_.size(); }));
    scraped_.push_back(std::make_unique<ScrapedValue>(
        "tasker_processor_calls_in_flight", "Calls being performed now.", ScrapedValue::Type::kGauge,
        std::map<std::string, std::string>{}, [this] { return counters_.in_flight.load(); }));
  }
  workers_.Start();
  renew_thread_ = std::thread([this] { RenewLoop(); });
}

void Processor::Stop() {
  stopping_ = true;
  workers_.Stop();
  if (renew_thread_.joinable()) renew_thread_.join();
}

int Processor::held() const {
  std::lock_guard<std::mutex> lock(dispatched_mu_);
  return static_cast<int>(held_.size());
}

void Processor::Hold(const v1::StackRunRecord& call, int64_t token) {
  absl::Time until = absl::Now() + config_.lease;
  if (call.has_lease_expires_at()) {
    until = std::min(until, absl::FromUnixMicros(google::protobuf::util::TimeUtil::TimestampToMicroseconds(
                                call.lease_expires_at())));
  }
  std::lock_guard<std::mutex> lock(dispatched_mu_);
  held_[call.id()] = {token, until};
}

void Processor::Release(const std::string& id) {
  std::lock_guard<std::mutex> lock(dispatched_mu_);
  held_.erase(id);
}

void Processor::RenewLoop() {
  while (!stopping_) {
    RenewLeases();
    const absl::Time until = absl::Now() + config_.renew_interval;
    while (!stopping_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  }
}

// One transaction renews every call held here. A call that was lost (taken
// over after its lease lapsed, cancelled) is dropped before it is performed.
void Processor::RenewLeases() {
  v1::RenewLeasesRequest request;
  request.set_owner(config_.owner);
  request.set_lease_ms(absl::ToInt64Milliseconds(config_.lease));
  {
    std::lock_guard<std::mutex> lock(dispatched_mu_);
    for (const auto& [id, held] : held_) {
      auto* lease = request.add_leases();
      lease->set_stack_run_id(id);
      lease->set_fencing_token(held.token);
      if (request.leases_size() == 10000) break;
    }
  }
  if (request.leases_size() == 0) return;
  const absl::Time sent = absl::Now();
  auto renewed = stores_.leases->RenewLeases(request);
  if (!renewed.ok()) {
    LogWarning("call lease renewal failed", {{"error", renewed.status().ToString()}});
    return;
  }
  std::set<std::string> lost(renewed->lost().begin(), renewed->lost().end());
  std::lock_guard<std::mutex> lock(dispatched_mu_);
  for (const auto& lease : request.leases()) {
    auto it = held_.find(lease.stack_run_id());
    if (it == held_.end() || it->second.token != lease.fencing_token()) continue;
    if (lost.count(lease.stack_run_id())) {
      held_.erase(it);  // a call being performed finds it gone before its write
      dispatched_.erase(lease.stack_run_id());
    } else {
      it->second.valid_until = sent + config_.lease;
    }
  }
}

bool Processor::StillHeld(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(dispatched_mu_);
    auto it = held_.find(id);
    if (it == held_.end()) return false;
    // A margin for the time the call takes to reach the provider.
    if (absl::Now() + std::min(absl::Seconds(1), config_.lease / 4) < it->second.valid_until) return true;
  }
  RenewLeases();
  std::lock_guard<std::mutex> lock(dispatched_mu_);
  auto it = held_.find(id);
  return it != held_.end() && absl::Now() < it->second.valid_until;
}

bool Processor::Enqueue(const std::string& id, absl::Time at) {
  return queue_.Push({v1::WORK_KIND_PERFORM_CALL, id}, at);
}

// Lost notifications, expired leases (a dead or frozen processor's calls),
// retries due after a restart. The sweep only claims: the claimed calls are
// performed by the worker threads, side by side.
void Processor::Sweep() {
  for (int i = 0; i < 100 && !workers_.stopping() && held() < std::min(config_.max_held, config_.threads * 2); ++i) {
    v1::ClaimWorkRequest claim_request;
    claim_request.set_kind(v1::WORK_KIND_PERFORM_CALL);
    claim_request.set_owner(config_.owner);
    claim_request.set_lease_ms(absl::ToInt64Milliseconds(config_.lease));
    auto claim = stores_.leases->ClaimWork(claim_request);
    if (!claim.ok() || !claim->has_stack_run()) break;
    v1::StackRunRecord call = claim->stack_run();
    call.set_fencing_token(claim->lease().fencing_token());
    Dispatch(call);
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

bool Processor::Dispatch(const v1::StackRunRecord& call) {
  {
    std::lock_guard<std::mutex> lock(dispatched_mu_);
    if (static_cast<int>(held_.size()) >= config_.max_held && !held_.count(call.id())) return false;
    dispatched_[call.id()] = call;
  }
  Hold(call, call.fencing_token());
  if (queue_.Push({v1::WORK_KIND_PERFORM_CALL, call.id()})) return true;
  // Full (or queued already): not held here; after its lease a sweep claims it.
  {
    std::lock_guard<std::mutex> lock(dispatched_mu_);
    dispatched_.erase(call.id());
  }
  Release(call.id());
  return false;
}

absl::Status Processor::Process(const std::string& id) {
  if (!id.empty()) {
    std::optional<v1::StackRunRecord> held;
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
      if (!StillHeld(id)) {
        // Taken over while it waited here (this processor was frozen or
        // stalled past its lease): the new holder performs it.
        LogInfo("call lost before it was performed", {{"stack_run_id", id}});
        Release(id);
        return absl::OkStatus();
      }
      ++counters_.performed;
      absl::Status status = Perform(*held, held->fencing_token());
      Release(id);
      return status;
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
  Hold(claim.stack_run(), claim.lease().fencing_token());
  absl::Status status = Perform(claim.stack_run(), claim.lease().fencing_token());
  Release(claim.stack_run().id());
  return status;
}

template <typename Fn>
auto Processor::WhileUnreachable(Fn fn, bool* unanswered) -> decltype(fn()) {
  const absl::Time give_up = absl::Now() + config_.write_retry;
  absl::Duration backoff = absl::Milliseconds(20);
  while (true) {
    auto result = fn();
    if (result.ok() || !Transient(result.status()) || absl::Now() + backoff > give_up || stopping_) return result;
    if (unanswered) *unanswered = true;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Milliseconds(500));
  }
}

void Processor::PushStored(const std::string& call_id) {
  auto call = stores_.runs->GetStackRun(call_id);
  if (!call.ok() || (call->status() != v1::STACK_RUN_STATUS_COMPLETED &&
                     call->status() != v1::STACK_RUN_STATUS_FAILED)) {
    return;
  }
  auto parent = stores_.runs->GetStackRun(call->parent_id());
  if (!parent.ok()) return;
  LogInfo("call found complete after an unanswered write; result pushed", {});
  if (parent->status() == v1::STACK_RUN_STATUS_RUNNING && !parent->reply_to().empty()) {
    notifier_->DeliverResult(parent->reply_to(), *call);
  } else if (parent->status() == v1::STACK_RUN_STATUS_READY_TO_RESUME) {
    notifier_->NotifyResume(parent->id());
  }
}

void Processor::PerformTimer(const v1::StackRunRecord& call, v1::CallResponse* response) {
  auto delay = TimerDelayMs(call.method(), call.args_json());
  if (!delay.ok()) {
    response->mutable_error()->set_code("INVALID_ARGUMENT");
    response->mutable_error()->set_message(std::string(delay.status().message()));
    return;
  }
  const absl::Time due =
      absl::FromUnixMicros(google::protobuf::util::TimeUtil::TimestampToMicroseconds(call.created_at())) +
      absl::Milliseconds(*delay);
  const nlohmann::json result = {{"ms", *delay},
                                 {"lateMs", std::max<int64_t>(0, absl::ToInt64Milliseconds(absl::Now() - due))}};
  response->set_result_json(result.dump());
}

absl::Status Processor::Perform(const v1::StackRunRecord& call, int64_t token) {
  // This call's run: on every log line and outgoing call below.
  ScopedLogContext log_context(RunLogContext(call.task_run_id(), call.id()));
  if (LogEnabled(LogLevel::kDebug)) {  // no fields built when off: this is the hot path
    LogDebug("performing call", {{"call_service", call.service()},
                                 {"call_method", call.method()},
                                 {"attempt", std::to_string(call.attempt())}});
  }
  const absl::Time started = absl::Now();

  v1::CallRequest request;
  request.set_service(call.service());
  request.set_method(call.method());
  request.set_args_json(call.args_json());
  // The same key on every attempt of this call: providers may deduplicate.
  request.set_idempotency_key(absl::StrCat(call.task_run_id(), "/", call.id()));
  request.set_deadline_ms(absl::ToInt64Milliseconds(config_.call_timeout));
  request.set_task_run_id(call.task_run_id());
  *request.mutable_caller() = call.caller();
  v1::CallResponse response;
  grpc::Status rpc;
  if (call.service() == kTimerService) {
    // A durable timer: recorded to be claimed when due, so being performed
    // is its firing. Nothing leaves the processor.
    PerformTimer(call, &response);
  } else {
    // A proxy that is restarting is waited for (within the deadline).
    auto context = MakeWaitingContext(config_.call_timeout + absl::Seconds(5));
    rpc = proxy_->Call(context.get(), request, &response);
    HostCallSeconds().With({call.service()}).Observe(metrics::SecondsSince(started));
  }

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
    // What the task and the run's public view see. Transport failures carry
    // gRPC's own text (addresses of Tasker's services, resolver details):
    // logged here, summarised there. The proxy's own refusals (bad args) are
    // meant for the task and pass through.
    const bool transport = rpc.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           rpc.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                           rpc.error_code() == grpc::StatusCode::UNKNOWN ||
                           rpc.error_code() == grpc::StatusCode::INTERNAL;
    if (transport) {
      LogWarning("proxy call failed", {{"error", rpc.error_message()}});
      error.set_message(rpc.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                            ? "the wrapped-service proxy did not answer in time"
                            : "the wrapped-service proxy could not be reached");
    } else {
      error.set_message(rpc.error_message());
    }
    error.set_retryable(rpc.error_code() == grpc::StatusCode::UNAVAILABLE ||
                        rpc.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                        rpc.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }

  // An unreachable proxy is Tasker's own outage, not the provider's answer:
  // such calls are retried without an attempt limit.
  const bool proxy_down = !rpc.ok() && rpc.error_code() == grpc::StatusCode::UNAVAILABLE;
  if (!ok && error.retryable() && (proxy_down || call.attempt() < config_.max_attempts)) {
    // The proxy back from a restart is reconnected to within a second.
    absl::Duration delay = Backoff(config_, call.attempt());
    if (proxy_down) delay = std::min(delay, absl::Milliseconds(500));
    const absl::Time next = absl::Now() + delay;
    v1::RetryCallRequest retry;
    retry.set_stack_run_id(call.id());
    retry.set_fencing_token(token);
    *retry.mutable_error() = error;
    *retry.mutable_next_attempt_at() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(next));
    auto retried = WhileUnreachable([&] { return stores_.calls->RetryCall(retry); });
    if (retried.ok()) {
      ++counters_.retried;
      HostCalls().With({call.service(), call.method(), "retry"}).Increment();
      LogInfo("call retried", {{"call_service", call.service()},
                               {"call_method", call.method()},
                               {"attempt", std::to_string(call.attempt())},
                               {"error_code", error.code()},
                               {"delay_ms", std::to_string(absl::ToInt64Milliseconds(delay))}});
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
              {{"attempt", std::to_string(attempt)},
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
    if (outcome_unknown && completed.status().code() == absl::StatusCode::kFailedPrecondition) {
      // Refused as finished: the try whose answer was lost (storage died
      // after its commit) recorded it. Its push is done now.
      PushStored(call.id());
      return absl::OkStatus();
    }
    if (completed.status().code() == absl::StatusCode::kAborted ||
        completed.status().code() == absl::StatusCode::kFailedPrecondition) {
      // Lease lost or run cancelled: someone else owns it. After a lost
      // answer, FAILED_PRECONDITION may also be our own earlier write.
      LogInfo(outcome_unknown ? "call result already recorded or dropped" : "call result dropped",
              {{"reason", completed.status().ToString()}});
      return absl::OkStatus();
    }
    return completed.status();
  }
  ok ? ++counters_.succeeded : ++counters_.failed;
  HostCalls().With({call.service(), call.method(), ok ? "ok" : "error"}).Increment();
  // Per call: debug when it went well the first time (info would be a line
  // per host call); a failure or a retried success is worth an info line.
  if (const LogLevel level = ok && call.attempt() <= 1 ? LogLevel::kDebug : LogLevel::kInfo; LogEnabled(level)) {
    Log(level, "call completed",
        {{"call_service", call.service()},
         {"call_method", call.method()},
         {"outcome", ok ? "ok" : "error"},
         {"error_code", ok ? "" : error.code()},
         {"attempt", std::to_string(call.attempt())},
         {"ms", std::to_string(absl::ToInt64Milliseconds(absl::Now() - started))}});
  }
  if (!completed->reply_to().empty()) {
    notifier_->DeliverResult(completed->reply_to(), completed->call());
  } else if (completed->parent_ready()) {
    notifier_->NotifyResume(completed->parent_id());
  }
  return absl::OkStatus();
}

}  // namespace tasker::services
