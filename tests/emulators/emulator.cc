#include "tests/emulators/emulator.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace tasker::emulators {

// --- Emulator -----------------------------------------------------------------
Emulator::Emulator() = default;
Emulator::~Emulator() { Stop(); }

bool Emulator::Start(int port) {
  Routes();
  if (port == 0) {
    port_ = server_.bind_to_any_port("127.0.0.1");
  } else {
    port_ = server_.bind_to_port("127.0.0.1", port) ? port : -1;
  }
  if (port_ <= 0) return false;
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return true;
}

void Emulator::Stop() {
  if (thread_.joinable()) {
    server_.stop();
    thread_.join();
  }
}

void Emulator::FailNext(int count, int status) {
  fail_status_ = status;
  fail_count_ = count;
}

int Emulator::Count(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(key);
  return it == counts_.end() ? 0 : it->second;
}

int Emulator::TotalRequests() {
  std::lock_guard<std::mutex> lock(mu_);
  int total = 0;
  for (const auto& [k, v] : counts_) total += v;
  return total;
}

Emulator::Handler Emulator::Wrap(Handler handler) {
  return [this, handler](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      counts_[req.method + " " + req.path]++;
    }
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
    if (fail_count_.fetch_sub(1) > 0) {
      Reply(res, fail_status_, {{"error", {{"code", fail_status_.load()}, {"message", "injected failure"}}}});
      return;
    }
    handler(req, res);
  };
}

void Emulator::Get(const std::string& pattern, Handler handler) { server_.Get(pattern, Wrap(std::move(handler))); }
void Emulator::Post(const std::string& pattern, Handler handler) { server_.Post(pattern, Wrap(std::move(handler))); }

void Emulator::Reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// --- OpenAI -------------------------------------------------------------------
bool OpenAiEmulator::Authorized(const httplib::Request& req, httplib::Response& res) {
  if (req.get_header_value("Authorization") != "Bearer " + api_key_) {
    Reply(res, 401, {{"error", {{"message", "Incorrect API key provided"}, {"type", "invalid_request_error"}}}});
    return false;
  }
  return true;
}

void OpenAiEmulator::Routes() {
  Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    Json body = Json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.contains("model") || !body.contains("messages") || !body["messages"].is_array() ||
        body["messages"].empty()) {
      Reply(res, 400, {{"error", {{"message", "'messages' is a required property"}, {"type", "invalid_request_error"}}}});
      return;
    }
    std::string last = body["messages"].back().value("content", "");
    Reply(res, 200, {{"id", "chatcmpl-emulated"},
                     {"object", "chat.completion"},
                     {"model", body["model"]},
                     {"choices", {{{"index", 0},
                                   {"message", {{"role", "assistant"}, {"content", "echo: " + last}}},
                                   {"finish_reason", "stop"}}}},
                     {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 3}, {"total_tokens", 8}}}});
  });
  Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    Json body = Json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.contains("input")) {
      Reply(res, 400, {{"error", {{"message", "'input' is a required property"}}}});
      return;
    }
    Reply(res, 200, {{"object", "list"}, {"data", {{{"object", "embedding"}, {"index", 0},
                                                    {"embedding", {0.1, 0.2, 0.3}}}}},
                     {"model", body.value("model", "")}});
  });
  Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    Reply(res, 200, {{"object", "list"}, {"data", {{{"id", "gpt-4o-mini"}, {"object", "model"}},
                                                   {{"id", "text-embedding-3-small"}, {"object", "model"}}}}});
  });
  Get(R"(/v1/models/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    const std::string id = req.matches[1];
    if (id != "gpt-4o-mini") {
      Reply(res, 404, {{"error", {{"message", "The model '" + id + "' does not exist"}}}});
      return;
    }
    Reply(res, 200, {{"id", id}, {"object", "model"}, {"owned_by", "openai"}});
  });
}

// --- Search -------------------------------------------------------------------
void SearchEmulator::Routes() {
  Get("/search", [this](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("X-Subscription-Token") != api_key_) {
      Reply(res, 401, {{"error", "unauthorized"}, {"error_description", "missing or wrong subscription token"}});
      return;
    }
    if (!req.has_param("q") || req.get_param_value("q").empty()) {
      Reply(res, 422, {{"message", "q is required"}});
      return;
    }
    if (malformed_) {
      res.status = 200;
      res.set_content("<html>not json</html>", "text/html");
      return;
    }
    int count = 10;
    if (req.has_param("count")) absl::SimpleAtoi(req.get_param_value("count"), &count);
    Json results = Json::array();
    for (int i = 0; i < std::min(count, 3); ++i) {
      results.push_back({{"title", absl::StrCat("Result ", i, " for ", req.get_param_value("q"))},
                         {"url", absl::StrCat("https://example.com/", i)},
                         {"description", absl::StrCat("Snippet ", i)}});
    }
    Reply(res, 200, {{"type", "search"}, {"web", {{"results", results}}}});
  });
}

