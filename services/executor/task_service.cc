#include "services/executor/task_service.h"

#include "absl/strings/str_cat.h"

#include "runtime/common/status.h"
#include "runtime/common/trace.h"
#include "runtime/server/auth.h"

namespace tasker::services {

using grpc::ServerContext;
using grpc::Status;

Status TaskService::PublishTask(ServerContext* context, const v1::PublishTaskRequest* r, v1::TaskFunction* out) {
  std::string warning;
  Status status = ReplyWith(api_->Publish(*r, CallerOf(*context), &warning), out);
  if (!warning.empty()) context->AddTrailingMetadata("tasker-warning", warning);
  return status;
}
Status TaskService::GetTaskFunction(ServerContext*, const v1::GetTaskFunctionRequest* r, v1::TaskFunction* out) {
  return ReplyWith(api_->GetTaskFunction(*r), out);
}
Status TaskService::ListTaskFunctions(ServerContext*, const v1::ListTaskFunctionsRequest* r,
                                      v1::ListTaskFunctionsResponse* out) {
  return ReplyWith(api_->ListTaskFunctions(*r), out);
}
Status TaskService::SubmitRun(ServerContext* context, const v1::SubmitRunRequest* r, v1::SubmitRunResponse* out) {
  auto submitted = api_->Submit(*r);
  if (submitted.ok()) {
    // The run's own trace (docs/observability.md), for a client that wants
    // to follow the run in the services' logs under it.
    context->AddInitialMetadata(kTraceResponseHeader,
                                FormatTraceParent(TraceIdForRun(submitted->run().id()), NewSpanId()));
  }
  return ReplyWith(std::move(submitted), out);
}
Status TaskService::GetRun(ServerContext*, const v1::GetRunRequest* r, v1::GetRunResponse* out) {
  return ReplyWith(api_->GetRun(*r), out);
}
Status TaskService::ListRuns(ServerContext*, const v1::ListRunsRequest* r, v1::ListRunsResponse* out) {
  return ReplyWith(api_->ListRuns(*r), out);
}
Status TaskService::CancelRun(ServerContext* context, const v1::CancelRunRequest* r, v1::TaskRun* out) {
  return ReplyWith(api_->Cancel(*r, CallerOf(*context)), out);
}
Status TaskService::WatchRun(ServerContext* context, const v1::WatchRunRequest* r,
                             grpc::ServerWriter<v1::RunEvent>* writer) {
  return ToGrpcStatus(api_->Watch(
      *r, [writer](const v1::RunEvent& event) { return writer->Write(event); },
      [context] { return context->IsCancelled(); }));
}

Status ExecutorService::Notify(ServerContext*, const v1::NotifyRequest* r, v1::NotifyResponse* out) {
  if (r->kind() != v1::WORK_KIND_EXECUTE_ROOT && r->kind() != v1::WORK_KIND_RESUME_PARENT) {
    return ToGrpcStatus(absl::InvalidArgumentError("kind: must be WORK_KIND_EXECUTE_ROOT or WORK_KIND_RESUME_PARENT"));
  }
  int accepted = 0;
  for (const auto& id : r->stack_run_ids()) accepted += executor_->Enqueue(r->kind(), id) ? 1 : 0;
  out->set_accepted(accepted);
  return Status::OK;
}

Status ExecutorService::DeliverResults(ServerContext*, const v1::DeliverResultsRequest* r,
                                       v1::DeliverResultsResponse* out) {
  for (int i = 0; i < r->calls_size(); ++i) {
    if (r->calls(i).id().empty() || r->calls(i).parent_id().empty() || r->calls(i).call_id().empty()) {
      return ToGrpcStatus(
          absl::InvalidArgumentError(absl::StrCat("calls[", i, "]: id, parent_id and call_id are required")));
    }
  }
  out->set_accepted(executor_->Deliver({r->calls().begin(), r->calls().end()}));
  return Status::OK;
}

Status ExecutorService::GetExecutorStats(ServerContext*, const v1::GetExecutorStatsRequest*, v1::ExecutorStats* out) {
  const auto& c = executor_->counters();
  out->set_started(c.started);
  out->set_resumed(c.resumed);
  out->set_suspended(c.suspended);
  out->set_completed(c.completed);
  out->set_failed(c.failed);
  out->set_in_flight(c.in_flight);
  out->set_warm(executor_->warm());
  out->set_evicted(c.evicted);
  out->set_rebuilt(c.rebuilt);
  out->set_checkpoints(c.checkpoints);
  out->set_warm_bytes(executor_->warm_bytes());
  auto [p50, p99] = executor_->RebuildPercentiles();
  out->set_rebuild_p50_ms(p50);
  out->set_rebuild_p99_ms(p99);
  return Status::OK;
}

}  // namespace tasker::services
