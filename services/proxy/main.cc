// wrapped-service-proxy: performs host calls against external services with
// credentials from the keystore, and against the operator's application
// database (never Tasker's own store: the proxy does not talk to storage),
// a task's fetch() (the http provider), and the HTTP services an operator
// declares in --services_config.
//
//   TASKER_APP_DATABASE_URL=postgres://app:PASSWORD@appdb:5432/app wrapped-service-proxy \
//     --keystore=keystore:50053 --credentials_file=/secrets/credentials --token_file=/secrets/proxy-token \
//     --listen=0.0.0.0:50054
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "tasker/v1/keystore.grpc.pb.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"
#include "runtime/server/server_flags.h"
#include "services/common/service_main.h"
#include "services/proxy/app_database.h"
#include "services/proxy/google.h"
#include "services/proxy/http_provider.h"
#include "services/proxy/keystore_provider.h"
#include "services/proxy/proxy_service.h"
#include "services/proxy/services_config.h"

ABSL_FLAG(std::string, app_database_url, "",
          "The application database the `database` provider serves: sqlite:///abs/path.db, sqlite::memory: or "
          "postgres://user@host:port/db (default: env TASKER_APP_DATABASE_URL; unset: every database call answers "
          "NOT_CONFIGURED). Never Tasker's own store: a database holding Tasker's tables is refused. Prefer the "
          "environment for URLs holding a password.");
ABSL_FLAG(std::string, keystore, "127.0.0.1:50053", "Keystore service target.");
ABSL_FLAG(std::string, secrets_namespace, "global", "Keystore namespace holding provider credentials.");
ABSL_FLAG(std::string, openai_base_url, "https://api.openai.com", "OpenAI API base URL.");
ABSL_FLAG(std::string, websearch_base_url, "https://api.search.brave.com/res/v1/web",
          "Search API base URL (with WEBSEARCH_API_KEY in the keystore).");
ABSL_FLAG(std::string, websearch_keyless_base_url, "https://html.duckduckgo.com/html/",
          "The keyless search page used when WEBSEARCH_API_KEY is not in the keystore (DuckDuckGo's HTML results).");
ABSL_FLAG(bool, http_allow_private, false,
          "Let the http provider (task fetch) reach loopback, private and link-local addresses (development and "
          "tests; never where tasks are not trusted with the internal network).");
ABSL_FLAG(int64_t, http_max_response_bytes, int64_t{10} << 20,
          "A fetch response larger than this is a final RESPONSE_TOO_LARGE error.");
ABSL_FLAG(std::string, services_config, "",
          "A JSON file declaring HTTP wrapped services (services/README.md, \"Configured HTTP services\"); "
          "the proxy refuses to start when it is not valid.");
ABSL_FLAG(std::string, google_directory_base_url, "https://admin.googleapis.com", "Admin Directory API base URL.");
ABSL_FLAG(std::string, google_gmail_base_url, "https://gmail.googleapis.com", "Gmail API base URL.");
ABSL_FLAG(std::string, google_token_url, "", "Overrides the service account key's token_uri.");

int main(int argc, char** argv) {
  namespace proxy = tasker::proxy;
  return tasker::services::ServiceMain(
      argc, argv, "wrapped-service-proxy", [](tasker::services::ServiceContext& ctx) -> absl::Status {
        ASSIGN_OR_RETURN(auto keystore_channel, ctx.Channel(absl::GetFlag(FLAGS_keystore), "--keystore"));
        // Readiness: provider credentials come from the keystore. The
        // application database is not one: without it only database calls
        // fail (each with its error), every other provider still works.
        ctx.DependsOn("keystore", keystore_channel, tasker::v1::Keystore::service_full_name());
        proxy::ProviderConfig providers;
        providers.secrets_namespace = absl::GetFlag(FLAGS_secrets_namespace);
        providers.openai_base_url = absl::GetFlag(FLAGS_openai_base_url);
        providers.websearch_base_url = absl::GetFlag(FLAGS_websearch_base_url);
        providers.websearch_keyless_base_url = absl::GetFlag(FLAGS_websearch_keyless_base_url);
        providers.google_directory_base_url = absl::GetFlag(FLAGS_google_directory_base_url);
        providers.google_gmail_base_url = absl::GetFlag(FLAGS_google_gmail_base_url);
        providers.google_token_url = absl::GetFlag(FLAGS_google_token_url);

        auto* secrets = ctx.Own(proxy::KeystoreSecrets(keystore_channel));
        std::string app_database_url = absl::GetFlag(FLAGS_app_database_url);
        if (app_database_url.empty()) {
          const char* env = std::getenv("TASKER_APP_DATABASE_URL");
          app_database_url = env ? env : "";
        }
        proxy::AppDatabase* app_database = nullptr;
        if (!app_database_url.empty()) {
          ASSIGN_OR_RETURN(auto opened, proxy::AppDatabase::Open(app_database_url));
          app_database = ctx.Own(std::move(opened));
          tasker::LogInfo("app database open", {{"backend", app_database->backend()}});
        } else {
          tasker::LogInfo("no app database configured: database calls answer NOT_CONFIGURED");
        }
        auto* google = ctx.Own(std::make_unique<proxy::GoogleProvider>(secrets, providers));
        auto* core = ctx.Own(std::make_unique<proxy::ProxyCore>());
        core->RegisterUnowned(google);
        core->Register(proxy::NewAdminDebugProvider(secrets, google, providers));
        core->Register(proxy::NewWebSearchProvider(secrets, providers));
        core->Register(proxy::NewOpenAiProvider(secrets, providers));
        core->Register(proxy::NewDatabaseProvider(app_database));
        core->Register(proxy::NewKeystoreProvider(keystore_channel, providers.secrets_namespace));
        proxy::HttpProviderOptions http;
        http.allow_private = absl::GetFlag(FLAGS_http_allow_private);
        if (absl::GetFlag(FLAGS_http_max_response_bytes) < 1) {
          return absl::InvalidArgumentError("--http_max_response_bytes: must be at least 1");
        }
        http.max_response_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_http_max_response_bytes));
        core->Register(proxy::NewHttpProvider(http));
        if (const std::string path = absl::GetFlag(FLAGS_services_config); !path.empty()) {
          std::ifstream file(path);
          if (!file) return absl::InvalidArgumentError(absl::StrCat("--services_config: cannot read ", path));
          std::stringstream text;
          text << file.rdbuf();
          std::set<std::string> builtin;
          const auto listed = core->ListServices();
          for (const auto& service : listed.services()) builtin.insert(service.name());
          auto services = proxy::ParseServicesConfig(text.str(), builtin);
          if (!services.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat("--services_config ", path, ": ", services.status().message()));
          }
          for (auto& service : *services) {
            tasker::LogInfo("configured HTTP service",
                            {{"http_service", service.name}, {"base_url", service.base_url},
                             {"methods", std::to_string(service.methods.size())}});
            core->Register(proxy::NewConfiguredHttpProvider(std::move(service), secrets,
                                                            providers.secrets_namespace));
          }
        }
        using tasker::Role;
        const std::string name = tasker::v1::WrappedServiceProxy::service_full_name();
        ctx.AddService(ctx.Own(std::make_unique<proxy::ProxyService>(core)), name, {Role::kProcessor});
        ctx.RestrictMethod(name, "ListServices", {Role::kProcessor, Role::kAdmin});
        return absl::OkStatus();
      });
}
