#include "services/proxy/google.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/common/status.h"

namespace tasker::proxy {
namespace {

constexpr char kDomainScope[] = "https://www.googleapis.com/auth/admin.directory.domain.readonly";
constexpr char kUserScope[] = "https://www.googleapis.com/auth/admin.directory.user.readonly";
constexpr char kGmailScope[] = "https://www.googleapis.com/auth/gmail.readonly";

// Appends key=value pairs that are present in args: each a string, a
// number, a boolean, or an array of those (a repeated parameter).
absl::StatusOr<std::string> Query(const Json& args, const std::vector<std::pair<std::string, std::string>>& names,
                                  const std::string& where = "args.") {
  std::vector<std::string> parts;
  auto scalar = [](const Json& v) { return v.is_string() || v.is_number() || v.is_boolean(); };
  auto text = [](const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  for (const auto& [arg, param] : names) {
    auto it = args.find(arg);
    if (it == args.end() || it->is_null()) continue;
    const Json& v = *it;
    if (v.is_array()) {
      for (const auto& item : v) {
        if (!scalar(item)) {
          return absl::InvalidArgumentError(absl::StrCat(where, arg, ": expected strings or numbers, got an array with ",
                                                         item.type_name()));
        }
        parts.push_back(absl::StrCat(param, "=", UrlEncode(text(item))));
      }
    } else if (scalar(v)) {
      parts.push_back(absl::StrCat(param, "=", UrlEncode(text(v))));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, arg, ": expected a string, a number or an array of them, got ", v.type_name()));
    }
  }
  return parts.empty() ? "" : absl::StrCat("?", absl::StrJoin(parts, "&"));
}

// A string field of the service account key, or "" when absent or another type.
std::string KeyField(const Json& key, const char* name) {
  auto it = key.find(name);
  return it != key.end() && it->is_string() ? it->get<std::string>() : "";
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
  if (key.is_discarded() || !key.is_object() || KeyField(key, "private_key").empty() ||
      KeyField(key, "client_email").empty()) {
    *failure = CallOutcome::Error("CREDENTIALS", "GAPI_KEY is not a service account key JSON", false);
    return absl::FailedPreconditionError("bad key");
  }
  const std::string token_uri = !config_.google_token_url.empty()     ? config_.google_token_url
                                : !KeyField(key, "token_uri").empty() ? KeyField(key, "token_uri")
                                                                      : "https://oauth2.googleapis.com/token";
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  Json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!KeyField(key, "private_key_id").empty()) header["kid"] = KeyField(key, "private_key_id");
  Json claims = {{"iss", KeyField(key, "client_email")}, {"scope", scope}, {"aud", token_uri}, {"iat", now},
                 {"exp", now + 3600}};
  if (!subject.empty()) claims["sub"] = subject;
  auto jwt = SignJwt(header, claims, KeyField(key, "private_key"));
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
  auto expires = exchanged.result.find("expires_in");
  const int64_t expires_in =
      expires != exchanged.result.end() && expires->is_number_integer() ? expires->get<int64_t>() : 3600;
  const std::string access_token = exchanged.result["access_token"].get<std::string>();
  std::lock_guard<std::mutex> lock(mu_);
  tokens_[cache_key] = {access_token, absl::Now() + absl::Seconds(expires_in)};
  return access_token;
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
  // Every request goes through here: acting as another user of the domain
  // needs a grant naming that user (the admin comes with the method's grant).
  auto get = [&](const std::string& url, const std::string& subject, const std::vector<std::string>& scopes,
                 const std::string& http_method = "GET", const std::string& body = "") -> CallOutcome {
    if (context.grants == nullptr) return Denied(context, absl::PermissionDeniedError("no grants on the call"));
    if (absl::Status allowed = context.grants->CheckSubject(context.service, context.method, subject, admin);
        !allowed.ok()) {
      return Denied(context, allowed);
    }
    return Get(url, subject, scopes, context, http_method, body);
  };
  const std::string& dir = config_.google_directory_base_url;
  const std::string& gmail = config_.google_gmail_base_url;
  if (method == "admin.domains.list") {
    ASSIGN_OR_RETURN(const std::string customer, ScalarArg(args, "customer", "my_customer"));
    return get(absl::StrCat(dir, "/admin/directory/v1/customer/", UrlEncode(customer), "/domains"), admin,
               {kDomainScope});
  }
  if (method == "admin.users.list") {
    // Neither domain nor customer ({} as old tasks call it): the whole
    // account, as Google's own clients default it (customer my_customer).
    Json with_customer = args;
    const bool has_domain = args.contains("domain") && !args["domain"].is_null();
    const bool has_customer = args.contains("customer") && !args["customer"].is_null();
    if (!has_domain && !has_customer) with_customer["customer"] = "my_customer";
    ASSIGN_OR_RETURN(const std::string query,
                     Query(with_customer, {{"domain", "domain"}, {"customer", "customer"}, {"maxResults", "maxResults"},
                                           {"pageToken", "pageToken"}, {"query", "query"}, {"orderBy", "orderBy"},
                                           {"sortOrder", "sortOrder"}, {"projection", "projection"},
                                           {"viewType", "viewType"}, {"showDeleted", "showDeleted"}}));
    return get(absl::StrCat(dir, "/admin/directory/v1/users", query), admin, {kUserScope});
  }
  if (method == "gmail.users.messages.list" || method == "gmail.users.messages.get") {
    ASSIGN_OR_RETURN(const std::string user, ScalarArg(args, "userId", "me"));
    // Domain-wide delegation: act as the mailbox's owner.
    const std::string subject = user == "me" ? admin : user;
    if (method == "gmail.users.messages.list") {
      ASSIGN_OR_RETURN(const std::string query, Query(args, {{"q", "q"}, {"maxResults", "maxResults"},
                                                             {"pageToken", "pageToken"}, {"labelIds", "labelIds"}}));
      return get(absl::StrCat(gmail, "/gmail/v1/users/", UrlEncode(user), "/messages", query), subject,
                 {kGmailScope});
    }
    ASSIGN_OR_RETURN(const std::string id, ScalarArg(args, "id"));
    if (id.empty()) return absl::InvalidArgumentError("args.id: the message id is required");
    ASSIGN_OR_RETURN(const std::string query,
                     Query(args, {{"format", "format"}, {"metadataHeaders", "metadataHeaders"}}));
    return get(absl::StrCat(gmail, "/gmail/v1/users/", UrlEncode(user), "/messages/", UrlEncode(id), query),
               subject, {kGmailScope});
  }
  if (method == "request") {
    // Any other Google REST method: {httpMethod, baseUrl?, path, query, body, scopes, subject}.
    ASSIGN_OR_RETURN(const std::string path, StringArg(args, "path"));
    if (path.empty() || path[0] != '/') return absl::InvalidArgumentError("args.path: must start with '/'");
    if (!args.contains("scopes") || !args["scopes"].is_array() || args["scopes"].empty()) {
      return absl::InvalidArgumentError("args.scopes: a non-empty array of OAuth scopes is required");
    }
    std::vector<std::string> scopes;
    for (const auto& s : args["scopes"]) {
      if (!s.is_string()) return absl::InvalidArgumentError("args.scopes: must be strings");
      scopes.push_back(s.get<std::string>());
    }
    std::string query;
    if (args.contains("query") && !args["query"].is_null()) {
      if (!args["query"].is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat("args.query: expected an object of parameters, got ", args["query"].type_name()));
      }
      std::vector<std::pair<std::string, std::string>> names;
      for (const auto& [k, v] : args["query"].items()) names.push_back({k, k});
      ASSIGN_OR_RETURN(query, Query(args["query"], names, "args.query."));
    }
    ASSIGN_OR_RETURN(const std::string base, StringArg(args, "baseUrl", dir));
    if (base != dir && base != gmail) {
      return absl::InvalidArgumentError("args.baseUrl: must be one of the configured Google API base URLs");
    }
    ASSIGN_OR_RETURN(const std::string http_method, StringArg(args, "httpMethod", "GET"));
    ASSIGN_OR_RETURN(const std::string subject, StringArg(args, "subject", admin));
    const std::string body = args.contains("body") && !args["body"].is_null() ? args["body"].dump() : "";
    return get(absl::StrCat(base, path, query), subject, scopes, http_method, body);
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
