#include "services/keystore/keystore.h"

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"

namespace tasker::keystore {
namespace {

constexpr char kReservedPrefix[] = "__tasker";
constexpr char kMetaNamespace[] = "__tasker.meta";
constexpr char kPolicyNamespace[] = "__tasker.policy";
constexpr char kCheckKey[] = "master-key-check";
constexpr char kCheckValue[] = "tasker keystore master key check v1";
constexpr char kRetiringKey[] = "retiring-key-ids";
constexpr size_t kMaxValueBytes = 1 << 20;
constexpr char kCurrentKeyFlags[] = "--master_key_file (or TASKER_MASTER_KEY)";
constexpr char kPreviousKeyFlags[] = "--previous_master_key_files (or TASKER_PREVIOUS_MASTER_KEYS)";

std::string Slot(const std::string& ns, const std::string& key) { return absl::StrCat(ns, "/", key); }

// "id 0123456789abcdef" or "ids a, b" or "none given": key ids only, never keys.
std::string KeyIds(const Keyring& keys, bool previous) {
  std::vector<std::string> ids;
  if (previous) {
    for (const auto& key : keys.previous()) ids.push_back(key.KeyIdHex());
  } else {
    ids.push_back(keys.current().KeyIdHex());
  }
  if (ids.empty()) return "none given";
  return absl::StrCat(ids.size() == 1 ? "id " : "ids ", absl::StrJoin(ids, ", "));
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeystoreCore>> KeystoreCore::Open(storage::KeystoreRowStore* store, Keyring keyring) {
  auto core = std::unique_ptr<KeystoreCore>(new KeystoreCore(store, std::move(keyring)));
  const Keyring& keys = core->keyring_;
  auto check = store->GetKeystoreEntry(kMetaNamespace, kCheckKey);
  if (check.status().code() == absl::StatusCode::kNotFound) {
    RETURN_IF_ERROR(core->PutSealed(kMetaNamespace, kCheckKey, kCheckValue));
    return core;
  }
  if (!check.ok()) return check.status();
  auto opened = keys.Open(check->encrypted_value(), Slot(kMetaNamespace, kCheckKey));
  if (!opened.ok() || opened->plaintext != kCheckValue) {
    auto id = Cipher::KeyIdOf(check->encrypted_value());
    return absl::FailedPreconditionError(absl::StrCat(
        "master key: does not match the key this keystore's data was encrypted with (",
        id ? absl::StrCat("key id ", absl::BytesToHexString(*id)) : "a key from before key ids",
        "); neither the current key (", KeyIds(keys, false), ") nor a previous key (", KeyIds(keys, true),
        ") opens it. Give the store's key with ", kCurrentKeyFlags, ", or, while rotating, as a previous key with ",
        kPreviousKeyFlags));
  }

  // Keys whose values may still be in the store: recorded when the check
  // value was found under a previous key, cleared by Reencrypt().
  std::set<std::string> retiring;
  auto listed = store->GetKeystoreEntry(kMetaNamespace, kRetiringKey);
  if (listed.ok()) {
    auto list = keys.Open(listed->encrypted_value(), Slot(kMetaNamespace, kRetiringKey));
    if (!list.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "master key: the keystore's list of retiring master keys does not open (", list.status().message(),
          "); give every previous master key with ", kPreviousKeyFlags));
    }
    for (absl::string_view id : absl::StrSplit(list->plaintext, ',', absl::SkipEmpty())) retiring.emplace(id);
  } else if (listed.status().code() != absl::StatusCode::kNotFound) {
    return listed.status();
  }
  std::set<std::string> updated = retiring;
  if (opened->key != &keys.current()) updated.insert(opened->key->KeyIdHex());
  updated.erase(keys.current().KeyIdHex());
  std::vector<std::string> missing;
  for (const auto& id : updated) {
    if (keys.Find(absl::HexStringToBytes(id)) == nullptr) missing.push_back(id);
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "master key: values may still be sealed under the previous master key(s) with key id ",
        absl::StrJoin(missing, ", "), "; give them with ", kPreviousKeyFlags,
        " until `keystore --reencrypt` has finished"));
  }
  // The retiring list first: a crash before the check value is resealed
  // leaves the check under the previous key, and the next Open comes here again.
  if (updated != retiring || (!opened->under_current && !updated.empty())) {
    RETURN_IF_ERROR(core->PutSealed(kMetaNamespace, kRetiringKey, absl::StrJoin(updated, ",")));
  }
  if (!opened->under_current) RETURN_IF_ERROR(core->PutSealed(kMetaNamespace, kCheckKey, kCheckValue));
  if (!updated.empty()) {
    LogWarning("master key rotation unfinished: values may be sealed under previous keys; run keystore --reencrypt",
               {{"key_id", keys.current().KeyIdHex()}, {"retiring_key_ids", absl::StrJoin(updated, ",")}});
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
  RETURN_IF_ERROR(PutSealed(request.namespace_(), request.key(), request.value()));
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
  ASSIGN_OR_RETURN(std::string value, OpenRow(row));
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
  RETURN_IF_ERROR(
      PutSealed(kPolicyNamespace, request.namespace_(), request.task_readable() ? "task-readable" : "secret"));
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
  ASSIGN_OR_RETURN(std::string policy, OpenRow(*row));
  return policy == "task-readable";
}

