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
    res.set_header("Date", HttpDate());
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
void Emulator::Put(const std::string& pattern, Handler handler) { server_.Put(pattern, Wrap(std::move(handler))); }
void Emulator::Patch(const std::string& pattern, Handler handler) { server_.Patch(pattern, Wrap(std::move(handler))); }
void Emulator::Delete(const std::string& pattern, Handler handler) {
  server_.Delete(pattern, Wrap(std::move(handler)));
}

std::string HttpDate() {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(), absl::UTCTimeZone());
}

void Emulator::Reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
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

// --- DuckDuckGo ---------------------------------------------------------------
std::string DuckDuckGoEmulator::last_query() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_query_;
}

namespace {
std::string HtmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#x27;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string Percent(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}
}  // namespace

void DuckDuckGoEmulator::Routes() {
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("User-Agent").empty()) {
      res.status = 403;
      res.set_content("Forbidden", "text/plain");
      return;
    }
    const std::string q = req.get_param_value("q");
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_query_ = q;
    }
    if (challenge_) {
      res.status = 202;
      res.set_content("<html><body><div class=\"anomaly-modal__title\">Unfortunately, bots use DuckDuckGo too."
                      "</div></body></html>",
                      "text/html; charset=UTF-8");
      return;
    }
    std::string html =
        "<!DOCTYPE html><html><head><meta charset=\"UTF-8\"><title>" + HtmlEscape(q) +
        " at DuckDuckGo</title></head><body><div id=\"links\" class=\"results\">\n";
    if (q.empty() || q == "nothing-matches-this") {
      html += "<div class=\"no-results\">No results.</div>\n</div></body></html>";
      res.set_content(html, "text/html; charset=UTF-8");
      return;
    }
    // An ad first: DuckDuckGo marks it result--ad and links it through y.js.
    html +=
        "<div class=\"result results_links results_links_deep result--ad \">\n"
        "  <div class=\"links_main links_deep result__body\">\n"
        "    <h2 class=\"result__title\"><a rel=\"nofollow\" class=\"result__a\" "
        "href=\"https://duckduckgo.com/y.js?ad_domain=ads.example&amp;ad_provider=x\">Buy " + HtmlEscape(q) + "</a></h2>\n"
        "    <a class=\"result__snippet\" href=\"https://duckduckgo.com/y.js?x\">Sponsored</a>\n"
        "  </div>\n</div>\n";
    const std::vector<std::pair<std::string, std::string>> targets = {
        {"https://example.com/durable?x=1&y=2", "Durable execution & you"},
        {"https://docs.example.org/tasks/", "Tasks \"explained\""},
        {"https://blog.example.net/it's", "It's a <b>blog</b>"},
    };
    for (size_t i = 0; i < targets.size(); ++i) {
      const auto& [url, title] = targets[i];
      const std::string link = "//duckduckgo.com/l/?uddg=" + Percent(url) + "&amp;rut=abc" + std::to_string(i);
      const std::string shown_title = i == 2 ? "It&#x27;s a <b>blog</b>" : HtmlEscape(title);
      html += "<div class=\"result results_links results_links_deep web-result \">\n"
              "  <div class=\"links_main links_deep result__body\">\n"
              "    <h2 class=\"result__title\">\n"
              "      <a rel=\"nofollow\" class=\"result__a\" href=\"" + link + "\">" + shown_title + "</a>\n"
              "    </h2>\n"
              "    <div class=\"result__extras\"><div class=\"result__extras__url\">"
              "<a class=\"result__url\" href=\"" + link + "\">" + HtmlEscape(url) + "</a></div></div>\n"
              "    <a class=\"result__snippet\" href=\"" + link + "\">Snippet " + std::to_string(i) +
              " about <b>" + HtmlEscape(q) + "</b> &amp; more&#46;</a>\n"
              "    <div class=\"clear\"></div>\n"
              "  </div>\n</div>\n";
    }
    html += "</div></body></html>";
    res.set_content(html, "text/html; charset=UTF-8");
  };
  Get("/html/", handler);
  Post("/html/", handler);
}

