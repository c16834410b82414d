// WrappedServiceProxy gRPC service: a thin adapter onto ProxyCore.
#ifndef TASKER_SERVICES_PROXY_PROXY_SERVICE_H_
#define TASKER_SERVICES_PROXY_PROXY_SERVICE_H_

#include "tasker/v1/proxy.grpc.pb.h"
#include "services/proxy/proxy.h"

namespace tasker::proxy {

class ProxyService final : public v1::WrappedServiceProxy::Service {
 public:
  explicit ProxyService(ProxyCore* core) : core_(core) {}
  grpc::Status Call(grpc::ServerContext*, const v1::CallRequest* request, v1::CallResponse* response) override;
  grpc::Status ListServices(grpc::ServerContext*, const v1::ListServicesRequest*,
                            v1::ListServicesResponse* response) override;

 private:
  ProxyCore* core_;
};

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_PROXY_SERVICE_H_
