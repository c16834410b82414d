#include "services/executor/executor.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/common/json.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"

namespace tasker::services {

namespace v1 = ::tasker::v1;

namespace {

absl::StatusOr<google::protobuf::Value> FromJson(const std::string& json) {
  auto value = ParseJsonValue(json, "runtime output");
  if (!value.ok()) return absl::InternalError("runtime produced JSON that does not parse");
  return value;
}

// Writes that lose a race (lease lost: ABORTED; run cancelled or already
// finished: FAILED_PRECONDITION) are normal: another worker owns the item.
bool LostRace(const absl::Status& status) {
  return status.code() == absl::StatusCode::kAborted || status.code() == absl::StatusCode::kFailedPrecondition;
}

}  // namespace

Executor::Executor(ExecutorStores stores, js::WorkerPool* pool, Notifier* notifier, ExecutorConfig config)
    : stores_(stores),
      pool_(pool),
      notifier_(notifier),
      config_(std::move(config)),
      workers_(
          &queue_, config_.threads,
          [this](const WorkItem& item) { return Process(item.kind, item.id); },
          config_.sweep_interval, [this] { Sweep(); }) {}

Executor::~Executor() { Stop(); }

void Executor::Start() { workers_.Start(); }

void Executor::Stop() { workers_.Stop(); }

bool Executor::Enqueue(int kind, const std::string& id) { return queue_.Push({kind, id}); }

void Executor::Sweep() {
  // Claims by kind without an id find work whose notification was lost or
  // whose lease expired; the claimed item is processed right here.
  for (int kind : {v1::WORK_KIND_RESUME_PARENT, v1::WORK_KIND_EXECUTE_ROOT}) {
    for (int i = 0; i < 100 && !workers_.stopping() && counters_.in_flight < config_.threads; ++i) {
      absl::Status status = Process(kind, "");
      if (status.code() == absl::StatusCode::kNotFound) break;  // nothing ready
      if (!status.ok()) break;
    }
  }
}

absl::StatusOr<std::string> Executor::Code(const std::string& identifier, int64_t version) {
  {
    std::lock_guard<std::mutex> lock(code_mu_);
    auto it = code_cache_.find({identifier, version});
    if (it != code_cache_.end()) return it->second;
  }
  v1::GetTaskFunctionRequest request;
  request.set_identifier(identifier);
  request.set_version(version);
  ASSIGN_OR_RETURN(auto function, stores_.functions->GetTaskFunction(request));
  std::lock_guard<std::mutex> lock(code_mu_);
  code_cache_[{identifier, version}] = function.code();
  return function.code();
}

absl::Status Executor::Process(int kind, const std::string& id) {
  v1::ClaimWorkRequest claim_request;
  claim_request.set_kind(static_cast<v1::WorkKind>(kind));
  claim_request.set_owner(config_.owner);
  claim_request.set_lease_ms(absl::ToInt64Milliseconds(config_.lease));
  claim_request.set_stack_run_id(id);
  ASSIGN_OR_RETURN(auto claim, stores_.leases->ClaimWork(claim_request));
  if (!claim.has_stack_run()) return absl::NotFoundError("nothing to claim");
  WorkerThreads::InFlight in_flight(&counters_.in_flight);

  const v1::StackRun& root = claim.stack_run();
  const v1::TaskRun& run = claim.task_run();
  const int64_t token = claim.lease().fencing_token();
  ASSIGN_OR_RETURN(std::string code, Code(run.task_identifier(), run.task_version()));

  absl::StatusOr<js::Outcome> outcome;
  if (root.suspension() == 0) {
    ++counters_.started;
    outcome = pool_->Start(code, ProtoToJson(run.input()), config_.limits);
  } else {
    ++counters_.resumed;
    ASSIGN_OR_RETURN(auto state, stores_.steps->GetResumeState(root.id()));
    std::vector<js::CallResult> results;
    for (const auto& child : state.children()) {
      js::CallResult r;
      r.call_id = child.call_id();
      r.ok = child.status() == v1::STACK_RUN_STATUS_COMPLETED;
      if (r.ok) {
        r.result_json = ProtoToJson(child.result());
      } else {
        r.error_message = child.error().message().empty() ? "the call failed" : child.error().message();
        r.error_code = child.error().code();
        if (child.error().has_details()) r.error_details_json = ProtoToJson(child.error().details());
      }
      results.push_back(std::move(r));
    }
    outcome = pool_->Resume(state.continuation().data(), results, config_.limits);
  }
  if (!outcome.ok()) {
    // The runtime refused its input (a bug, not the task's fault): fail the run.
    v1::FailRunRequest fail;
    fail.set_root_stack_run_id(root.id());
    fail.set_fencing_token(token);
    fail.mutable_error()->set_code("RUNTIME");
    fail.mutable_error()->set_message(std::string(outcome.status().message()));
    return stores_.steps->FailRun(fail).status();
  }

  if (!outcome->logs.empty()) {
    v1::AppendRunLogsRequest logs;
    logs.set_task_run_id(run.id());
    for (const auto& line : outcome->logs) {
      auto* entry = logs.add_logs();
      *entry->mutable_time() =
          google::protobuf::util::TimeUtil::MillisecondsToTimestamp(static_cast<int64_t>(line.time_ms));
      entry->set_level(line.level);
      entry->set_message(line.message);
    }
    if (outcome->logs_truncated) {
      auto* entry = logs.add_logs();
      entry->set_level("warn");
      entry->set_message("[tasker] log output of this step was truncated");
    }
    (void)stores_.steps->AppendRunLogs(logs);
  }

  absl::Status recorded;
  switch (outcome->kind) {
    case js::Outcome::Kind::kCompleted: {
      v1::CompleteRunRequest complete;
      complete.set_root_stack_run_id(root.id());
      complete.set_fencing_token(token);
      ASSIGN_OR_RETURN(*complete.mutable_result(), FromJson(outcome->result_json));
      recorded = stores_.steps->CompleteRun(complete).status();
      if (recorded.ok()) ++counters_.completed;
      break;
    }
    case js::Outcome::Kind::kFailed: {
      v1::FailRunRequest fail;
      fail.set_root_stack_run_id(root.id());
      fail.set_fencing_token(token);
      auto* error = fail.mutable_error();
      error->set_code(js::FailureKindName(outcome->failure));
      error->set_message(outcome->error_name.empty() || outcome->failure != js::FailureKind::kTaskError
                             ? outcome->error_message
                             : absl::StrCat(outcome->error_name, ": ", outcome->error_message));
      error->set_stack(outcome->error_stack);
      recorded = stores_.steps->FailRun(fail).status();
      if (recorded.ok()) ++counters_.failed;
      break;
    }
    case js::Outcome::Kind::kSuspended: {
      v1::SuspendRootRequest suspend;
      suspend.set_root_stack_run_id(root.id());
      suspend.set_fencing_token(token);
      auto* continuation = suspend.mutable_continuation();
      continuation->set_data(outcome->continuation);
      continuation->set_format_version(1);
      continuation->set_v8_version(js::V8Version());
      continuation->set_raw_size(static_cast<int64_t>(outcome->stats.raw_bytes));
      for (const auto& call : outcome->calls) {
        auto* c = suspend.add_calls();
        c->set_call_id(call.call_id);
        c->set_service(call.service);
        c->set_method(call.method);
        ASSIGN_OR_RETURN(*c->mutable_args(), FromJson(call.args_json));
      }
      auto suspended = stores_.steps->SuspendRoot(suspend);
      recorded = suspended.status();
      if (recorded.ok()) {
        ++counters_.suspended;
        std::vector<std::string> ids;
        for (const auto& child : suspended->children()) ids.push_back(child.id());
        notifier_->NotifyCalls(ids);
      }
      break;
    }
  }
  if (LostRace(recorded)) {
    LogInfo("step result dropped", {{"stack_run", root.id()}, {"reason", recorded.ToString()}});
    return absl::OkStatus();
  }
  return recorded;
}

}  // namespace tasker::services