// --- httpbin --------------------------------------------------------------------
void HttpBinEmulator::Routes() {
  auto anything = [](const httplib::Request& req, httplib::Response& res) {
    Json headers = Json::object();
    for (const auto& [name, value] : req.headers) {
      std::string lower = name;
      for (auto& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
      // httplib adds these to what it received.
      if (lower == "remote_addr" || lower == "remote_port" || lower == "local_addr" || lower == "local_port") continue;
      headers[lower] = value;
    }
    Json query = Json::object();
    for (const auto& [name, value] : req.params) query[name] = value;
    Reply(res, 200, {{"method", req.method},
                     {"path", req.path},
                     {"query", query},
                     {"headers", headers},
                     {"body", req.body},  // bytes that are not UTF-8 become U+FFFD (see Reply)
                     {"bodyBase64", absl::Base64Escape(req.body)}});
  };
  for (const char* pattern : {"/anything", R"(/anything/.*)"}) {
    Get(pattern, anything);
    Post(pattern, anything);
    Put(pattern, anything);
    Patch(pattern, anything);
    Delete(pattern, anything);
  }
  Get(R"(/status/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    res.status = std::stoi(req.matches[1]);
    res.set_content("status " + std::string(req.matches[1]), "text/plain");
  });
  Get(R"(/redirect/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    const int n = std::stoi(req.matches[1]);
    res.status = 302;
    res.set_header("Location", n <= 0 ? "/anything" : "/redirect/" + std::to_string(n - 1));
  });
  auto redirect_to = [](const httplib::Request& req, httplib::Response& res) {
    res.status = req.has_param("status") ? std::stoi(req.get_param_value("status")) : 302;
    res.set_header("Location", req.get_param_value("url"));
  };
  Get("/redirect-to", redirect_to);
  Post("/redirect-to", redirect_to);
  Put("/redirect-to", redirect_to);
  Get(R"(/bytes/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    const int n = std::stoi(req.matches[1]);
    std::string bytes;
    for (int i = 0; i < n; ++i) bytes.push_back(static_cast<char>(0x80 + (i % 0x7f)));  // lone continuation bytes
    res.set_content(bytes, "application/octet-stream");
  });
  Get(R"(/large/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(std::string(std::stoul(req.matches[1]), 'a'), "text/plain");
  });
  Get("/headers-multi", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Set-Cookie", "a=1");
    res.set_header("Set-Cookie", "b=2");
    res.set_header("X-Custom", "Value");
    res.set_content("{}", "application/json");
  });
}

// --- Weather --------------------------------------------------------------------
bool WeatherEmulator::Authorized(const httplib::Request& req, httplib::Response& res) {
  const bool ok = query_key_ ? req.get_param_value("appid") == key_
                             : req.get_header_value("Authorization") == "Bearer " + key_;
  if (!ok) {
    Reply(res, 401, {{"cod", 401}, {"message", "Invalid API key. Please see https://weather.example/faq"}});
  }
  return ok;
}

