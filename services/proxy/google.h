// The `gapi` provider: Google APIs with a service account. The key JSON
// (keystore GAPI_KEY) signs an RS256 JWT assertion (scopes, and a subject
// for domain-wide delegation: Gmail calls impersonate their userId; Admin
// calls the admin in GAPI_ADMIN_EMAIL), exchanged at the key's token URI.
// Access tokens are cached per (subject, scopes) until a minute before
// they expire.
#ifndef TASKER_SERVICES_PROXY_GOOGLE_H_
#define TASKER_SERVICES_PROXY_GOOGLE_H_

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "services/proxy/providers.h"

namespace tasker::proxy {

class GoogleProvider : public Provider {
 public:
  GoogleProvider(SecretSource* secrets, ProviderConfig config) : secrets_(secrets), config_(std::move(config)) {}

  std::string name() const override { return "gapi"; }
  std::string description() const override {
    return "Google Workspace APIs (Admin Directory, Gmail) with a service account";
  }
  std::vector<std::string> methods() const override {
    return {"admin.domains.list", "admin.users.list", "gmail.users.messages.list", "gmail.users.messages.get",
            "request"};
  }
  absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method, const Json& args) override;

  // For admin-debug.
  Json TokenInfo();
  int ClearTokenCache();
  CallOutcome CheckCredentials();

 private:
  struct CachedToken {
    std::string token;
    absl::Time expires;
  };
  // An access token for (subject, scopes), or an outcome describing why not.
  absl::StatusOr<std::string> AccessToken(const std::string& subject, const std::vector<std::string>& scopes,
                                          CallOutcome* failure);
  CallOutcome Get(const std::string& url, const std::string& subject, const std::vector<std::string>& scopes,
                  const CallContext& context, const std::string& method = "GET", const std::string& body = "");

  SecretSource* secrets_;
  ProviderConfig config_;
  std::mutex mu_;
  std::map<std::string, CachedToken> tokens_;  // subject + " " + scopes
};

// RS256-signs `header.claims` (both JSON) with a PEM private key and returns
// the compact JWT. INVALID_ARGUMENT for a key that does not parse.
absl::StatusOr<std::string> SignJwt(const Json& header, const Json& claims, const std::string& private_key_pem);

std::string Base64Url(const std::string& bytes);

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_GOOGLE_H_
