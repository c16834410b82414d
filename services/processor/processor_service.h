// The StackProcessor gRPC service: a thin adapter onto Processor.
#ifndef TASKER_SERVICES_PROCESSOR_PROCESSOR_SERVICE_H_
#define TASKER_SERVICES_PROCESSOR_PROCESSOR_SERVICE_H_

#include <google/protobuf/util/time_util.h>

#include "runtime/common/status.h"
#include "tasker/v1/stack_processor.grpc.pb.h"
#include "services/processor/processor.h"

namespace tasker::services {

class ProcessorService final : public v1::StackProcessor::Service {
 public:
  explicit ProcessorService(Processor* processor) : processor_(processor) {}
  grpc::Status NotifyCalls(grpc::ServerContext*, const v1::NotifyCallsRequest* request,
                           v1::NotifyCallsResponse* response) override {
    for (int i = 0; i < request->calls_size(); ++i) {
      const auto& call = request->calls(i);
      if (call.id().empty() || call.fencing_token() <= 0 || call.lease_owner().empty()) {
        return ToGrpcStatus(absl::InvalidArgumentError(
            "calls[" + std::to_string(i) + "]: id, fencing_token and lease_owner are required"));
      }
    }
    for (int i = 0; i < request->scheduled_size(); ++i) {
      if (request->scheduled(i).stack_run_id().empty() || !request->scheduled(i).has_at()) {
        return ToGrpcStatus(absl::InvalidArgumentError(
            "scheduled[" + std::to_string(i) + "]: stack_run_id and at are required"));
      }
    }
    int accepted = 0;
    for (const auto& s : request->scheduled()) {
      accepted += processor_->Enqueue(
                      s.stack_run_id(),
                      absl::FromUnixMicros(google::protobuf::util::TimeUtil::TimestampToMicroseconds(s.at())))
                      ? 1
                      : 0;
    }
    for (const auto& id : request->stack_run_ids()) accepted += processor_->Enqueue(id) ? 1 : 0;
    for (const auto& call : request->calls()) accepted += processor_->Dispatch(call) ? 1 : 0;
    response->set_accepted(accepted);
    return grpc::Status::OK;
  }
  grpc::Status GetProcessorStats(grpc::ServerContext*, const v1::GetProcessorStatsRequest*,
                                 v1::ProcessorStats* out) override {
    const auto& c = processor_->counters();
    out->set_performed(c.performed);
    out->set_succeeded(c.succeeded);
    out->set_failed(c.failed);
    out->set_retried(c.retried);
    out->set_in_flight(c.in_flight);
    return grpc::Status::OK;
  }

 private:
  Processor* processor_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_PROCESSOR_PROCESSOR_SERVICE_H_