void WeatherEmulator::Routes() {
  // httplib matches the decoded path: a %2F in the city is a '/' here.
  Get(R"(/v1/current/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    const std::string decoded = req.matches[1];
    const std::string raw_path = req.target.substr(0, req.target.find('?'));
    if (decoded == "Atlantis") {
      Reply(res, 404, {{"cod", "404"}, {"message", "city not found"}});
      return;
    }
    const std::string units = req.has_param("units") ? req.get_param_value("units") : "standard";
    if (units != "standard" && units != "metric" && units != "imperial") {
      Reply(res, 400, {{"cod", "400"}, {"message", "units: must be standard, metric or imperial"}});
      return;
    }
    Reply(res, 200, {{"city", decoded}, {"rawPath", raw_path}, {"units", units},
                     {"temperature", units == "metric" ? 21.5 : units == "imperial" ? 70.7 : 294.65}});
  });
  Post("/v1/reports", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    if (req.get_header_value("Content-Type") != "application/json") {
      Reply(res, 415, {{"message", "Content-Type must be application/json"}});
      return;
    }
    Json body = Json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      Reply(res, 400, {{"message", "body must be a JSON object"}});
      return;
    }
    Reply(res, 201, {{"id", "r-1"}, {"received", body}});
  });
  Get("/v1/text", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    res.set_content("sunny", "text/plain");
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
    if (req.matches[1] != fixtures_.customer && req.matches[1] != fixtures_.customer_id) {
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
    int max = 100, offset = 0;
    if (!MaxResults(req, res, &max)) return;
    // One domain, or (customer without domain) every domain of the account.
    std::vector<std::string> all;
    const std::string domain = req.get_param_value("domain");
    const std::string customer = req.get_param_value("customer");
    if (!domain.empty()) {
      auto it = fixtures_.users.find(domain);
      if (it == fixtures_.users.end()) {
        GoogleError(res, 400, "Domain not found.", "invalid");
        return;
      }
      all = it->second;
    } else if (!customer.empty()) {
      if (customer != fixtures_.customer && customer != fixtures_.customer_id) {
        GoogleError(res, 400, "Bad Request", "badRequest");
        return;
      }
      for (const auto& [d, users] : fixtures_.users) all.insert(all.end(), users.begin(), users.end());
    } else {
      GoogleError(res, 400, "Bad Request", "badRequest");
      return;
    }
    if (req.has_param("pageToken") && (!absl::SimpleAtoi(req.get_param_value("pageToken"), &offset) ||
                                       offset < 0 || offset > static_cast<int>(all.size()))) {
      GoogleError(res, 400, "Invalid pageToken", "invalid");
      return;
    }
    Json users = Json::array();
    for (int i = offset; i < static_cast<int>(all.size()) && i < offset + max; ++i) {
      const std::string local = all[i].substr(0, all[i].find('@'));
      users.push_back({{"kind", "admin#directory#user"},
                       {"id", GoogleUserId(all[i])},
                       {"primaryEmail", all[i]},
                       {"name", {{"givenName", local}, {"familyName", "User"}, {"fullName", "User " + local}}},
                       {"isAdmin", all[i] == admin_email_},
                       {"customerId", fixtures_.customer_id}});
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
    if (!MaxResults(req, res, &max)) return;
    if (req.has_param("pageToken") && (!absl::SimpleAtoi(req.get_param_value("pageToken"), &offset) ||
                                       offset < 0 || offset > total)) {
      GoogleError(res, 400, "Invalid pageToken", "invalid");
      return;
    }
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

void GoogleEmulator::GoogleError(httplib::Response& res, int code, const std::string& message,
                                 const std::string& reason) {
  static const std::map<int, std::string> kStatus = {
      {400, "INVALID_ARGUMENT"}, {401, "UNAUTHENTICATED"}, {403, "PERMISSION_DENIED"}, {404, "NOT_FOUND"}};
  Json error = {{"code", code},
                {"message", message},
                {"errors", {{{"message", message}, {"domain", "global"}, {"reason", reason}}}}};
  if (kStatus.count(code)) error["status"] = kStatus.at(code);
  Reply(res, code, {{"error", error}});
}

bool GoogleEmulator::MaxResults(const httplib::Request& req, httplib::Response& res, int* max) {
  if (!req.has_param("maxResults")) return true;
  const std::string text = req.get_param_value("maxResults");
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    GoogleError(res, 400, absl::StrCat("Invalid value '", text, "'. Values must be integers."), "invalid");
    return false;
  }
  if (value < 1 || value > 500) {
    GoogleError(res, 400, absl::StrCat("Invalid value '", text, "'. Values must be within the range: [1, 500]"),
                "invalid");
    return false;
  }
  *max = value;
  return true;
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

std::string GoogleUserId(const std::string& email) {
  // FNV-1a, 64 bits: stable across runs and processes.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : email) {
    h ^= c;
    h *= 1099511628211ull;
  }
  std::string digits = std::to_string(h);
  return "1" + std::string(20 - digits.size(), '0') + digits;
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
