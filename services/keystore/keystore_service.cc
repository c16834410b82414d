#include "services/keystore/keystore_service.h"

#include "absl/strings/str_cat.h"
#include "runtime/common/status.h"
#include "runtime/server/auth.h"

namespace tasker::keystore {

using grpc::ServerContext;
using grpc::Status;

Caller KeystoreService::CallerOf(ServerContext* context) const {
  std::string identity = tasker::CallerOf(*context);
  auto on_behalf = context->client_metadata().find(kOnBehalfOfHeader);
  if (on_behalf != context->client_metadata().end()) {
    absl::StrAppend(&identity, " for ", absl::string_view(on_behalf->second.data(), on_behalf->second.size()));
  }
  return Caller{true, identity};
}

Status KeystoreService::SetKey(ServerContext* c, const v1::SetKeyRequest* r, v1::SetKeyResponse* out) {
  return ReplyWith(core_->Set(*r, CallerOf(c)), out);
}
Status KeystoreService::GetKey(ServerContext* c, const v1::GetKeyRequest* r, v1::GetKeyResponse* out) {
  return ReplyWith(core_->Get(*r, CallerOf(c)), out);
}
Status KeystoreService::DeleteKey(ServerContext* c, const v1::DeleteKeyRequest* r, v1::DeleteKeyResponse* out) {
  auto deleted = core_->Delete(*r, CallerOf(c));
  if (deleted.ok()) out->set_deleted(*deleted);
  return ToGrpcStatus(deleted.status());
}
Status KeystoreService::HasKey(ServerContext*, const v1::HasKeyRequest* r, v1::HasKeyResponse* out) {
  auto exists = core_->Has(r->namespace_(), r->key());
  if (exists.ok()) out->set_exists(*exists);
  return ToGrpcStatus(exists.status());
}
Status KeystoreService::ListKeys(ServerContext*, const v1::ListKeysRequest* r, v1::ListKeysResponse* out) {
  auto keys = core_->ListKeys(r->namespace_());
  if (keys.ok()) out->mutable_keys()->Assign(keys->begin(), keys->end());
  return ToGrpcStatus(keys.status());
}
Status KeystoreService::ListNamespaces(ServerContext*, const v1::ListNamespacesRequest*,
                                       v1::ListNamespacesResponse* out) {
  auto namespaces = core_->ListNamespaces();
  if (namespaces.ok()) out->mutable_namespaces()->Assign(namespaces->begin(), namespaces->end());
  return ToGrpcStatus(namespaces.status());
}
Status KeystoreService::SetNamespacePolicy(ServerContext* c, const v1::SetNamespacePolicyRequest* r,
                                           v1::NamespacePolicy* out) {
  return ReplyWith(core_->SetPolicy(*r, CallerOf(c)), out);
}

}  // namespace tasker::keystore
