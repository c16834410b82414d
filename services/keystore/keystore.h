// KeystoreCore: credentials by namespace and key, sealed with AES-256-GCM
// before they reach storage (storage only ever sees ciphertext).
//
// Access: namespaces are secret unless marked task-readable. Reading a
// secret namespace, writing, deleting and changing policies need a
// privileged caller (one presenting the keystore's service token, i.e. the
// wrapped-service proxy or an operator). Listing keys never returns values.
#ifndef TASKER_SERVICES_KEYSTORE_KEYSTORE_H_
#define TASKER_SERVICES_KEYSTORE_KEYSTORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/keystore/cipher.h"
#include "proto/tasker/v1/keystore.pb.h"
#include "storage/store.h"

namespace tasker::keystore {

namespace v1 = ::tasker::v1;

struct Caller {
  bool privileged = false;
  // Who asks (audit logs): an identity, and for the proxy the task it acts for.
  std::string identity;
};

class KeystoreCore {
 public:
  // Verifies the master key against the store's check value (written on
  // first use). FAILED_PRECONDITION when the key is not the one the store
  // was created with.
  static absl::StatusOr<std::unique_ptr<KeystoreCore>> Open(storage::KeystoreRowStore* store, Cipher cipher);

  absl::StatusOr<v1::SetKeyResponse> Set(const v1::SetKeyRequest& request, const Caller& caller);
  absl::StatusOr<v1::GetKeyResponse> Get(const v1::GetKeyRequest& request, const Caller& caller);
  absl::StatusOr<bool> Delete(const v1::DeleteKeyRequest& request, const Caller& caller);
  absl::StatusOr<bool> Has(const std::string& ns, const std::string& key);
  absl::StatusOr<std::vector<std::string>> ListKeys(const std::string& ns);
  absl::StatusOr<std::vector<v1::NamespacePolicy>> ListNamespaces();
  absl::StatusOr<v1::NamespacePolicy> SetPolicy(const v1::SetNamespacePolicyRequest& request,
                                                const Caller& caller);
  absl::StatusOr<bool> IsTaskReadable(const std::string& ns);

 private:
  KeystoreCore(storage::KeystoreRowStore* store, Cipher cipher) : store_(store), cipher_(std::move(cipher)) {}
  absl::Status CheckNamespace(const std::string& ns);

  storage::KeystoreRowStore* store_;
  Cipher cipher_;
};

}  // namespace tasker::keystore

#endif  // TASKER_SERVICES_KEYSTORE_KEYSTORE_H_
