// TaskService (public) and Executor (internal) gRPC services: thin adapters.
#ifndef TASKER_SERVICES_EXECUTOR_TASK_SERVICE_H_
#define TASKER_SERVICES_EXECUTOR_TASK_SERVICE_H_

#include "tasker/v1/executor.grpc.pb.h"
#include "tasker/v1/task_service.grpc.pb.h"
#include "services/executor/task_api.h"

namespace tasker::services {

class TaskService final : public v1::TaskService::Service {
 public:
  explicit TaskService(TaskApi* api) : api_(api) {}
  grpc::Status PublishTask(grpc::ServerContext*, const v1::PublishTaskRequest*, v1::TaskFunction*) override;
  grpc::Status GetTaskFunction(grpc::ServerContext*, const v1::GetTaskFunctionRequest*, v1::TaskFunction*) override;
  grpc::Status ListTaskFunctions(grpc::ServerContext*, const v1::ListTaskFunctionsRequest*,
                                 v1::ListTaskFunctionsResponse*) override;
  grpc::Status SubmitRun(grpc::ServerContext*, const v1::SubmitRunRequest*, v1::SubmitRunResponse*) override;
  grpc::Status GetRun(grpc::ServerContext*, const v1::GetRunRequest*, v1::GetRunResponse*) override;
  grpc::Status ListRuns(grpc::ServerContext*, const v1::ListRunsRequest*, v1::ListRunsResponse*) override;
  grpc::Status CancelRun(grpc::ServerContext*, const v1::CancelRunRequest*, v1::TaskRun*) override;
  grpc::Status WatchRun(grpc::ServerContext*, const v1::WatchRunRequest*, grpc::ServerWriter<v1::RunEvent>*) override;

 private:
  TaskApi* api_;
};

class ExecutorService final : public v1::Executor::Service {
 public:
  explicit ExecutorService(Executor* executor) : executor_(executor) {}
  grpc::Status Notify(grpc::ServerContext*, const v1::NotifyRequest*, v1::NotifyResponse*) override;
  grpc::Status DeliverResults(grpc::ServerContext*, const v1::DeliverResultsRequest*,
                              v1::DeliverResultsResponse*) override;
  grpc::Status GetExecutorStats(grpc::ServerContext*, const v1::GetExecutorStatsRequest*,
                                v1::ExecutorStats*) override;

 private:
  Executor* executor_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_TASK_SERVICE_H_
