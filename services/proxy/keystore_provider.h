// The `keystore` provider: task code reads and writes keys, but only in
// namespaces marked task-readable (secret namespaces stay invisible).
#ifndef TASKER_SERVICES_PROXY_KEYSTORE_PROVIDER_H_
#define TASKER_SERVICES_PROXY_KEYSTORE_PROVIDER_H_

#include <memory>

#include "grpcpp/grpcpp.h"
#include "services/proxy/provider.h"

namespace tasker::proxy {

std::unique_ptr<Provider> NewKeystoreProvider(std::shared_ptr<grpc::Channel> keystore, std::string service_token);

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_KEYSTORE_PROVIDER_H_