// --- Google -------------------------------------------------------------------
namespace {
constexpr char kDomainScope[] = "https://www.googleapis.com/auth/admin.directory.domain.readonly";
constexpr char kUserScope[] = "https://www.googleapis.com/auth/admin.directory.user.readonly";
constexpr char kGmailScope[] = "https://www.googleapis.com/auth/gmail.readonly";

std::string Base64UrlDecode(const std::string& text) {
  std::string out;
  absl::WebSafeBase64Unescape(text, &out);
  return out;
}
}  // namespace

GoogleEmulator::GoogleEmulator(std::string client_email, std::string public_key_pem, std::string admin_email,
                               GoogleFixtures fixtures)
    : client_email_(std::move(client_email)),
      public_key_pem_(std::move(public_key_pem)),
      admin_email_(std::move(admin_email)),
      fixtures_(std::move(fixtures)) {}

void GoogleEmulator::RevokeAllTokens() {
  std::lock_guard<std::mutex> lock(tokens_mu_);
  tokens_.clear();
}

std::string GoogleEmulator::VerifyAssertion(const std::string& jwt, Json* claims) {
  std::vector<std::string> parts = absl::StrSplit(jwt, '.');
  if (parts.size() != 3) return "assertion is not a compact JWT";
  Json header = Json::parse(Base64UrlDecode(parts[0]), nullptr, false);
  *claims = Json::parse(Base64UrlDecode(parts[1]), nullptr, false);
  if (header.is_discarded() || claims->is_discarded()) return "JWT header or claims are not JSON";
  if (header.value("alg", "") != "RS256") return "JWT alg must be RS256";
  const std::string signing_input = parts[0] + "." + parts[1];
  const std::string signature = Base64UrlDecode(parts[2]);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(public_key_pem_.data(), -1), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
                                                          EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!key || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1) {
    return "Invalid JWT Signature.";
  }
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  if (claims->value("iss", "") != client_email_) return "iss is not the service account";
  if (claims->value("aud", "") != token_url()) return "aud must be the token endpoint";
  if (claims->value("scope", "").empty()) return "scope is required";
  const int64_t iat = claims->value("iat", int64_t{0});
  const int64_t exp = claims->value("exp", int64_t{0});
  if (exp <= now || iat > now + 60 || exp - iat > 3600) return "Invalid JWT: Token must be a short-lived token";
  return "";
}

