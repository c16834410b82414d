// wrapped-service-proxy: performs host calls against external services with
// credentials from the keystore.
//
//   wrapped-service-proxy --storage=storage:50051 --keystore=keystore:50053 \
//     --keystore_token_file=/secrets/keystore-token --listen=0.0.0.0:50054
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "proxy/google.h"
#include "proxy/keystore_provider.h"
#include "proxy/proxy_service.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"
#include "runtime/server/server_flags.h"
#include "storage/client/remote_store.h"

ABSL_FLAG(std::string, storage, "127.0.0.1:50051", "Storage service target (database provider).");
ABSL_FLAG(std::string, keystore, "127.0.0.1:50053", "Keystore service target.");
ABSL_FLAG(std::string, keystore_token_file, "",
          "Keystore service token (default env TASKER_KEYSTORE_SERVICE_TOKEN).");
ABSL_FLAG(std::string, secrets_namespace, "global", "Keystore namespace holding provider credentials.");
ABSL_FLAG(std::string, openai_base_url, "https://api.openai.com", "OpenAI API base URL.");
ABSL_FLAG(std::string, websearch_base_url, "https://api.search.brave.com/res/v1/web", "Search API base URL.");
ABSL_FLAG(std::string, google_directory_base_url, "https://admin.googleapis.com", "Admin Directory API base URL.");
ABSL_FLAG(std::string, google_gmail_base_url, "https://gmail.googleapis.com", "Gmail API base URL.");
ABSL_FLAG(std::string, google_token_url, "", "Overrides the service account key's token_uri.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto config = tasker::ServerConfigFromFlags("wrapped-service-proxy");
  if (!config.ok()) {
    tasker::LogError("bad flags", {{"error", config.status().ToString()}});
    return 2;
  }
  auto keystore_token =
      tasker::ReadSecret(absl::GetFlag(FLAGS_keystore_token_file), "TASKER_KEYSTORE_SERVICE_TOKEN");
  if (!keystore_token.ok()) {
    tasker::LogError("bad keystore token", {{"error", keystore_token.status().ToString()}});
    return 2;
  }
  auto storage_channel =
      tasker::MakeChannel({.target = absl::GetFlag(FLAGS_storage), .auth_token = config->auth_token});
  auto keystore_channel =
      tasker::MakeChannel({.target = absl::GetFlag(FLAGS_keystore), .auth_token = config->auth_token});
  if (!storage_channel.ok() || !keystore_channel.ok()) {
    tasker::LogError("bad --storage or --keystore target");
    return 2;
  }
  tasker::proxy::ProviderConfig providers;
  providers.secrets_namespace = absl::GetFlag(FLAGS_secrets_namespace);
  providers.openai_base_url = absl::GetFlag(FLAGS_openai_base_url);
  providers.websearch_base_url = absl::GetFlag(FLAGS_websearch_base_url);
  providers.google_directory_base_url = absl::GetFlag(FLAGS_google_directory_base_url);
  providers.google_gmail_base_url = absl::GetFlag(FLAGS_google_gmail_base_url);
  providers.google_token_url = absl::GetFlag(FLAGS_google_token_url);

  auto secrets = tasker::proxy::KeystoreSecrets(*keystore_channel, *keystore_token);
  tasker::storage::RemoteStore store(*storage_channel);
  tasker::proxy::GoogleProvider google(secrets.get(), providers);
  tasker::proxy::ProxyCore core;
  core.RegisterUnowned(&google);
  core.Register(tasker::proxy::NewAdminDebugProvider(secrets.get(), &google, providers));
  core.Register(tasker::proxy::NewWebSearchProvider(secrets.get(), providers));
  core.Register(tasker::proxy::NewOpenAiProvider(secrets.get(), providers));
  core.Register(tasker::proxy::NewDatabaseProvider(&store));
  core.Register(tasker::proxy::NewKeystoreProvider(*keystore_channel, *keystore_token));
  tasker::proxy::ProxyService service(&core);
  tasker::ServerRunner runner(*config);
  runner.AddService(&service);
  if (auto status = runner.Serve(); !status.ok()) {
    tasker::LogError("start failed", {{"error", status.ToString()}});
    return 1;
  }
  return 0;
}