absl::StatusOr<std::string> KeystoreCore::OpenRow(const v1::KeystoreRow& row) {
  ASSIGN_OR_RETURN(auto opened, keyring_.Open(row.encrypted_value(), Slot(row.namespace_(), row.key())));
  return std::move(opened.plaintext);
}

absl::Status KeystoreCore::PutSealed(const std::string& ns, const std::string& key, absl::string_view plaintext) {
  ASSIGN_OR_RETURN(std::string sealed, keyring_.Seal(plaintext, Slot(ns, key)));
  v1::KeystoreRow row;
  row.set_namespace_(ns);
  row.set_key(key);
  row.set_encrypted_value(std::move(sealed));
  return store_->PutKeystoreEntry(row);
}

std::string ReencryptReport::Summary() const {
  std::string out = absl::StrCat("re-encrypted ", reencrypted, " of ", entries, " entries; ", already_current,
                                 " already under the current key");
  if (vanished > 0) absl::StrAppend(&out, "; ", vanished, " deleted meanwhile");
  if (!unreadable.empty()) {
    absl::StrAppend(&out, "; ", unreadable.size(), " open under no known key and were left untouched");
  }
  return out;
}

absl::StatusOr<ReencryptReport> KeystoreCore::Reencrypt() {
  // Names only (storage has no paging): each value is then read and
  // rewritten on its own, so the walk holds one value at a time.
  ASSIGN_OR_RETURN(auto listed, store_->ListKeystoreEntries(v1::ListKeystoreEntriesRequest()));
  ReencryptReport report;
  for (const auto& row : listed.rows()) {
    // Open() keeps the check value under the current key; the retiring list is settled below.
    if (row.namespace_() == kMetaNamespace) continue;
    ++report.entries;
    std::string reason;
    ASSIGN_OR_RETURN(EntryOutcome outcome, ReencryptEntry(row.namespace_(), row.key(), &reason));
    switch (outcome) {
      case EntryOutcome::kReencrypted: ++report.reencrypted; break;
      case EntryOutcome::kAlreadyCurrent: ++report.already_current; break;
      case EntryOutcome::kVanished: ++report.vanished; break;
      case EntryOutcome::kUnreadable:
        report.unreadable.push_back(absl::StrCat(Slot(row.namespace_(), row.key()), ": ", reason));
        break;
    }
  }
  // Every value opens under the current key: the previous keys are no longer
  // needed. Otherwise they stay required, so nothing that might still open
  // under one of them is given up before someone looked at it.
  if (report.unreadable.empty()) RETURN_IF_ERROR(store_->DeleteKeystoreEntry(kMetaNamespace, kRetiringKey).status());
  return report;
}

absl::StatusOr<KeystoreCore::EntryOutcome> KeystoreCore::ReencryptEntry(const std::string& ns, const std::string& key,
                                                                        std::string* reason) {
  auto row = store_->GetKeystoreEntry(ns, key);
  if (row.status().code() == absl::StatusCode::kNotFound) return EntryOutcome::kVanished;
  if (!row.ok()) return row.status();
  auto opened = keyring_.Open(row->encrypted_value(), Slot(ns, key));
  if (!opened.ok()) {
    if (opened.status().code() != absl::StatusCode::kDataLoss) return opened.status();
    *reason = std::string(opened.status().message());  // names key ids at most, never the value
    return EntryOutcome::kUnreadable;
  }
  if (opened->under_current) return EntryOutcome::kAlreadyCurrent;
  // Storage has no compare-and-set: a key set through a keystore between the
  // read above and this write is overwritten with the value read (README:
  // run --reencrypt while no one changes keys).
  RETURN_IF_ERROR(PutSealed(ns, key, opened->plaintext));
  return EntryOutcome::kReencrypted;
}

}  // namespace tasker::keystore
