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
  // Without WEBSEARCH_API_KEY: DuckDuckGo's HTML results page (no key).
  std::string websearch_keyless_base_url = "https://html.duckduckgo.com/html/";
  std::string google_directory_base_url = "https://admin.googleapis.com";
  std::string google_gmail_base_url = "https://gmail.googleapis.com";
  // Overrides the key file's token_uri when set.
  std::string google_token_url;
};

// echo, serverTime, checkCredentials, tokenInfo, clearTokenCache.
std::unique_ptr<Provider> NewAdminDebugProvider(SecretSource* secrets, GoogleProvider* google,
                                                const ProviderConfig& config);
// search({query, limit}) (or search(query), search(query, {limit})) ->
// [{title, url, snippet}]: through the JSON search API with the key
// WEBSEARCH_API_KEY, or without it through DuckDuckGo's HTML page.
std::unique_ptr<Provider> NewWebSearchProvider(SecretSource* secrets, const ProviderConfig& config);

// The results of a DuckDuckGo HTML results page, ads left out, at most
// `limit`. An empty list for a page saying there are none; INVALID_ARGUMENT
// for a page that has neither (DuckDuckGo changed its markup).
absl::StatusOr<Json> ParseDuckDuckGoHtml(const std::string& html, int limit);
// chat.completions.create, embeddings.create, models.list, models.retrieve;
// key OPENAI_API_KEY.
std::unique_ptr<Provider> NewOpenAiProvider(SecretSource* secrets, const ProviderConfig& config);
// The `database` provider: services/proxy/app_database.h.

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_PROVIDERS_H_
