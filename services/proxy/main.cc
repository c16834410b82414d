// wrapped-service-proxy: performs host calls against external services with
// credentials from the keystore.
//
//   wrapped-service-proxy --storage=storage:50051 --keystore=keystore:50053 \
//     --credentials_file=/secrets/credentials --token_file=/secrets/proxy-token --listen=0.0.0.0:50054
#include "absl/flags/flag.h"
#include "runtime/common/status.h"
#include "runtime/server/server_flags.h"
#include "services/common/service_main.h"
#include "services/proxy/google.h"
#include "services/proxy/keystore_provider.h"
#include "services/proxy/proxy_service.h"
#include "storage/remote/remote_store.h"

ABSL_FLAG(std::string, storage, "127.0.0.1:50051", "Storage service target (database provider).");
ABSL_FLAG(std::string, keystore, "127.0.0.1:50053", "Keystore service target.");
ABSL_FLAG(std::string, secrets_namespace, "global", "Keystore namespace holding provider credentials.");
ABSL_FLAG(std::string, openai_base_url, "https://api.openai.com", "OpenAI API base URL.");
ABSL_FLAG(std::string, websearch_base_url, "https://api.search.brave.com/res/v1/web", "Search API base URL.");
ABSL_FLAG(std::string, google_directory_base_url, "https://admin.googleapis.com", "Admin Directory API base URL.");
ABSL_FLAG(std::string, google_gmail_base_url, "https://gmail.googleapis.com", "Gmail API base URL.");
ABSL_FLAG(std::string, google_token_url, "", "Overrides the service account key's token_uri.");

int main(int argc, char** argv) {
  namespace proxy = tasker::proxy;
  return tasker::services::ServiceMain(
      argc, argv, "wrapped-service-proxy", [](tasker::services::ServiceContext& ctx) -> absl::Status {
        ASSIGN_OR_RETURN(auto storage_channel, ctx.Channel(absl::GetFlag(FLAGS_storage), "--storage"));
        ASSIGN_OR_RETURN(auto keystore_channel, ctx.Channel(absl::GetFlag(FLAGS_keystore), "--keystore"));
        ctx.DependsOn("storage", storage_channel);
        ctx.DependsOn("keystore", keystore_channel);
        proxy::ProviderConfig providers;
        providers.secrets_namespace = absl::GetFlag(FLAGS_secrets_namespace);
        providers.openai_base_url = absl::GetFlag(FLAGS_openai_base_url);
        providers.websearch_base_url = absl::GetFlag(FLAGS_websearch_base_url);
        providers.google_directory_base_url = absl::GetFlag(FLAGS_google_directory_base_url);
        providers.google_gmail_base_url = absl::GetFlag(FLAGS_google_gmail_base_url);
        providers.google_token_url = absl::GetFlag(FLAGS_google_token_url);

        auto* secrets = ctx.Own(proxy::KeystoreSecrets(keystore_channel));
        auto* store = ctx.Own(std::make_unique<tasker::storage::RemoteStore>(storage_channel));
        auto* google = ctx.Own(std::make_unique<proxy::GoogleProvider>(secrets, providers));
        auto* core = ctx.Own(std::make_unique<proxy::ProxyCore>());
        core->RegisterUnowned(google);
        core->Register(proxy::NewAdminDebugProvider(secrets, google, providers));
        core->Register(proxy::NewWebSearchProvider(secrets, providers));
        core->Register(proxy::NewOpenAiProvider(secrets, providers));
        core->Register(proxy::NewDatabaseProvider(store, store));
        core->Register(proxy::NewKeystoreProvider(keystore_channel, providers.secrets_namespace));
        using tasker::Role;
        const std::string name = tasker::v1::WrappedServiceProxy::service_full_name();
        ctx.AddService(ctx.Own(std::make_unique<proxy::ProxyService>(core)), name, {Role::kProcessor});
        ctx.RestrictMethod(name, "ListServices", {Role::kProcessor, Role::kAdmin});
        return absl::OkStatus();
      });
}
