// Local stand-ins for the external HTTP APIs Tasker's providers call. Each
// is a real HTTP server on 127.0.0.1 (port 0) that checks what the real API
// checks (auth headers, request shapes, JWT signatures) and serves fixtures.
// Faults can be injected: the next N requests answer a status, or answers
// are delayed.
#ifndef TASKER_TESTS_EMULATORS_EMULATOR_H_
#define TASKER_TESTS_EMULATORS_EMULATOR_H_

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tasker::emulators {

using Json = nlohmann::json;

class Emulator {
 public:
  Emulator();
  virtual ~Emulator();

  // Binds 127.0.0.1 on a free port (or `port`) and serves in a thread.
  bool Start(int port = 0);
  void Stop();
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // The next `count` requests answer `status` with an error body.
  void FailNext(int count, int status);
  // Every answer waits this long first.
  void SetDelayMs(int ms) { delay_ms_ = ms; }
  // Requests served per "METHOD path" (query excluded).
  int Count(const std::string& method_and_path);
  int TotalRequests();

 protected:
  // Registers routes on server_ (wrapped with fault injection and counting).
  virtual void Routes() = 0;
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  void Get(const std::string& pattern, Handler handler);
  void Post(const std::string& pattern, Handler handler);
  void Put(const std::string& pattern, Handler handler);
  void Patch(const std::string& pattern, Handler handler);
  void Delete(const std::string& pattern, Handler handler);
  static void Reply(httplib::Response& res, int status, const Json& body);

  httplib::Server server_;

 private:
  Handler Wrap(Handler handler);

  std::thread thread_;
  int port_ = 0;
  std::atomic<int> fail_count_{0};
  std::atomic<int> fail_status_{500};
  std::atomic<int> delay_ms_{0};
  std::mutex mu_;
  std::map<std::string, int> counts_;
};

// Every answer carries a Date header (RFC 7231 IMF-fixdate), as real servers'
// do.
std::string HttpDate();

// OpenAI: requires "Authorization: Bearer <api_key>".
class OpenAiEmulator : public Emulator {
 public:
  explicit OpenAiEmulator(std::string api_key) : api_key_(std::move(api_key)) {}

 protected:
  void Routes() override;

 private:
  bool Authorized(const httplib::Request& req, httplib::Response& res);
  std::string api_key_;
};

// A JSON web search API: requires "X-Subscription-Token: <api_key>".
class SearchEmulator : public Emulator {
 public:
  explicit SearchEmulator(std::string api_key) : api_key_(std::move(api_key)) {}
  // Answer with a body that is not JSON.
  void SetMalformed(bool malformed) { malformed_ = malformed; }

 protected:
  void Routes() override;

 private:
  std::string api_key_;
  std::atomic<bool> malformed_{false};
};

// DuckDuckGo's keyless HTML results page (GET or POST /html/?q=): requires
// a User-Agent (DuckDuckGo refuses clients without one) and a non-empty q;
// serves its markup: results wrapped in its /l/?uddg= redirector, an ad
// first (class result--ad), entities and <b> in titles and snippets.
class DuckDuckGoEmulator : public Emulator {
 public:
  // The next queries answer the 202 challenge page DuckDuckGo shows to
  // clients it takes for bots.
  void SetChallenge(bool challenge) { challenge_ = challenge; }
  // The query of the last request.
  std::string last_query();

 protected:
  void Routes() override;

 private:
  std::atomic<bool> challenge_{false};
  std::mutex mu_;
  std::string last_query_;
};

// An httpbin-like server for the http provider (task fetch):
//   ANY  /anything[/...]        -> 200 {method, path, query, headers (lower case), body, bodyBase64}
//   GET  /status/<code>         -> that status, body "status <code>"
//   GET  /redirect/<n>          -> 302 to /redirect/<n-1>, /redirect/0 -> 302 to /anything
//   ANY  /redirect-to?url=&status= -> that redirect (default 302) to url
//   GET  /bytes/<n>             -> n bytes that are not UTF-8 (application/octet-stream)
//   GET  /large/<n>             -> n bytes of 'a' (text/plain)
//   GET  /headers-multi         -> two Set-Cookie headers and X-Custom
class HttpBinEmulator : public Emulator {
 protected:
  void Routes() override;
};

// A weather API standing in for any keyed HTTP API a services config
// declares: requires "Authorization: Bearer <key>" (or ?appid=<key> when
// built with `query_key`).
//   GET  /v1/current/<city>?units=  -> {city, units, temperature}
//   POST /v1/reports (JSON body)     -> 201 {id, received: body}
//   GET  /v1/text                    -> text/plain "sunny"
class WeatherEmulator : public Emulator {
 public:
  explicit WeatherEmulator(std::string key, bool query_key = false)
      : key_(std::move(key)), query_key_(query_key) {}

 protected:
  void Routes() override;

 private:
  bool Authorized(const httplib::Request& req, httplib::Response& res);
  std::string key_;
  bool query_key_;
};

struct GoogleFixtures {
  std::string customer = "my_customer";
  // The account's customer id, also accepted in place of my_customer.
  std::string customer_id = "C01abc2de";
  // domain -> users (primary emails)
  std::map<std::string, std::vector<std::string>> users;
  // user -> message count (messages are generated: id "<user>-m<i>")
  std::map<std::string, int> messages;
};

// Google OAuth token endpoint + Admin Directory + Gmail, answering as Google
// does where tasks depend on it: a Date header, stable numeric-string user
// ids, maxResults bounds (users.list and messages.list: 1..500, else 400
// with Google's error JSON), users.list by domain or customer-wide
// (customer my_customer or the fixture's id without a domain: every
// domain's users; neither: 400).
class GoogleEmulator : public Emulator {
 public:
  // `public_key_pem` verifies the service account's JWT assertions.
  GoogleEmulator(std::string client_email, std::string public_key_pem, std::string admin_email,
                 GoogleFixtures fixtures);
  std::string token_url() const { return base_url() + "/token"; }
  // Revokes every issued token (API calls with them get 401).
  void RevokeAllTokens();
  int tokens_issued() const { return tokens_issued_.load(); }
  // Token lifetime handed out (seconds).
  void SetTokenLifetime(int seconds) { lifetime_ = seconds; }

 protected:
  void Routes() override;

 private:
  struct Token {
    std::string subject;
    std::string scope;
    int64_t expires;
  };
  // Checks the bearer token has `scope`; returns its subject, or answers 401/403.
  bool Check(const httplib::Request& req, httplib::Response& res, const std::string& scope, std::string* subject);
  // Google's error body: {"error": {code, message, errors: [{message, domain, reason}], status}}.
  static void GoogleError(httplib::Response& res, int code, const std::string& message, const std::string& reason);
  // maxResults within 1..500 (absent: `max` unchanged); else a 400 answered.
  static bool MaxResults(const httplib::Request& req, httplib::Response& res, int* max);
  std::string VerifyAssertion(const std::string& jwt, Json* claims);

  std::string client_email_;
  std::string public_key_pem_;
  std::string admin_email_;
  GoogleFixtures fixtures_;
  std::mutex tokens_mu_;
  std::map<std::string, Token> tokens_;
  std::atomic<int> tokens_issued_{0};
  std::atomic<int> lifetime_{3600};
};

// A fresh RSA-2048 service account.
struct TestServiceAccount {
  std::string private_key_pem;
  std::string public_key_pem;
  std::string client_email = "tasker-test@tasker-test.iam.gserviceaccount.com";
  // The key file Google issues, pointing at `token_uri`.
  std::string KeyJson(const std::string& token_uri) const;
};
TestServiceAccount MakeTestServiceAccount();

// The stable numeric id the Google emulator gives a user (21 digits, as
// Directory ids are).
std::string GoogleUserId(const std::string& email);

}  // namespace tasker::emulators

#endif  // TASKER_TESTS_EMULATORS_EMULATOR_H_
