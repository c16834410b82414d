// The Keystore gRPC service: a thin adapter onto KeystoreCore. A caller is
// privileged when it presents the service token in the metadata
// "x-tasker-keystore-token".
#ifndef TASKER_SERVICES_KEYSTORE_KEYSTORE_SERVICE_H_
#define TASKER_SERVICES_KEYSTORE_KEYSTORE_SERVICE_H_

#include <string>

#include "services/keystore/keystore.h"
#include "proto/tasker/v1/keystore.grpc.pb.h"

namespace tasker::keystore {

inline constexpr char kServiceTokenHeader[] = "x-tasker-keystore-token";

class KeystoreService final : public v1::Keystore::Service {
 public:
  // An empty `service_token` makes every caller privileged (development).
  KeystoreService(KeystoreCore* core, std::string service_token)
      : core_(core), service_token_(std::move(service_token)) {}

  grpc::Status SetKey(grpc::ServerContext*, const v1::SetKeyRequest*, v1::SetKeyResponse*) override;
  grpc::Status GetKey(grpc::ServerContext*, const v1::GetKeyRequest*, v1::GetKeyResponse*) override;
  grpc::Status DeleteKey(grpc::ServerContext*, const v1::DeleteKeyRequest*, v1::DeleteKeyResponse*) override;
  grpc::Status HasKey(grpc::ServerContext*, const v1::HasKeyRequest*, v1::HasKeyResponse*) override;
  grpc::Status ListKeys(grpc::ServerContext*, const v1::ListKeysRequest*, v1::ListKeysResponse*) override;
  grpc::Status ListNamespaces(grpc::ServerContext*, const v1::ListNamespacesRequest*,
                              v1::ListNamespacesResponse*) override;
  grpc::Status SetNamespacePolicy(grpc::ServerContext*, const v1::SetNamespacePolicyRequest*,
                                  v1::NamespacePolicy*) override;

 private:
  Caller CallerOf(grpc::ServerContext* context) const;

  KeystoreCore* core_;
  std::string service_token_;
};

}  // namespace tasker::keystore

#endif  // TASKER_SERVICES_KEYSTORE_KEYSTORE_SERVICE_H_
