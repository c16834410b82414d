#include "services/proxy/proxy_service.h"

#include "runtime/common/status.h"

namespace tasker::proxy {

grpc::Status ProxyService::Call(grpc::ServerContext*, const v1::CallRequest* request, v1::CallResponse* response) {
  return ReplyWith(core_->Call(*request), response);
}

grpc::Status ProxyService::ListServices(grpc::ServerContext*, const v1::ListServicesRequest*,
                                        v1::ListServicesResponse* response) {
  *response = core_->ListServices();
  return grpc::Status::OK;
}

}  // namespace tasker::proxy
