#include "services/proxy/google.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace tasker::proxy {
namespace {

constexpr char kDomainScope[] = "https://www.googleapis.com/auth/admin.directory.domain.readonly";
constexpr char kUserScope[] = "https://www.googleapis.com/auth/admin.directory.user.readonly";
constexpr char kGmailScope[] = "https://www.googleapis.com/auth/gmail.readonly";

std::string Str(const Json& args, const char* key, const std::string& fallback = "") {
  if (args.contains(key) && args[key].is_string()) return args[key];
  if (args.contains(key) && args[key].is_number()) return args[key].dump();
  return fallback;
}

// Appends key=value pairs that are present in args.
std::string Query(const Json& args, const std::vector<std::pair<const char*, const char*>>& names) {
  std::vector<std::string> parts;
  for (const auto& [arg, param] : names) {
    if (!args.contains(arg)) continue;
    const Json& v = args[arg];
    if (v.is_array()) {
      for (const auto& item : v) parts.push_back(absl::StrCat(param, "=", UrlEncode(item.is_string() ? item.get<std::string>() : item.dump())));
    } else {
      parts.push_back(absl::StrCat(param, "=", UrlEncode(v.is_string() ? v.get<std::string>() : v.dump())));
    }
  }
  return parts.empty() ? "" : absl::StrCat("?", absl::StrJoin(parts, "&"));
}

}  // namespace

std::string Base64Url(const std::string& bytes) {
  std::string out = absl::WebSafeBase64Escape(bytes);
  return out;  // absl's web-safe form has no padding
}

absl::StatusOr<std::string> SignJwt(const Json& header, const Json& claims, const std::string& private_key_pem) {
  const std::string signing_input = absl::StrCat(Base64Url(header.dump()), ".", Base64Url(claims.dump()));
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(private_key_pem.data(),
                                                                static_cast<int>(private_key_pem.size())),
                                                BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) return absl::InvalidArgumentError("service account private_key does not parse as a PEM key");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t size = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError("RS256 signing failed");
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1) {
    return absl::InternalError("RS256 signing failed");
  }
  signature.resize(size);
  return absl::StrCat(signing_input, ".", Base64Url(signature));
}

absl::StatusOr<std::string> GoogleProvider::AccessToken(const std::string& subject,
                                                        const std::vector<std::string>& scopes,
                                                        CallOutcome* failure) {
  const std::string scope = absl::StrJoin(scopes, " ");
  const std::string cache_key = absl::StrCat(subject, " ", scope);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tokens_.find(cache_key);
    if (it != tokens_.end() && it->second.expires - absl::Minutes(1) > absl::Now()) return it->second.token;
  }
  auto key_json = secrets_->Get(config_.secrets_namespace, "GAPI_KEY");
  if (!key_json.ok()) {
    *failure = CallOutcome::Error("CREDENTIALS", "the Google service account key (GAPI_KEY) is not in the keystore",
                                  false);
    return absl::FailedPreconditionError("no key");
  }
  Json key = Json::parse(*key_json, nullptr, false);
  if (key.is_discarded() || !key.is_object() || !key.contains("private_key") || !key.contains("client_email")) {
    *failure = CallOutcome::Error("CREDENTIALS", "GAPI_KEY is not a service account key JSON", false);
    return absl::FailedPreconditionError("bad key");
  }
  const std::string token_uri = !config_.google_token_url.empty() ? config_.google_token_url
                                : key.contains("token_uri")        ? key["token_uri"].get<std::string>()
                                                                   : "https://oauth2.googleapis.com/token";
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  Json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (key.contains("private_key_id")) header["kid"] = key["private_key_id"];
  Json claims = {{"iss", key["client_email"]}, {"scope", scope}, {"aud", token_uri}, {"iat", now}, {"exp", now + 3600}};
  if (!subject.empty()) claims["sub"] = subject;
  auto jwt = SignJwt(header, claims, key["private_key"]);
  if (!jwt.ok()) {
    *failure = CallOutcome::Error("CREDENTIALS", std::string(jwt.status().message()), false);
    return jwt.status();
  }
  HttpRequest request;
  request.method = "POST";
  request.url = token_uri;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  request.body = absl::StrCat("grant_type=", UrlEncode("urn:ietf:params:oauth:grant-type:jwt-bearer"),
                              "&assertion=", *jwt);
  CallOutcome exchanged = FromHttp(Fetch(request));
  if (!exchanged.ok) {
    exchanged.error_message = absl::StrCat("token exchange failed: ", exchanged.error_message);
    if (!exchanged.retryable) exchanged.error_code = "AUTH";
    *failure = exchanged;
    return absl::UnauthenticatedError("token exchange");
  }
  if (!exchanged.result.contains("access_token") || !exchanged.result["access_token"].is_string()) {
    *failure = CallOutcome::Error("MALFORMED_RESPONSE", "the token endpoint answered without an access_token", false);
    return absl::UnauthenticatedError("token exchange");
  }
  const int64_t expires_in = exchanged.result.value("expires_in", 3600);
  std::lock_guard<std::mutex> lock(mu_);
  tokens_[cache_key] = {exchanged.result["access_token"], absl::Now() + absl::Seconds(expires_in)};
  return exchanged.result["access_token"].get<std::string>();
}

