// keystore: credentials by namespace/key, AES-256-GCM encrypted at rest,
// stored through the storage service.
//
//   TASKER_MASTER_KEY=<64 hex> keystore --storage=storage:50051 --listen=0.0.0.0:50053
//   keystore --master_key_file=/secrets/master-key --credentials_file=/secrets/credentials
#include "absl/flags/flag.h"
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

int main(int argc, char** argv) {
  return tasker::services::ServiceMain(
      argc, argv, "keystore", [](tasker::services::ServiceContext& ctx) -> absl::Status {
        ASSIGN_OR_RETURN(std::string master,
                         tasker::ReadSecret(absl::GetFlag(FLAGS_master_key_file), "TASKER_MASTER_KEY"));
        if (master.empty()) {
          return absl::InvalidArgumentError(
              "no master key: set --master_key_file or TASKER_MASTER_KEY; refusing to store "
              "credentials unencrypted");
        }
        ASSIGN_OR_RETURN(auto cipher, tasker::keystore::Cipher::FromKeyMaterial(master));
        ASSIGN_OR_RETURN(auto channel, ctx.Channel(absl::GetFlag(FLAGS_storage), "--storage"));
        ctx.DependsOn("storage", channel);
        auto* store = ctx.Own(std::make_unique<tasker::storage::RemoteStore>(channel));
        // Storage may still be starting (Kubernetes starts pods in any order).
        auto core = tasker::keystore::KeystoreCore::Open(store, cipher);
        for (int attempt = 0; attempt < 60 && core.status().code() == absl::StatusCode::kUnavailable; ++attempt) {
          absl::SleepFor(absl::Milliseconds(500));
          core = tasker::keystore::KeystoreCore::Open(store, cipher);
        }
        if (!core.ok()) return tasker::Annotate(core.status(), "cannot open keystore");
        auto* owned = ctx.Own(std::move(*core));
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
