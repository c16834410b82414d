// The built-in providers. Base URLs are configurable so tests and local
// development point them at emulators.
#ifndef TASKER_SERVICES_PROXY_PROVIDERS_H_
#define TASKER_SERVICES_PROXY_PROVIDERS_H_

#include <memory>
#include <string>

#include "services/proxy/provider.h"
#include "services/proxy/secrets.h"

namespace tasker::proxy {

class GoogleProvider;

struct ProviderConfig {
  std::string secrets_namespace = "global";
  std::string openai_base_url = "https://api.openai.com";
  std::string websearch_base_url = "https://api.search.brave.com/res/v1/web";
  std::string google_directory_base_url = "https://admin.googleapis.com";
  std::string google_gmail_base_url = "https://gmail.googleapis.com";
  // Overrides the key file's token_uri when set.
  std::string google_token_url;
};

// echo, serverTime, checkCredentials, tokenInfo, clearTokenCache.
std::unique_ptr<Provider> NewAdminDebugProvider(SecretSource* secrets, GoogleProvider* google,
                                                const ProviderConfig& config);
// search({query, limit}) -> [{title, url, snippet}]; key WEBSEARCH_API_KEY.
std::unique_ptr<Provider> NewWebSearchProvider(SecretSource* secrets, const ProviderConfig& config);
// chat.completions.create, embeddings.create, models.list, models.retrieve;
// key OPENAI_API_KEY.
std::unique_ptr<Provider> NewOpenAiProvider(SecretSource* secrets, const ProviderConfig& config);
// The `database` provider: services/proxy/app_database.h.

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_PROVIDERS_H_