void GoogleEmulator::Routes() {
  Post("/token", [this](const httplib::Request& req, httplib::Response& res) {
    if (req.get_param_value("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      Reply(res, 400, {{"error", "unsupported_grant_type"}, {"error_description", "Invalid grant_type"}});
      return;
    }
    Json claims;
    std::string problem = VerifyAssertion(req.get_param_value("assertion"), &claims);
    if (!problem.empty()) {
      Reply(res, 400, {{"error", "invalid_grant"}, {"error_description", problem}});
      return;
    }
    const std::string subject = claims.value("sub", "");
    const std::string scope = claims["scope"];
    // Delegation: admin scopes act as the admin; Gmail as a known user.
    const bool admin_scope = scope.find("admin.directory") != std::string::npos;
    bool known_user = false;
    for (const auto& [d, users] : fixtures_.users) {
      for (const auto& u : users) known_user = known_user || u == subject;
    }
    if ((admin_scope && subject != admin_email_) || (!admin_scope && !known_user && subject != admin_email_)) {
      Reply(res, 401, {{"error", "unauthorized_client"},
                       {"error_description", "Client is unauthorized to retrieve access tokens using this method, "
                                             "or client not authorized for any of the scopes requested."}});
      return;
    }
    const std::string token = absl::StrCat("ya29.emulated-", ++tokens_issued_);
    {
      std::lock_guard<std::mutex> lock(tokens_mu_);
      tokens_[token] = {subject, scope, absl::ToUnixSeconds(absl::Now()) + lifetime_};
    }
    Reply(res, 200, {{"access_token", token}, {"expires_in", lifetime_.load()}, {"token_type", "Bearer"}});
  });

  Get(R"(/admin/directory/v1/customer/([^/]+)/domains)", [this](const httplib::Request& req, httplib::Response& res) {
    std::string subject;
    if (!Check(req, res, kDomainScope, &subject)) return;
    if (req.matches[1] != fixtures_.customer) {
      Reply(res, 404, {{"error", {{"code", 404}, {"message", "Resource Not Found: customer"}}}});
      return;
    }
    Json domains = Json::array();
    bool first = true;
    for (const auto& [domain, users] : fixtures_.users) {
      domains.push_back({{"domainName", domain}, {"isPrimary", first}, {"verified", true}});
      first = false;
    }
    Reply(res, 200, {{"kind", "admin#directory#domains"}, {"domains", domains}});
  });

  Get("/admin/directory/v1/users", [this](const httplib::Request& req, httplib::Response& res) {
    std::string subject;
    if (!Check(req, res, kUserScope, &subject)) return;
    const std::string domain = req.get_param_value("domain");
    auto it = fixtures_.users.find(domain);
    if (it == fixtures_.users.end()) {
      Reply(res, 400, {{"error", {{"code", 400}, {"message", "Domain not found."}}}});
      return;
    }
    int max = 100, offset = 0;
    if (req.has_param("maxResults")) absl::SimpleAtoi(req.get_param_value("maxResults"), &max);
    if (req.has_param("pageToken") && !absl::SimpleAtoi(req.get_param_value("pageToken"), &offset)) {
      Reply(res, 400, {{"error", {{"code", 400}, {"message", "Invalid pageToken"}}}});
      return;
    }
    Json users = Json::array();
    const auto& all = it->second;
    for (int i = offset; i < static_cast<int>(all.size()) && i < offset + max; ++i) {
      users.push_back({{"primaryEmail", all[i]}, {"name", {{"fullName", "User " + all[i].substr(0, all[i].find('@'))}}}});
    }
    Json body = {{"kind", "admin#directory#users"}, {"users", users}};
    if (offset + max < static_cast<int>(all.size())) body["nextPageToken"] = std::to_string(offset + max);
    Reply(res, 200, body);
  });

  Get(R"(/gmail/v1/users/([^/]+)/messages)", [this](const httplib::Request& req, httplib::Response& res) {
    std::string subject;
    if (!Check(req, res, kGmailScope, &subject)) return;
    const std::string user = req.matches[1];
    if (user != subject && !(user == "me")) {
      Reply(res, 403, {{"error", {{"code", 403}, {"message", "Delegation denied for " + subject}}}});
      return;
    }
    const std::string owner = user == "me" ? subject : user;
    const int total = fixtures_.messages.count(owner) ? fixtures_.messages.at(owner) : 0;
    int max = 100, offset = 0;
    if (req.has_param("maxResults")) absl::SimpleAtoi(req.get_param_value("maxResults"), &max);
    if (req.has_param("pageToken")) absl::SimpleAtoi(req.get_param_value("pageToken"), &offset);
    Json messages = Json::array();
    for (int i = offset; i < total && i < offset + max; ++i) {
      const std::string id = absl::StrCat(owner.substr(0, owner.find('@')), "-m", i);
      messages.push_back({{"id", id}, {"threadId", "t-" + id}});
    }
    Json body = {{"resultSizeEstimate", total}};
    if (!messages.empty()) body["messages"] = messages;
    if (offset + max < total) body["nextPageToken"] = std::to_string(offset + max);
    Reply(res, 200, body);
  });

  Get(R"(/gmail/v1/users/([^/]+)/messages/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    std::string subject;
    if (!Check(req, res, kGmailScope, &subject)) return;
    const std::string user = req.matches[1];
    const std::string id = req.matches[2];
    const std::string owner = user == "me" ? subject : user;
    if (user != "me" && user != subject) {
      Reply(res, 403, {{"error", {{"code", 403}, {"message", "Delegation denied for " + subject}}}});
      return;
    }
    const std::string prefix = owner.substr(0, owner.find('@')) + "-m";
    int index = -1;
    if (id.rfind(prefix, 0) != 0 || !absl::SimpleAtoi(id.substr(prefix.size()), &index) || index < 0 ||
        index >= (fixtures_.messages.count(owner) ? fixtures_.messages.at(owner) : 0)) {
      Reply(res, 404, {{"error", {{"code", 404}, {"message", "Requested entity was not found."}}}});
      return;
    }
    Reply(res, 200, {{"id", id},
                     {"threadId", "t-" + id},
                     {"snippet", absl::StrCat("Message ", index, " for ", owner)},
                     {"payload", {{"headers", {{{"name", "Subject"}, {"value", absl::StrCat("Subject ", index)}},
                                               {{"name", "From"}, {"value", "sender@example.com"}}}}}}});
  });
}

bool GoogleEmulator::Check(const httplib::Request& req, httplib::Response& res, const std::string& scope,
                           std::string* subject) {
  const std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) != 0) {
    Reply(res, 401, {{"error", {{"code", 401}, {"message", "Login Required."}}}});
    return false;
  }
  std::lock_guard<std::mutex> lock(tokens_mu_);
  auto it = tokens_.find(auth.substr(7));
  if (it == tokens_.end() || it->second.expires < absl::ToUnixSeconds(absl::Now())) {
    Reply(res, 401, {{"error", {{"code", 401}, {"message", "Request had invalid authentication credentials."}}}});
    return false;
  }
  if (it->second.scope.find(scope) == std::string::npos) {
    Reply(res, 403, {{"error", {{"code", 403}, {"message", "Request had insufficient authentication scopes."}}}});
    return false;
  }
  *subject = it->second.subject;
  return true;
}

// --- Test service account -------------------------------------------------------
TestServiceAccount MakeTestServiceAccount() {
  TestServiceAccount account;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> priv(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> pub(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub.get(), key.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(priv.get(), &data);
  account.private_key_pem.assign(data, n);
  n = BIO_get_mem_data(pub.get(), &data);
  account.public_key_pem.assign(data, n);
  return account;
}

std::string TestServiceAccount::KeyJson(const std::string& token_uri) const {
  return Json{{"type", "service_account"},
              {"project_id", "tasker-test"},
              {"private_key_id", "test-key-1"},
              {"private_key", private_key_pem},
              {"client_email", client_email},
              {"client_id", "1234567890"},
              {"token_uri", token_uri}}
      .dump();
}

}  // namespace tasker::emulators