CallOutcome GoogleProvider::Get(const std::string& url, const std::string& subject,
                                const std::vector<std::string>& scopes, const CallContext& context,
                                const std::string& method, const std::string& body) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    CallOutcome failure;
    auto token = AccessToken(subject, scopes, &failure);
    if (!token.ok()) return failure;
    HttpRequest request;
    request.method = method;
    request.url = url;
    request.timeout = context.timeout;
    request.headers = {{"Authorization", absl::StrCat("Bearer ", *token)}, {"Accept", "application/json"}};
    if (!body.empty()) {
      request.body = body;
      request.headers.push_back({"Content-Type", "application/json"});
    }
    auto response = Fetch(request);
    if (response.ok() && response->status == 401 && attempt == 0) {
      // The token was revoked or expired early: drop it and try once more.
      std::lock_guard<std::mutex> lock(mu_);
      tokens_.erase(absl::StrCat(subject, " ", absl::StrJoin(scopes, " ")));
      continue;
    }
    return FromHttp(response);
  }
  return CallOutcome::Error("AUTH", "Google refused a freshly issued token", false);
}

absl::StatusOr<CallOutcome> GoogleProvider::Call(const CallContext& context, const std::string& method,
                                                 const Json& raw_args) {
  auto args_or = NormalizeArgs(raw_args);
  if (!args_or.ok()) return args_or.status();
  const Json& args = *args_or;
  // The admin every Directory call (and "me") acts as.
  std::string admin;
  auto email = secrets_->Get(config_.secrets_namespace, "GAPI_ADMIN_EMAIL");
  if (email.ok()) admin = *email;
  const std::string& dir = config_.google_directory_base_url;
  const std::string& gmail = config_.google_gmail_base_url;
  if (method == "admin.domains.list") {
    const std::string customer = Str(args, "customer", "my_customer");
    return Get(absl::StrCat(dir, "/admin/directory/v1/customer/", UrlEncode(customer), "/domains"), admin,
               {kDomainScope}, context);
  }
  if (method == "admin.users.list") {
    if (!args.contains("domain") && !args.contains("customer")) {
      return absl::InvalidArgumentError("args.domain or args.customer: one is required");
    }
    return Get(absl::StrCat(dir, "/admin/directory/v1/users",
                            Query(args, {{"domain", "domain"}, {"customer", "customer"}, {"maxResults", "maxResults"},
                                         {"pageToken", "pageToken"}, {"query", "query"}, {"orderBy", "orderBy"}})),
               admin, {kUserScope}, context);
  }
  if (method == "gmail.users.messages.list" || method == "gmail.users.messages.get") {
    const std::string user = Str(args, "userId", "me");
    // Domain-wide delegation: act as the mailbox's owner.
    const std::string subject = user == "me" ? admin : user;
    if (method == "gmail.users.messages.list") {
      return Get(absl::StrCat(gmail, "/gmail/v1/users/", UrlEncode(user), "/messages",
                              Query(args, {{"q", "q"}, {"maxResults", "maxResults"}, {"pageToken", "pageToken"},
                                           {"labelIds", "labelIds"}})),
                 subject, {kGmailScope}, context);
    }
    if (Str(args, "id").empty()) return absl::InvalidArgumentError("args.id: the message id is required");
    return Get(absl::StrCat(gmail, "/gmail/v1/users/", UrlEncode(user), "/messages/", UrlEncode(Str(args, "id")),
                            Query(args, {{"format", "format"}, {"metadataHeaders", "metadataHeaders"}})),
               subject, {kGmailScope}, context);
  }
  if (method == "request") {
    // Any other Google REST method: {httpMethod, baseUrl?, path, query, body, scopes, subject}.
    const std::string path = Str(args, "path");
    if (path.empty() || path[0] != '/') return absl::InvalidArgumentError("args.path: must start with '/'");
    if (!args.contains("scopes") || !args["scopes"].is_array() || args["scopes"].empty()) {
      return absl::InvalidArgumentError("args.scopes: a non-empty array of OAuth scopes is required");
    }
    std::vector<std::string> scopes;
    for (const auto& s : args["scopes"]) {
      if (!s.is_string()) return absl::InvalidArgumentError("args.scopes: must be strings");
      scopes.push_back(s);
    }
    std::string query;
    if (args.contains("query") && args["query"].is_object()) {
      std::vector<std::pair<const char*, const char*>> names;
      std::vector<std::string> keys;
      for (const auto& [k, v] : args["query"].items()) keys.push_back(k);
      for (const auto& k : keys) names.push_back({k.c_str(), k.c_str()});
      query = Query(args["query"], names);
    }
    const std::string base = Str(args, "baseUrl", dir);
    if (base != dir && base != gmail) {
      return absl::InvalidArgumentError("args.baseUrl: must be one of the configured Google API base URLs");
    }
    const std::string http_method = Str(args, "httpMethod", "GET");
    const std::string body = args.contains("body") ? args["body"].dump() : "";
    return Get(absl::StrCat(base, path, query), Str(args, "subject", admin), scopes, context, http_method, body);
  }
  return absl::InvalidArgumentError(absl::StrCat("method: gapi has no method '", method, "'; supported: ",
                                                 absl::StrJoin(methods(), ", ")));
}

Json GoogleProvider::TokenInfo() {
  std::lock_guard<std::mutex> lock(mu_);
  Json out = Json::array();
  for (const auto& [key, token] : tokens_) {
    const auto space = key.find(' ');
    out.push_back({{"subject", key.substr(0, space)},
                   {"scopes", key.substr(space + 1)},
                   {"expiresInSeconds", absl::ToInt64Seconds(token.expires - absl::Now())}});
  }
  return out;
}

int GoogleProvider::ClearTokenCache() {
  std::lock_guard<std::mutex> lock(mu_);
  const int n = static_cast<int>(tokens_.size());
  tokens_.clear();
  return n;
}

CallOutcome GoogleProvider::CheckCredentials() {
  CallOutcome failure;
  auto admin = secrets_->Get(config_.secrets_namespace, "GAPI_ADMIN_EMAIL");
  auto token = AccessToken(admin.ok() ? *admin : "", {kDomainScope}, &failure);
  if (!token.ok()) return failure;
  return CallOutcome::Ok({{"gapi", "ok"}, {"adminEmail", admin.ok() ? *admin : ""}});
}

}  // namespace tasker::proxy
