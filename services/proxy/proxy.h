// ProxyCore: the registry of providers behind WrappedServiceProxy.Call.
#ifndef TASKER_SERVICES_PROXY_PROXY_H_
#define TASKER_SERVICES_PROXY_PROXY_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tasker/v1/proxy.pb.h"
#include "services/proxy/provider.h"

namespace tasker::proxy {

namespace v1 = ::tasker::v1;

class ProxyCore {
 public:
  void Register(std::unique_ptr<Provider> provider);
  void RegisterUnowned(Provider* provider);

  // INVALID_ARGUMENT for an unknown service or method (naming the supported
  // ones) or malformed args; provider failures are in the response's error.
  absl::StatusOr<v1::CallResponse> Call(const v1::CallRequest& request);
  v1::ListServicesResponse ListServices() const;
  // Whether `service` is registered and has `method` (metrics label only
  // known names: task code may name anything).
  bool HasMethod(const std::string& service, const std::string& method) const;

 private:
  std::vector<std::unique_ptr<Provider>> owned_;
  std::map<std::string, Provider*> providers_;
};

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_PROXY_H_
