// KeystoreCore: credentials by namespace and key, sealed with AES-256-GCM
// before they reach storage (storage only ever sees ciphertext).
//
// Access: namespaces are secret unless marked task-readable. Reading a
// secret namespace, writing, deleting and changing policies need a
// privileged caller (one presenting the keystore's service token, i.e. the
// wrapped-service proxy or an operator). Listing keys never returns values.
//
// Master key rotation: the core opens values sealed under the current key
// or any previous key of its Keyring and always seals with the current one.
// When it opens a store whose check value is sealed under a previous key, it
// records that key's id as "retiring" and reseals the check value under the
// current key; while a key is retiring, opening the store needs it among the
// previous keys. Reencrypt() rewrites every value under the current key and,
// when every value opened, clears the retiring list: from then on the current
// key alone opens the store.
#ifndef TASKER_SERVICES_KEYSTORE_KEYSTORE_H_
#define TASKER_SERVICES_KEYSTORE_KEYSTORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/keystore/cipher.h"
#include "tasker/v1/keystore.pb.h"
#include "storage/store.h"

namespace tasker::keystore {

namespace v1 = ::tasker::v1;

struct Caller {
  bool privileged = false;
  // Who asks (audit logs): an identity, and for the proxy the task it acts for.
  std::string identity;
};

struct ReencryptReport {
  int entries = 0;          // values walked: keys and namespace policies (not the keystore's own metadata)
  int reencrypted = 0;      // rewritten under the current key
  int already_current = 0;  // sealed under the current key already
  int vanished = 0;         // deleted while the walk ran
  // "namespace/key: reason" of each value no known key opens; left untouched.
  std::vector<std::string> unreadable;

  // "re-encrypted 12 of 15 entries; 3 already under the current key[; ...]"
  std::string Summary() const;
};

class KeystoreCore {
 public:
  // Verifies the keyring against the store's check value (written on first
  // use) and the retiring keys (above). FAILED_PRECONDITION, naming the
  // flags and key ids (never key material), when neither the current nor a
  // previous key is the store's, or when a retiring key is missing.
  static absl::StatusOr<std::unique_ptr<KeystoreCore>> Open(storage::KeystoreRowStore* store, Keyring keyring);
  static absl::StatusOr<std::unique_ptr<KeystoreCore>> Open(storage::KeystoreRowStore* store, Cipher cipher) {
    return Open(store, Keyring(std::move(cipher)));
  }

  absl::StatusOr<v1::SetKeyResponse> Set(const v1::SetKeyRequest& request, const Caller& caller);
  absl::StatusOr<v1::GetKeyResponse> Get(const v1::GetKeyRequest& request, const Caller& caller);
  absl::StatusOr<bool> Delete(const v1::DeleteKeyRequest& request, const Caller& caller);
  absl::StatusOr<bool> Has(const std::string& ns, const std::string& key);
  absl::StatusOr<std::vector<std::string>> ListKeys(const std::string& ns);
  absl::StatusOr<std::vector<v1::NamespacePolicy>> ListNamespaces();
  absl::StatusOr<v1::NamespacePolicy> SetPolicy(const v1::SetNamespacePolicyRequest& request,
                                                const Caller& caller);
  absl::StatusOr<bool> IsTaskReadable(const std::string& ns);

  // Rewrites every value not sealed under the current key (previous keys,
  // version 1 values) with the current key, one entry at a time: stopping
  // half way loses nothing, and running it again continues. Values no known
  // key opens are reported and left untouched. An error (storage down)
  // stops the walk; run it again.
  absl::StatusOr<ReencryptReport> Reencrypt();

 private:
  enum class EntryOutcome { kReencrypted, kAlreadyCurrent, kVanished, kUnreadable };

  KeystoreCore(storage::KeystoreRowStore* store, Keyring keyring) : store_(store), keyring_(std::move(keyring)) {}
  absl::Status CheckNamespace(const std::string& ns);
  absl::StatusOr<std::string> OpenRow(const v1::KeystoreRow& row);
  absl::Status PutSealed(const std::string& ns, const std::string& key, absl::string_view plaintext);
  absl::StatusOr<EntryOutcome> ReencryptEntry(const std::string& ns, const std::string& key, std::string* reason);

  storage::KeystoreRowStore* store_;
  Keyring keyring_;
};

}  // namespace tasker::keystore

#endif  // TASKER_SERVICES_KEYSTORE_KEYSTORE_H_
