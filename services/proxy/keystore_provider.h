// The `keystore` provider: task code reads keys in the namespaces its
// function was granted (keystore:read:<ns>) and writes only where granted
// (keystore:write:<ns>), and only in namespaces the operator marked
// task-readable. The namespace holding the providers' own credentials is out
// of reach whatever the grants (even "*").
#ifndef TASKER_SERVICES_PROXY_KEYSTORE_PROVIDER_H_
#define TASKER_SERVICES_PROXY_KEYSTORE_PROVIDER_H_

#include <memory>

#include "grpcpp/grpcpp.h"
#include "services/proxy/provider.h"

namespace tasker::proxy {

std::unique_ptr<Provider> NewKeystoreProvider(std::shared_ptr<grpc::Channel> keystore,
                                              std::string secrets_namespace);

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_KEYSTORE_PROVIDER_H_
