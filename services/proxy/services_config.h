// HTTP wrapped services declared in a file instead of written in C++ (what
// the old platform's sdk-http-wrapper was for): --services_config=FILE.
//
//   {"services": {"weather": {
//      "base_url": "https://api.weather.example",
//      "auth": {"keystore_key": "WEATHER_KEY", "header": "Authorization", "prefix": "Bearer "},
//      "timeout_ms": 10000,
//      "methods": {
//        "current": {"method": "GET", "path": "/v1/current/{city}", "query": ["units"]},
//        "report": {"method": "POST", "path": "/v1/reports", "body": true}}}}}
//
// __callHostTool__('weather', 'current', {city: 'Paris', units: 'metric'})
// sends GET /v1/current/Paris?units=metric: path parameters are substituted
// (percent-encoded), the listed query parameters appended, and for a body
// method the remaining args are the JSON body. The answer is the JSON (or
// text) response; 4xx are final errors, 429 and 5xx retryable. The key is
// read from the keystore's secrets namespace (never visible to task code)
// and sent as a header (with an optional prefix) or a query parameter.
// Task code needs the grant <service>:<method>, as for any service.
//
// Validation is strict: unknown fields, bad JSON, a name taken by a
// built-in provider, a bad path template refuse the file, naming the key
// ("services.weather.methods.current.path: ...").
#ifndef TASKER_SERVICES_PROXY_SERVICES_CONFIG_H_
#define TASKER_SERVICES_PROXY_SERVICES_CONFIG_H_

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/proxy/provider.h"
#include "services/proxy/secrets.h"

namespace tasker::proxy {

struct ConfiguredMethod {
  std::string name;
  std::string description;
  std::string http_method = "GET";  // GET, POST, PUT, PATCH, DELETE
  std::string path;                 // "/v1/current/{city}"
  std::vector<std::string> path_params;
  std::vector<std::string> query;
  bool body = false;
};

struct ConfiguredAuth {
  std::string keystore_key;
  std::string header;  // either a header (with `prefix`) ...
  std::string prefix;
  std::string query;   // ... or a query parameter
};

struct ConfiguredService {
  std::string name;
  std::string description;
  std::string base_url;  // no trailing '/'
  bool has_auth = false;
  ConfiguredAuth auth;
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every request
  absl::Duration timeout = absl::Seconds(30);
  std::vector<ConfiguredMethod> methods;
};

// The services of a config file's JSON text. `reserved` holds the names of
// the built-in providers. INVALID_ARGUMENT naming the key.
absl::StatusOr<std::vector<ConfiguredService>> ParseServicesConfig(const std::string& json_text,
                                                                  const std::set<std::string>& reserved);

// The provider of one configured service; credentials from `secrets`
// (namespace `secrets_namespace`, not owned).
std::unique_ptr<Provider> NewConfiguredHttpProvider(ConfiguredService service, SecretSource* secrets,
                                                    std::string secrets_namespace);

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_SERVICES_CONFIG_H_
