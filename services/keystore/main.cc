// keystore: credentials by namespace/key, AES-256-GCM encrypted at rest,
// stored through the storage service.
//
//   TASKER_MASTER_KEY=<64 hex> keystore --storage=storage:50051 --listen=0.0.0.0:50053
//   keystore --master_key_file=/secrets/master-key --service_token_file=/secrets/keystore-token
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "keystore/keystore_service.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"
#include "runtime/server/server_flags.h"
#include "storage/client/remote_store.h"

ABSL_FLAG(std::string, storage, "127.0.0.1:50051", "Storage service target.");
ABSL_FLAG(std::string, master_key_file, "",
          "File with the 32-byte master key (raw, hex or base64); default env TASKER_MASTER_KEY.");
ABSL_FLAG(std::string, service_token_file, "",
          "File with the token that unlocks secret namespaces (metadata x-tasker-keystore-token); "
          "default env TASKER_KEYSTORE_SERVICE_TOKEN; empty: every caller may read secrets.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto config = tasker::ServerConfigFromFlags("keystore");
  if (!config.ok()) {
    tasker::LogError("bad flags", {{"error", config.status().ToString()}});
    return 2;
  }
  auto master = tasker::ReadSecret(absl::GetFlag(FLAGS_master_key_file), "TASKER_MASTER_KEY");
  if (!master.ok() || master->empty()) {
    tasker::LogError("no master key: set --master_key_file or TASKER_MASTER_KEY; refusing to store "
                     "credentials unencrypted");
    return 2;
  }
  auto cipher = tasker::keystore::Cipher::FromKeyMaterial(*master);
  if (!cipher.ok()) {
    tasker::LogError("bad master key", {{"error", cipher.status().ToString()}});
    return 2;
  }
  auto service_token = tasker::ReadSecret(absl::GetFlag(FLAGS_service_token_file), "TASKER_KEYSTORE_SERVICE_TOKEN");
  if (!service_token.ok()) {
    tasker::LogError("bad service token", {{"error", service_token.status().ToString()}});
    return 2;
  }
  if (service_token->empty()) tasker::LogWarning("no keystore service token: every caller may read secrets");
  auto channel = tasker::MakeChannel({.target = absl::GetFlag(FLAGS_storage), .auth_token = config->auth_token});
  if (!channel.ok()) {
    tasker::LogError("bad --storage", {{"error", channel.status().ToString()}});
    return 2;
  }
  tasker::storage::RemoteStore store(*channel);
  // Storage may still be starting (Kubernetes starts pods in any order).
  auto core = tasker::keystore::KeystoreCore::Open(&store, *cipher);
  for (int attempt = 0; attempt < 60 && core.status().code() == absl::StatusCode::kUnavailable; ++attempt) {
    absl::SleepFor(absl::Milliseconds(500));
    core = tasker::keystore::KeystoreCore::Open(&store, *cipher);
  }
  if (!core.ok()) {
    tasker::LogError("cannot open keystore", {{"error", core.status().ToString()}});
    return 1;
  }
  tasker::keystore::KeystoreService service(core->get(), *service_token);
  tasker::ServerRunner runner(*config);
  runner.AddService(&service);
  if (auto status = runner.Serve(); !status.ok()) {
    tasker::LogError("start failed", {{"error", status.ToString()}});
    return 1;
  }
  return 0;
}
