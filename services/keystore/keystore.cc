#include "services/keystore/keystore.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"

namespace tasker::keystore {
namespace {

constexpr char kReservedPrefix[] = "__tasker";
constexpr char kMetaNamespace[] = "__tasker.meta";
constexpr char kPolicyNamespace[] = "__tasker.policy";
constexpr char kCheckKey[] = "master-key-check";
constexpr char kCheckValue[] = "tasker keystore master key check v1";
constexpr size_t kMaxValueBytes = 1 << 20;

std::string Slot(const std::string& ns, const std::string& key) { return absl::StrCat(ns, "/", key); }

}  // namespace

absl::StatusOr<std::unique_ptr<KeystoreCore>> KeystoreCore::Open(storage::KeystoreRowStore* store, Cipher cipher) {
  auto core = std::unique_ptr<KeystoreCore>(new KeystoreCore(store, std::move(cipher)));
  auto check = store->GetKeystoreEntry(kMetaNamespace, kCheckKey);
  if (check.ok()) {
    auto opened = core->cipher_.Open(check->encrypted_value(), Slot(kMetaNamespace, kCheckKey));
    if (!opened.ok() || *opened != kCheckValue) {
      return absl::FailedPreconditionError(
          "master key: does not match the key this keystore's data was encrypted with");
    }
  } else if (check.status().code() == absl::StatusCode::kNotFound) {
    ASSIGN_OR_RETURN(std::string sealed, core->cipher_.Seal(kCheckValue, Slot(kMetaNamespace, kCheckKey)));
    v1::KeystoreRow row;
    row.set_namespace_(kMetaNamespace);
    row.set_key(kCheckKey);
    row.set_encrypted_value(sealed);
    RETURN_IF_ERROR(store->PutKeystoreEntry(row));
  } else {
    return check.status();
  }
  return core;
}

absl::Status KeystoreCore::CheckNamespace(const std::string& ns) {
  if (absl::StartsWith(ns, kReservedPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat("namespace: names starting with '", kReservedPrefix,
                                                   "' are reserved"));
  }
  return absl::OkStatus();  // the store validates the characters
}

absl::StatusOr<v1::SetKeyResponse> KeystoreCore::Set(const v1::SetKeyRequest& request, const Caller& caller) {
  RETURN_IF_ERROR(CheckNamespace(request.namespace_()));
  if (!caller.privileged) return absl::PermissionDeniedError("setting keys needs the keystore service token");
  if (request.value().size() > kMaxValueBytes) return absl::InvalidArgumentError("value: at most 1 MiB");
  ASSIGN_OR_RETURN(std::string sealed, cipher_.Seal(request.value(), Slot(request.namespace_(), request.key())));
  v1::KeystoreRow row;
  row.set_namespace_(request.namespace_());
  row.set_key(request.key());
  row.set_encrypted_value(sealed);
  RETURN_IF_ERROR(store_->PutKeystoreEntry(row));
  ASSIGN_OR_RETURN(auto stored, store_->GetKeystoreEntry(request.namespace_(), request.key()));
  LogInfo("audit", {{"event", "keystore_write"},
                    {"identity", caller.identity},
                    {"namespace", request.namespace_()},
                    {"key", request.key()}});
  v1::SetKeyResponse out;
  *out.mutable_updated_at() = stored.updated_at();
  return out;
}

absl::StatusOr<v1::GetKeyResponse> KeystoreCore::Get(const v1::GetKeyRequest& request, const Caller& caller) {
  RETURN_IF_ERROR(CheckNamespace(request.namespace_()));
  if (!caller.privileged) {
    ASSIGN_OR_RETURN(bool readable, IsTaskReadable(request.namespace_()));
    if (!readable) {
      return absl::PermissionDeniedError(absl::StrCat("namespace '", request.namespace_(),
                                                      "' is secret: reading it needs the keystore service token"));
    }
  }
  ASSIGN_OR_RETURN(auto row, store_->GetKeystoreEntry(request.namespace_(), request.key()));
  ASSIGN_OR_RETURN(std::string value, cipher_.Open(row.encrypted_value(), Slot(request.namespace_(), request.key())));
  v1::GetKeyResponse out;
  out.set_value(value);
  *out.mutable_updated_at() = row.updated_at();
  return out;
}

absl::StatusOr<bool> KeystoreCore::Delete(const v1::DeleteKeyRequest& request, const Caller& caller) {
  RETURN_IF_ERROR(CheckNamespace(request.namespace_()));
  if (!caller.privileged) return absl::PermissionDeniedError("deleting keys needs the keystore service token");
  ASSIGN_OR_RETURN(bool deleted, store_->DeleteKeystoreEntry(request.namespace_(), request.key()));
  LogInfo("audit", {{"event", "keystore_delete"},
                    {"identity", caller.identity},
                    {"namespace", request.namespace_()},
                    {"key", request.key()}});
  return deleted;
}

absl::StatusOr<bool> KeystoreCore::Has(const std::string& ns, const std::string& key) {
  RETURN_IF_ERROR(CheckNamespace(ns));
  auto row = store_->GetKeystoreEntry(ns, key);
  if (row.ok()) return true;
  if (row.status().code() == absl::StatusCode::kNotFound) return false;
  return row.status();
}

absl::StatusOr<std::vector<std::string>> KeystoreCore::ListKeys(const std::string& ns) {
  if (ns.empty()) return absl::InvalidArgumentError("namespace: must not be empty");
  RETURN_IF_ERROR(CheckNamespace(ns));
  v1::ListKeystoreEntriesRequest request;
  request.set_namespace_(ns);
  ASSIGN_OR_RETURN(auto listed, store_->ListKeystoreEntries(request));
  std::vector<std::string> keys;
  for (const auto& row : listed.rows()) keys.push_back(row.key());
  return keys;
}

absl::StatusOr<std::vector<v1::NamespacePolicy>> KeystoreCore::ListNamespaces() {
  ASSIGN_OR_RETURN(auto listed, store_->ListKeystoreEntries(v1::ListKeystoreEntriesRequest()));
  std::set<std::string> names;
  for (const auto& row : listed.rows()) {
    if (!absl::StartsWith(row.namespace_(), kReservedPrefix)) names.insert(row.namespace_());
    if (row.namespace_() == kPolicyNamespace) names.insert(row.key());
  }
  std::vector<v1::NamespacePolicy> out;
  for (const auto& name : names) {
    v1::NamespacePolicy policy;
    policy.set_namespace_(name);
    ASSIGN_OR_RETURN(bool readable, IsTaskReadable(name));
    policy.set_task_readable(readable);
    out.push_back(policy);
  }
  return out;
}

absl::StatusOr<v1::NamespacePolicy> KeystoreCore::SetPolicy(const v1::SetNamespacePolicyRequest& request,
                                                             const Caller& caller) {
  RETURN_IF_ERROR(CheckNamespace(request.namespace_()));
  if (!caller.privileged) return absl::PermissionDeniedError("changing policies needs the keystore service token");
  ASSIGN_OR_RETURN(std::string sealed, cipher_.Seal(request.task_readable() ? "task-readable" : "secret",
                                                    Slot(kPolicyNamespace, request.namespace_())));
  v1::KeystoreRow row;
  row.set_namespace_(kPolicyNamespace);
  row.set_key(request.namespace_());
  row.set_encrypted_value(sealed);
  RETURN_IF_ERROR(store_->PutKeystoreEntry(row));
  v1::NamespacePolicy out;
  out.set_namespace_(request.namespace_());
  out.set_task_readable(request.task_readable());
  return out;
}

absl::StatusOr<bool> KeystoreCore::IsTaskReadable(const std::string& ns) {
  auto row = store_->GetKeystoreEntry(kPolicyNamespace, ns);
  if (row.status().code() == absl::StatusCode::kNotFound) return false;  // secret by default
  if (!row.ok()) return row.status();
  // Sealed, so a policy row cannot be forged by writing to the database.
  ASSIGN_OR_RETURN(std::string policy, cipher_.Open(row->encrypted_value(), Slot(kPolicyNamespace, ns)));
  return policy == "task-readable";
}

}  // namespace tasker::keystore
