// The Keystore gRPC service: a thin adapter onto KeystoreCore. Only the
// roles proxy and admin reach it (the binary's access policy), so every
// caller is privileged; the proxy names the task it acts for in the metadata
// "x-tasker-on-behalf-of" (audit logs).
#ifndef TASKER_SERVICES_KEYSTORE_KEYSTORE_SERVICE_H_
#define TASKER_SERVICES_KEYSTORE_KEYSTORE_SERVICE_H_

#include <string>

#include "services/keystore/keystore.h"
#include "tasker/v1/keystore.grpc.pb.h"

namespace tasker::keystore {

inline constexpr char kOnBehalfOfHeader[] = "x-tasker-on-behalf-of";

class KeystoreService final : public v1::Keystore::Service {
 public:
  explicit KeystoreService(KeystoreCore* core) : core_(core) {}

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
};

}  // namespace tasker::keystore

#endif  // TASKER_SERVICES_KEYSTORE_KEYSTORE_SERVICE_H_
