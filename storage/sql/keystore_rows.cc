// SqlStore: Keystore rows (ciphertext only).
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/common/status.h"
#include "storage/sql/sql_store_internal.h"

namespace tasker::storage {


absl::Status SqlStore::ValidateKey(const std::string& ns, const std::string& key) {
  if (!ValidName(ns, 128)) {
    return absl::InvalidArgumentError("namespace: must be 1..128 characters of [A-Za-z0-9_.-]");
  }
  if (!ValidName(key, 256)) {
    return absl::InvalidArgumentError("key: must be 1..256 characters of [A-Za-z0-9_.-]");
  }
  return absl::OkStatus();
}

absl::Status SqlStore::PutKeystoreEntry(const v1::KeystoreRow& row) {
  RETURN_IF_ERROR(ValidateKey(row.namespace_(), row.key()));
  if (row.encrypted_value().empty()) {
    return absl::InvalidArgumentError("row.encrypted_value: must not be empty");
  }
  if (static_cast<int64_t>(row.encrypted_value().size()) > options_.limits.max_keystore_value_bytes + 1024) {
    return absl::InvalidArgumentError("row.encrypted_value: too large");
  }
  return db_->Transact(true, [&](Tx& tx) -> absl::Status {
    return tx.Exec("INSERT INTO keystore (namespace, key, encrypted_value, updated_at) VALUES (?, ?, "
                   "?, ?) ON CONFLICT (namespace, key) DO UPDATE SET encrypted_value = "
                   "excluded.encrypted_value, updated_at = excluded.updated_at",
                   {row.namespace_(), row.key(), Bytes{row.encrypted_value()}, NowMicros()})
        .status();
  });
}

absl::StatusOr<v1::KeystoreRow> SqlStore::GetKeystoreEntry(const std::string& ns, const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(ns, key));
  v1::KeystoreRow out;
  RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT encrypted_value, updated_at FROM keystore WHERE "
                                         "namespace = ? AND key = ?",
                                         {ns, key}));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("key '", ns, "/", key, "' not found"));
    out.set_namespace_(ns);
    out.set_key(key);
    out.set_encrypted_value(rows[0].Str(0));
    *out.mutable_updated_at() = Ts(rows[0].Int(1));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<bool> SqlStore::DeleteKeystoreEntry(const std::string& ns, const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(ns, key));
  bool deleted = false;
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM keystore WHERE namespace = ? AND key = ?", {ns, key}));
    deleted = n > 0;
    return absl::OkStatus();
  }));
  return deleted;
}

absl::StatusOr<v1::ListKeystoreEntriesResponse> SqlStore::ListKeystoreEntries(
    const v1::ListKeystoreEntriesRequest& request) {
  if (!request.namespace_().empty() && !ValidName(request.namespace_(), 128)) {
    return absl::InvalidArgumentError("namespace: must be 1..128 characters of [A-Za-z0-9_.-]");
  }
  v1::ListKeystoreEntriesResponse out;
  RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
    Rows rows;
    if (request.namespace_().empty()) {
      ASSIGN_OR_RETURN(rows, tx.Query("SELECT namespace, key, encrypted_value, updated_at FROM keystore "
                                      "ORDER BY namespace, key"));
    } else {
      ASSIGN_OR_RETURN(rows, tx.Query("SELECT namespace, key, encrypted_value, updated_at FROM keystore "
                                      "WHERE namespace = ? ORDER BY key",
                                      {request.namespace_()}));
    }
    for (const auto& r : rows) {
      auto* row = out.add_rows();
      row->set_namespace_(r.Str(0));
      row->set_key(r.Str(1));
      if (request.include_values()) row->set_encrypted_value(r.Str(2));
      *row->mutable_updated_at() = Ts(r.Int(3));
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace tasker::storage
