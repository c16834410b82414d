// keystore: credentials by namespace/key, AES-256-GCM encrypted at rest,
// stored through the storage service.
//
//   TASKER_MASTER_KEY=<64 hex> keystore --storage=storage:50051 --listen=0.0.0.0:50053
//   keystore --master_key_file=/secrets/master-key --credentials_file=/secrets/credentials
//
// Rotating the master key (services/README.md, "Keystore"):
//   keystore --master_key_file=/secrets/new-key --previous_master_key_files=/secrets/old-key ...
//   keystore --reencrypt --storage=... --master_key_file=/secrets/new-key --previous_master_key_files=/secrets/old-key
#include <cstdlib>
#include <iostream>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"
#include "runtime/server/server_flags.h"
#include "services/common/service_main.h"
#include "services/keystore/keystore_service.h"
#include "storage/remote/remote_store.h"

ABSL_FLAG(std::string, storage, "127.0.0.1:50051", "Storage service target.");
ABSL_FLAG(std::string, master_key_file, "",
          "File with the 32-byte master key (raw, hex or base64); default env TASKER_MASTER_KEY.");
ABSL_FLAG(std::string, previous_master_key_files, "",
          "Comma-separated files, each with a previous master key still being rotated out (values sealed under "
          "it open; new values are sealed under the current key); default env TASKER_PREVIOUS_MASTER_KEYS "
          "(comma-separated hex or base64 keys).");
ABSL_FLAG(bool, reencrypt, false,
          "Re-encrypt every value sealed under a previous master key with the current one, print a summary and "
          "exit (0: every value is under the current key) instead of serving.");

namespace tasker::keystore {
namespace {

absl::StatusOr<Keyring> KeyringFromFlags() {
  ASSIGN_OR_RETURN(std::string master, ReadSecret(absl::GetFlag(FLAGS_master_key_file), "TASKER_MASTER_KEY"));
  if (master.empty()) {
    return absl::InvalidArgumentError(
        "no master key: set --master_key_file or TASKER_MASTER_KEY; refusing to store credentials unencrypted");
  }
  ASSIGN_OR_RETURN(auto current, Cipher::FromKeyMaterial(master));
  // Key material from the environment, or the files' contents: the error
  // messages below name the flag and the position, never the material.
  std::vector<std::string> materials;
  const std::string files = absl::GetFlag(FLAGS_previous_master_key_files);
  std::string source = "--previous_master_key_files";
  if (!files.empty()) {
    for (absl::string_view path : absl::StrSplit(files, ',', absl::SkipEmpty())) {
      ASSIGN_OR_RETURN(std::string material, ReadSecret(std::string(path), nullptr));
      materials.push_back(std::move(material));
    }
  } else if (const char* env = std::getenv("TASKER_PREVIOUS_MASTER_KEYS")) {
    source = "TASKER_PREVIOUS_MASTER_KEYS";
    for (absl::string_view material : absl::StrSplit(env, ',', absl::SkipWhitespace())) {
      materials.emplace_back(material);
    }
  }
  std::vector<Cipher> previous;
  for (size_t i = 0; i < materials.size(); ++i) {
    auto key = Cipher::FromKeyMaterial(materials[i]);
    if (!key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source, "[", i, "]: ", key.status().message()));
    }
    previous.push_back(std::move(*key));
  }
  return Keyring(std::move(current), std::move(previous));
}

absl::StatusOr<std::unique_ptr<KeystoreCore>> OpenCore(storage::KeystoreRowStore* store, const Keyring& keyring) {
  // Storage may still be starting (Kubernetes starts pods in any order).
  auto core = KeystoreCore::Open(store, keyring);
  for (int attempt = 0; attempt < 60 && core.status().code() == absl::StatusCode::kUnavailable; ++attempt) {
    absl::SleepFor(absl::Milliseconds(500));
    core = KeystoreCore::Open(store, keyring);
  }
  if (!core.ok()) return Annotate(core.status(), "cannot open keystore");
  return core;
}

// keystore --reencrypt: one pass over the store, no server.
absl::Status Reencrypt(services::ServiceContext& ctx, const Keyring& keyring) {
  ASSIGN_OR_RETURN(auto channel, ctx.Channel(absl::GetFlag(FLAGS_storage), "--storage"));
  storage::RemoteStore store(channel);
  ASSIGN_OR_RETURN(auto core, OpenCore(&store, keyring));
  auto report = core->Reencrypt();
  if (!report.ok()) {
    return Annotate(report.status(), "re-encryption stopped (entries rewritten so far stay so; run it again)");
  }
  // Names and key ids only: values never reach the output.
  for (const auto& entry : report->unreadable) std::cout << "left untouched: " << entry << "\n";
  std::cout << report->Summary() << std::endl;
  LogInfo("re-encryption finished", {{"key_id", keyring.current().KeyIdHex()}, {"summary", report->Summary()}});
  ctx.FinishWithoutServing(report->unreadable.empty() ? 0 : 1);
  return absl::OkStatus();
}

}  // namespace
}  // namespace tasker::keystore

int main(int argc, char** argv) {
  return tasker::services::ServiceMain(
      argc, argv, "keystore", [](tasker::services::ServiceContext& ctx) -> absl::Status {
        ASSIGN_OR_RETURN(auto keyring, tasker::keystore::KeyringFromFlags());
        if (absl::GetFlag(FLAGS_reencrypt)) return tasker::keystore::Reencrypt(ctx, keyring);
        ASSIGN_OR_RETURN(auto channel, ctx.Channel(absl::GetFlag(FLAGS_storage), "--storage"));
        // Readiness: the keystore's rows (ciphertext) live in storage.
        ctx.DependsOn("storage", channel, tasker::v1::Storage::service_full_name());
        auto* store = ctx.Own(std::make_unique<tasker::storage::RemoteStore>(channel));
        ASSIGN_OR_RETURN(auto core, tasker::keystore::OpenCore(store, keyring));
        tasker::LogInfo("master key", {{"key_id", keyring.current().KeyIdHex()},
                                       {"previous_keys", absl::StrCat(keyring.previous().size())}});
        auto* owned = ctx.Own(std::move(core));
        // The proxy (provider credentials; task keystore calls it has checked
        // against the task's grants) and operators; policies and deletes are
        // for operators only.
        using tasker::Role;
        const std::string name = tasker::v1::Keystore::service_full_name();
        ctx.AddService(ctx.Own(std::make_unique<tasker::keystore::KeystoreService>(owned)), name,
                       {Role::kProxy, Role::kAdmin});
        ctx.RestrictMethod(name, "SetNamespacePolicy", {Role::kAdmin});
        ctx.RestrictMethod(name, "DeleteKey", {Role::kAdmin});
        return absl::OkStatus();
      });
}
