// Each provider's real client code against local emulators that check what
// the real APIs check: auth headers, request shapes, RS256 JWT assertions.
#include "services/proxy/proxy.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/common/json.h"
#include "services/proxy/app_database.h"
#include "absl/time/clock.h"
#include "services/proxy/google.h"
#include "services/proxy/http_provider.h"
#include "services/proxy/providers.h"
#include "services/proxy/services_config.h"
#include "tests/emulators/emulator.h"

namespace tasker::proxy {
namespace {

using emulators::GoogleEmulator;
using emulators::GoogleFixtures;
using emulators::OpenAiEmulator;
using emulators::SearchEmulator;

constexpr char kAdmin[] = "admin@example.com";

Json ResultJson(const v1::CallResponse& response) {
  if (!response.has_result_json()) {
    ADD_FAILURE() << "call failed: " << response.error().code() << " " << response.error().message();
    return nullptr;
  }
  Json result = Json::parse(response.result_json(), nullptr, false);
  EXPECT_FALSE(result.is_discarded()) << response.result_json();
  return result.is_discarded() ? Json(nullptr) : result;
}

// Args are JSON text.
std::string Value(const std::string& json) { return json; }

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    account_ = emulators::MakeTestServiceAccount();
    GoogleFixtures fixtures;
    fixtures.users = {{"example.com", {"alice@example.com", "bob@example.com", "carol@example.com"}},
                      {"example.org", {"dave@example.org"}}};
    fixtures.messages = {{"alice@example.com", 5}, {"bob@example.com", 0}, {"dave@example.org", 2}};
    google_ = std::make_unique<GoogleEmulator>(account_.client_email, account_.public_key_pem, kAdmin, fixtures);
    ASSERT_TRUE(google_->Start());
    openai_ = std::make_unique<OpenAiEmulator>("sk-test-key");
    ASSERT_TRUE(openai_->Start());
    search_ = std::make_unique<SearchEmulator>("search-key");
    ASSERT_TRUE(search_->Start());
    Build(account_.KeyJson(google_->token_url()));
  }

  void Build(const std::string& gapi_key) {
    secrets_ = std::make_unique<StaticSecrets>(std::map<std::string, std::string>{
        {"global/GAPI_KEY", gapi_key},
        {"global/GAPI_ADMIN_EMAIL", kAdmin},
        {"global/OPENAI_API_KEY", "sk-test-key"},
        {"global/WEBSEARCH_API_KEY", "search-key"}});
    ProviderConfig config;
    config.openai_base_url = openai_->base_url();
    config.websearch_base_url = search_->base_url();
    config.google_directory_base_url = google_->base_url();
    config.google_gmail_base_url = google_->base_url();
    core_ = std::make_unique<ProxyCore>();
    auto google = std::make_unique<GoogleProvider>(secrets_.get(), config);
    google_provider_ = google.get();
    core_->Register(std::move(google));
    core_->Register(NewAdminDebugProvider(secrets_.get(), google_provider_, config));
    core_->Register(NewWebSearchProvider(secrets_.get(), config));
    core_->Register(NewOpenAiProvider(secrets_.get(), config));
  }

  absl::StatusOr<v1::CallResponse> Send(const std::string& service, const std::string& method,
                                        const std::string& args_json, int64_t deadline_ms = 0) {
    v1::CallRequest request;
    request.set_service(service);
    request.set_method(method);
    request.set_args_json(Value(args_json));
    request.set_deadline_ms(deadline_ms);
    request.set_idempotency_key("run_1/sr_1");
    request.mutable_caller()->set_task_run_id("run_1");
    request.mutable_caller()->set_task_identifier("proxy-test");
    request.mutable_caller()->set_task_version(1);
    for (const auto& p : grants_) request.mutable_caller()->add_permissions(p);
    return core_->Call(request);
  }

  // What the calling task may reach (default: everything).
  std::vector<std::string> grants_ = {"*"};

  // A call the proxy must accept (its response may still carry a provider
  // error); a refused one fails the test and answers an empty response.
  v1::CallResponse Call(const std::string& service, const std::string& method, const std::string& args_json,
                        int64_t deadline_ms = 0) {
    auto response = Send(service, method, args_json, deadline_ms);
    if (!response.ok()) {
      ADD_FAILURE() << service << "." << method << " refused: " << response.status();
      return v1::CallResponse();
    }
    return *std::move(response);
  }

  // The refusal of a call the proxy must refuse (OK if it accepted it).
  absl::Status Refusal(const std::string& service, const std::string& method, const std::string& args_json) {
    return Send(service, method, args_json).status();
  }

  emulators::TestServiceAccount account_;
  std::unique_ptr<GoogleEmulator> google_;
  std::unique_ptr<OpenAiEmulator> openai_;
  std::unique_ptr<SearchEmulator> search_;
  std::unique_ptr<StaticSecrets> secrets_;
  std::unique_ptr<ProxyCore> core_;
  GoogleProvider* google_provider_ = nullptr;
};

TEST_F(ProxyTest, UnknownServiceOrMethodNamesTheSupportedOnes) {
  absl::Status unknown = Refusal("nope", "x", "{}");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("gapi"), std::string::npos) << unknown;
  absl::Status bad_method = Refusal("openai", "images.generate", "{}");
  EXPECT_EQ(bad_method.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_method.message().find("chat.completions.create"), std::string::npos) << bad_method;
  auto services = core_->ListServices();
  EXPECT_EQ(services.services_size(), 4);
}

TEST_F(ProxyTest, AdminDebugNeverRevealsSecrets) {
  // The stored secrets, the service account's private key and the access
  // tokens the proxy obtained with it (the emulator's start "ya29.").
  const std::vector<std::string> secrets = {"sk-test-key", "search-key", "PRIVATE KEY",
                                            account_.private_key_pem.substr(account_.private_key_pem.find('\n') + 1, 64),
                                            "ya29."};
  auto expect_no_secret = [&](const v1::CallResponse& response, const std::string& method) {
    const std::string text = response.DebugString();
    for (const auto& secret : secrets) EXPECT_EQ(text.find(secret), std::string::npos) << method << ": " << text;
  };
  auto echo = Call("admin-debug", "echo", R"([{"a":1}])");
  EXPECT_EQ(ResultJson(echo), Json::parse(R"([{"a":1}])"));
  expect_no_secret(echo, "echo");
  auto slept = Call("admin-debug", "sleep", R"({"ms":1})");
  EXPECT_EQ(ResultJson(slept)["slept"], 1);
  expect_no_secret(slept, "sleep");
  auto time = Call("admin-debug", "serverTime", "{}");
  EXPECT_GT(ResultJson(time)["unixMs"].get<int64_t>(), 1700000000000);
  expect_no_secret(time, "serverTime");
  auto check = Call("admin-debug", "checkCredentials", "{}");
  const Json result = ResultJson(check);
  EXPECT_EQ(result["OPENAI_API_KEY"], "present");
  EXPECT_EQ(result["gapiToken"], "ok");
  expect_no_secret(check, "checkCredentials");
  auto tokens = Call("admin-debug", "tokenInfo", "{}");
  EXPECT_EQ(ResultJson(tokens)["gapi"].size(), 1u);
  expect_no_secret(tokens, "tokenInfo");
  auto cleared = Call("admin-debug", "clearTokenCache", "{}");
  EXPECT_EQ(ResultJson(cleared)["cleared"], 1);
  expect_no_secret(cleared, "clearTokenCache");
}

TEST_F(ProxyTest, WebSearchNormalisesAndClassifiesFailures) {
  auto ok = Call("websearch", "search", R"({"query":"tasker durable","limit":2})");
  ASSERT_TRUE(ok.has_result_json()) << ok.error().message();
  const Json results = ResultJson(ok);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]["title"], "Result 0 for tasker durable");
  EXPECT_EQ(results[0]["url"], "https://example.com/0");
  EXPECT_EQ(results[0]["snippet"], "Snippet 0");
  EXPECT_EQ(Refusal("websearch", "search", R"({"limit":2})").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Refusal("websearch", "search", R"({"query":"x","limit":500})").code(),
            absl::StatusCode::kInvalidArgument);

  search_->FailNext(1, 429);
  auto limited = Call("websearch", "search", R"({"query":"x"})");
  ASSERT_TRUE(limited.has_error());
  EXPECT_EQ(limited.error().code(), "HTTP_429");
  EXPECT_TRUE(limited.error().retryable());
  search_->FailNext(1, 503);
  auto down = Call("websearch", "search", R"({"query":"x"})");
  EXPECT_TRUE(down.error().retryable());
  search_->SetDelayMs(1500);
  auto slow = Call("websearch", "search", R"({"query":"x"})", 300);
  EXPECT_EQ(slow.error().code(), "TIMEOUT");
  EXPECT_TRUE(slow.error().retryable());
  search_->SetDelayMs(0);
  search_->SetMalformed(true);
  auto malformed = Call("websearch", "search", R"({"query":"x"})");
  EXPECT_EQ(malformed.error().code(), "MALFORMED_RESPONSE");
  EXPECT_FALSE(malformed.error().retryable());
}

TEST_F(ProxyTest, WebSearchWithAWrongKeyIsAFinalAuthError) {
  secrets_ = std::make_unique<StaticSecrets>(std::map<std::string, std::string>{{"global/WEBSEARCH_API_KEY", "wrong"}});
  ProviderConfig config;
  config.websearch_base_url = search_->base_url();
  ProxyCore core;
  core.Register(NewWebSearchProvider(secrets_.get(), config));
  v1::CallRequest request;
  request.set_service("websearch");
  request.set_method("search");
  request.set_args_json(Value(R"({"query":"x"})"));
  request.mutable_caller()->set_task_identifier("search-task");
  request.mutable_caller()->add_permissions("websearch:search");
  auto response = core.Call(request);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->error().code(), "HTTP_401");
  EXPECT_FALSE(response->error().retryable());
  EXPECT_NE(response->error().message().find("missing or wrong subscription token"), std::string::npos);
}

TEST_F(ProxyTest, OpenAiMethods) {
  auto chat = Call("openai", "chat.completions.create",
                   R"([{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}])");
  EXPECT_EQ(ResultJson(chat)["choices"][0]["message"]["content"], "echo: hi");
  EXPECT_EQ(Refusal("openai", "chat.completions.create", R"({"model":"m"})").code(),
            absl::StatusCode::kInvalidArgument);
  auto embed = Call("openai", "embeddings.create", R"({"model":"text-embedding-3-small","input":"x"})");
  EXPECT_EQ(ResultJson(embed)["data"][0]["embedding"].size(), 3u);
  auto models = Call("openai", "models.list", "{}");
  EXPECT_EQ(ResultJson(models)["data"].size(), 2u);
  auto missing = Call("openai", "models.retrieve", R"({"model":"gpt-99"})");
  ASSERT_TRUE(missing.has_error());
  EXPECT_EQ(missing.error().code(), "HTTP_404");
  EXPECT_FALSE(missing.error().retryable());
  EXPECT_NE(missing.error().message().find("does not exist"), std::string::npos);
  openai_->FailNext(1, 500);
  EXPECT_TRUE(Call("openai", "models.list", "{}").error().retryable());
}

TEST_F(ProxyTest, GoogleDirectoryAndGmailWithDelegationAndPaging) {
  auto domains = Call("gapi", "admin.domains.list", R"([{"customer":"my_customer"}])");
  ASSERT_TRUE(domains.has_result_json()) << domains.error().message();
  EXPECT_EQ(ResultJson(domains)["domains"].size(), 2u);

  auto page1 = Call("gapi", "admin.users.list", R"({"domain":"example.com","maxResults":2})");
  ASSERT_TRUE(page1.has_result_json()) << page1.error().message();
  Json users = ResultJson(page1);
  EXPECT_EQ(users["users"].size(), 2u);
  ASSERT_TRUE(users.contains("nextPageToken"));
  auto page2 = Call("gapi", "admin.users.list",
                    absl::StrCat(R"({"domain":"example.com","maxResults":2,"pageToken":")",
                                 users["nextPageToken"].get<std::string>(), R"("})"));
  Json rest = ResultJson(page2);
  EXPECT_EQ(rest["users"].size(), 1u);
  EXPECT_EQ(rest["users"][0]["primaryEmail"], "carol@example.com");
  EXPECT_FALSE(rest.contains("nextPageToken"));

  // Gmail impersonates the mailbox owner (the emulator checks sub == userId).
  auto list = Call("gapi", "gmail.users.messages.list", R"({"userId":"alice@example.com","maxResults":3})");
  ASSERT_TRUE(list.has_result_json()) << list.error().message();
  Json messages = ResultJson(list);
  EXPECT_EQ(messages["messages"].size(), 3u);
  EXPECT_EQ(messages["nextPageToken"], "3");
  auto get = Call("gapi", "gmail.users.messages.get",
                  R"({"userId":"alice@example.com","id":"alice-m1","format":"metadata","metadataHeaders":["Subject"]})");
  ASSERT_TRUE(get.has_result_json()) << get.error().message();
  EXPECT_EQ(ResultJson(get)["payload"]["headers"][0]["value"], "Subject 1");
  auto missing = Call("gapi", "gmail.users.messages.get", R"({"userId":"alice@example.com","id":"alice-m99"})");
  EXPECT_EQ(missing.error().code(), "HTTP_404");
  EXPECT_EQ(Refusal("gapi", "gmail.users.messages.get", R"({"userId":"alice@example.com"})").code(),
            absl::StatusCode::kInvalidArgument);
  // A user outside the delegation: the token exchange is refused.
  auto stranger = Call("gapi", "gmail.users.messages.list", R"({"userId":"mallory@evil.com"})");
  ASSERT_TRUE(stranger.has_error());
  EXPECT_EQ(stranger.error().code(), "AUTH");
  EXPECT_NE(stranger.error().message().find("unauthorized_client"), std::string::npos) << stranger.error().message();

  auto generic = Call("gapi", "request",
                      R"({"path":"/admin/directory/v1/customer/my_customer/domains",
                          "scopes":["https://www.googleapis.com/auth/admin.directory.domain.readonly"]})");
  EXPECT_EQ(ResultJson(generic)["domains"].size(), 2u) << generic.error().message();
}

TEST_F(ProxyTest, CallsOutsideTheTasksGrantsAreDeniedBeforeReachingTheService) {
  grants_ = {"gapi:admin.users.list", "gapi:gmail.* as subject=*@example.com", "openai:chat.*"};
  const int tokens_before = google_->tokens_issued();
  // A method it was not granted: refused, naming the permission, and Google never asked.
  auto domains = Call("gapi", "admin.domains.list", R"({"customer":"my_customer"})");
  EXPECT_EQ(domains.error().code(), "PERMISSION_DENIED") << domains.DebugString();
  EXPECT_NE(domains.error().message().find("missing permission 'gapi:admin.domains.list'"), std::string::npos)
      << domains.error().message();
  EXPECT_FALSE(domains.error().retryable());
  // Acting as a user outside the granted subjects: refused.
  auto other = Call("gapi", "gmail.users.messages.list", R"({"userId":"eve@example.org"})");
  EXPECT_EQ(other.error().code(), "PERMISSION_DENIED") << other.DebugString();
  EXPECT_NE(other.error().message().find("as subject=eve@example.org"), std::string::npos);
  // The generic request method with a chosen subject is checked the same way.
  auto generic = Call("gapi", "request", R"({"path":"/x","scopes":["s"],"subject":"ceo@example.com"})");
  EXPECT_EQ(generic.error().code(), "PERMISSION_DENIED") << generic.DebugString();
  EXPECT_EQ(google_->tokens_issued(), tokens_before);  // no token minted for a refused subject
  EXPECT_EQ(google_->Count("GET /admin/directory/v1/customer/my_customer/domains"), 0);
  EXPECT_EQ(google_->Count("GET /gmail/v1/users/eve@example.org/messages"), 0);
  // What it was granted works: the admin's directory, a mailbox in the granted domain.
  auto users = Call("gapi", "admin.users.list", R"({"domain":"example.com"})");
  EXPECT_TRUE(users.has_result_json()) << users.DebugString();
  auto mail = Call("gapi", "gmail.users.messages.list", R"({"userId":"alice@example.com"})");
  EXPECT_TRUE(mail.has_result_json()) << mail.DebugString();
  // Nothing declared: nothing allowed.
  grants_ = {};
  auto none = Call("openai", "models.list", "{}");
  EXPECT_EQ(none.error().code(), "PERMISSION_DENIED");
  EXPECT_NE(none.error().message().find("declares no permissions"), std::string::npos);
  // A call naming no task at all is refused outright.
  v1::CallRequest anonymous;
  anonymous.set_service("gapi");
  anonymous.set_method("admin.users.list");
  EXPECT_EQ(core_->Call(anonymous).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(ProxyTest, GoogleTokensAreCachedAndRefreshedWhenRevoked) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Call("gapi", "admin.domains.list", "{}").has_result_json());
  EXPECT_EQ(google_->tokens_issued(), 1);
  ASSERT_TRUE(Call("gapi", "gmail.users.messages.list", R"({"userId":"dave@example.org"})").has_result_json());
  EXPECT_EQ(google_->tokens_issued(), 2);  // another (subject, scopes)
  google_->RevokeAllTokens();
  auto after = Call("gapi", "admin.domains.list", "{}");
  ASSERT_TRUE(after.has_result_json()) << after.error().message();
  EXPECT_EQ(google_->tokens_issued(), 3);
  // Short-lived tokens are renewed before they expire.
  google_->SetTokenLifetime(30);
  google_provider_->ClearTokenCache();
  ASSERT_TRUE(Call("gapi", "admin.domains.list", "{}").has_result_json());
  ASSERT_TRUE(Call("gapi", "admin.domains.list", "{}").has_result_json());
  EXPECT_EQ(google_->tokens_issued(), 5);
}

TEST_F(ProxyTest, GoogleRejectsAssertionsSignedByAnotherKey) {
  emulators::TestServiceAccount impostor = emulators::MakeTestServiceAccount();
  Build(impostor.KeyJson(google_->token_url()));
  auto denied = Call("gapi", "admin.domains.list", "{}");
  ASSERT_TRUE(denied.has_error());
  EXPECT_EQ(denied.error().code(), "AUTH");
  EXPECT_FALSE(denied.error().retryable());
  EXPECT_NE(denied.error().message().find("Invalid JWT Signature"), std::string::npos) << denied.error().message();
  Build("{not json");
  EXPECT_EQ(Call("gapi", "admin.domains.list", "{}").error().code(), "CREDENTIALS");
}

TEST_F(ProxyTest, GoogleServerErrorsAreRetryable) {
  ASSERT_TRUE(Call("gapi", "admin.domains.list", "{}").has_result_json());
  google_->FailNext(1, 503);
  auto down = Call("gapi", "admin.domains.list", "{}");
  EXPECT_EQ(down.error().code(), "HTTP_503");
  EXPECT_TRUE(down.error().retryable());
}

// The database provider behind ProxyCore: args as JSON text in, the
// database's errors as the response's error (services/proxy/app_database_test
// covers the provider on real databases).
TEST(DatabaseProviderTest, AnswersThroughTheProxyCore) {
  auto db = AppDatabase::Open("sqlite::memory:");
  ASSERT_TRUE(db.ok()) << db.status();
  ProxyCore core;
  core.Register(NewDatabaseProvider(db->get()));
  v1::CallRequest request;
  request.mutable_caller()->set_task_identifier("db-task");
  request.mutable_caller()->add_permissions("database:*");
  request.set_service("database");
  request.set_method("select");
  request.set_args_json(R"({"table":"orders","filters":[{"column":"id","op":"eq","value":1}]})");
  auto missing = core.Call(request);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->error().code(), "DATABASE_ERROR");
  EXPECT_NE(missing->error().message().find("no such table: orders"), std::string::npos) << missing->error().message();
  EXPECT_FALSE(missing->error().retryable());
  EXPECT_EQ(Json::parse(missing->error().details_json())["backend"], "sqlite");
  request.set_method("delete");
  request.set_args_json(R"({"table":"orders"})");
  auto unfiltered = core.Call(request);
  EXPECT_EQ(unfiltered.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unfiltered.status().message().find("args.filters: required"), std::string::npos) << unfiltered.status();
  // The old read-only views of Tasker's runs and functions are gone.
  request.set_method("taskRuns.list");
  request.set_args_json("{}");
  auto gone = core.Call(request);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(gone.status().message().find("supported: select, insert, update, delete, upsert"), std::string::npos)
      << gone.status();

  ProxyCore unconfigured;
  unconfigured.Register(NewDatabaseProvider(nullptr));
  request.set_method("select");
  auto answer = unconfigured.Call(request);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->error().code(), "NOT_CONFIGURED");
  EXPECT_EQ(answer->error().message(), "database: no application database configured (--app_database_url)");
}


// A ProxyCore call as a task granted `permissions`.
absl::StatusOr<v1::CallResponse> CallAs(ProxyCore& core, const std::string& service, const std::string& method,
                                        const std::string& args_json, const std::vector<std::string>& permissions,
                                        int64_t deadline_ms = 0) {
  v1::CallRequest request;
  request.set_service(service);
  request.set_method(method);
  request.set_args_json(args_json);
  request.set_deadline_ms(deadline_ms);
  request.set_idempotency_key("run_1/sr_1");
  request.mutable_caller()->set_task_run_id("run_1");
  request.mutable_caller()->set_task_identifier("proxy-test");
  request.mutable_caller()->set_task_version(1);
  for (const auto& p : permissions) request.mutable_caller()->add_permissions(p);
  return core.Call(request);
}

// ---------------------------------------------------------------------------
// websearch without a key: DuckDuckGo's HTML page, parsed.

TEST_F(ProxyTest, WebSearchWithoutAKeyParsesDuckDuckGosPage) {
  emulators::DuckDuckGoEmulator ddg;
  ASSERT_TRUE(ddg.Start());
  StaticSecrets no_key(std::map<std::string, std::string>{});
  ProviderConfig config;
  config.websearch_base_url = search_->base_url();
  config.websearch_keyless_base_url = ddg.base_url() + "/html/";
  ProxyCore core;
  core.Register(NewWebSearchProvider(&no_key, config));
  auto response = CallAs(core, "websearch", "search", R"({"query":"tasker & durable"})", {"websearch:search"});
  ASSERT_TRUE(response.ok()) << response.status();
  const Json results = ResultJson(*response);
  // The ad is left out; links come out of DuckDuckGo's redirector, entities decoded, tags dropped.
  EXPECT_EQ(results.dump(),
            Json::parse(R"([
              {"title":"Durable execution & you","url":"https://example.com/durable?x=1&y=2",
               "snippet":"Snippet 0 about tasker & durable & more."},
              {"title":"Tasks \"explained\"","url":"https://docs.example.org/tasks/",
               "snippet":"Snippet 1 about tasker & durable & more."},
              {"title":"It's a blog","url":"https://blog.example.net/it's",
               "snippet":"Snippet 2 about tasker & durable & more."}])").dump());
  EXPECT_EQ(ddg.last_query(), "tasker & durable");
  EXPECT_EQ(search_->TotalRequests(), 0);  // the keyed API is not asked
  EXPECT_EQ(ResultJson(*CallAs(core, "websearch", "search", R"({"query":"x","limit":2})", {"*"})).size(), 2u);
  // The old platform's positional forms answer its shape, {query, results, timestamp}.
  const Json old = ResultJson(*CallAs(core, "websearch", "search", R"(["tasker"])", {"*"}));
  EXPECT_EQ(old["query"], "tasker");
  EXPECT_EQ(old["results"].size(), 3u);
  EXPECT_TRUE(old["timestamp"].is_string());
  EXPECT_EQ(ResultJson(*CallAs(core, "websearch", "search", R"([{"query":"tasker","limit":1}])", {"*"}))["results"].size(),
            1u);
  EXPECT_EQ(ResultJson(*CallAs(core, "websearch", "search", R"("tasker")", {"*"}))["query"], "tasker");
  // No results: an empty list.
  EXPECT_EQ(ResultJson(*CallAs(core, "websearch", "search", R"({"query":"nothing-matches-this"})", {"*"})), Json::array());
  // The bot challenge: retryable.
  ddg.SetChallenge(true);
  auto challenged = CallAs(core, "websearch", "search", R"({"query":"x"})", {"*"});
  ASSERT_TRUE(challenged.ok());
  EXPECT_EQ(challenged->error().code(), "RATE_LIMITED");
  EXPECT_TRUE(challenged->error().retryable());
  ddg.SetChallenge(false);
  ddg.FailNext(1, 503);
  EXPECT_TRUE(CallAs(core, "websearch", "search", R"({"query":"x"})", {"*"})->error().retryable());
  // Bad input names the field.
  for (const auto& [args, field] : std::vector<std::pair<std::string, std::string>>{
           {R"({"query":""})", "args.query"}, {R"({"query":"x","limit":0})", "args.limit"},
           {R"({"query":"x","safe":true})", "args.safe"}, {R"(["x",{"limit":"5"}])", "args[1].limit"},
           {R"(["x",5])", "args"}, {R"(5)", "args"}}) {
    auto refused = CallAs(core, "websearch", "search", args, {"*"});
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << args;
    EXPECT_NE(refused.status().message().find(field), std::string::npos) << args << ": " << refused.status();
  }
}

TEST(DuckDuckGoParseTest, MarkupWithoutResultsOrNoticeIsMalformed) {
  EXPECT_EQ(ParseDuckDuckGoHtml("<html><div class=\"no-results\">No results.</div></html>", 5)->size(), 0u);
  EXPECT_EQ(ParseDuckDuckGoHtml("<html><body>something else</body></html>", 5).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A result link that is not wrapped, and a protocol-relative one.
  auto direct = ParseDuckDuckGoHtml(
      "<div class=\"result\"><a class=\"result__a\" href=\"https://a.example/\">A</a>"
      "<div class=\"result__snippet\">one &lt;two&gt;</div></div>"
      "<div class=\"result\"><a href=\"//b.example/x\" class=\"result__a\">B &#8211; b</a></div>",
      5);
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(direct->dump(), Json::parse(R"([{"title":"A","url":"https://a.example/","snippet":"one <two>"},
                                            {"title":"B \u2013 b","url":"https://b.example/x","snippet":""}])")
                                .dump());
}

// ---------------------------------------------------------------------------
// gapi: the old call shapes, and the emulator answering as Google does.

TEST_F(ProxyTest, GoogleUsersListWithoutArgsListsTheWholeAccount) {
  for (const char* args : {"{}", "[{}]", "null", "[]"}) {
    auto all = Call("gapi", "admin.users.list", args);
    ASSERT_TRUE(all.has_result_json()) << args << ": " << all.error().message();
    const Json users = ResultJson(all)["users"];
    ASSERT_EQ(users.size(), 4u) << args;
    std::vector<std::string> emails;
    for (const auto& u : users) {
      emails.push_back(u["primaryEmail"]);
      // Directory ids: numeric strings, the same on every call.
      const std::string id = u["id"];
      EXPECT_EQ(id.size(), 21u);
      EXPECT_EQ(id.find_first_not_of("0123456789"), std::string::npos) << id;
      EXPECT_EQ(id, emulators::GoogleUserId(u["primaryEmail"]));
    }
    EXPECT_EQ(emails, (std::vector<std::string>{"alice@example.com", "bob@example.com", "carol@example.com",
                                                 "dave@example.org"}));
  }
  EXPECT_EQ(google_->Count("GET /admin/directory/v1/users"), 4);
  // Paging over the whole account.
  Json page = ResultJson(Call("gapi", "admin.users.list", R"({"customer":"my_customer","maxResults":3})"));
  EXPECT_EQ(page["users"].size(), 3u);
  EXPECT_EQ(page["nextPageToken"], "3");
  // maxResults outside 1..500: Google's 400, final.
  for (const char* args : {R"({"maxResults":501})", R"({"maxResults":0})", R"({"domain":"example.com","maxResults":1000})"}) {
    auto bounded = Call("gapi", "admin.users.list", args);
    ASSERT_TRUE(bounded.has_error()) << args;
    EXPECT_EQ(bounded.error().code(), "HTTP_400");
    EXPECT_FALSE(bounded.error().retryable());
    EXPECT_NE(bounded.error().message().find("within the range: [1, 500]"), std::string::npos)
        << bounded.error().message();
    const Json details = Json::parse(bounded.error().details_json());
    EXPECT_EQ(details["error"]["errors"][0]["reason"], "invalid");
    EXPECT_EQ(details["error"]["status"], "INVALID_ARGUMENT");
  }
  EXPECT_TRUE(Call("gapi", "admin.users.list", R"({"maxResults":500})").has_result_json());
  auto gmail = Call("gapi", "gmail.users.messages.list", R"({"userId":"alice@example.com","maxResults":501})");
  EXPECT_EQ(gmail.error().code(), "HTTP_400");
  EXPECT_TRUE(Call("gapi", "gmail.users.messages.list", R"({"userId":"alice@example.com","maxResults":500})")
                  .has_result_json());
  // Another customer: Google's 400.
  EXPECT_EQ(Call("gapi", "admin.users.list", R"({"customer":"C999"})").error().code(), "HTTP_400");
  EXPECT_TRUE(Call("gapi", "admin.users.list", R"({"customer":"C01abc2de"})").has_result_json());
}

TEST_F(ProxyTest, GoogleEmulatorAnswersWithADateHeader) {
  httplib::Client client(google_->base_url());
  for (const char* path : {"/admin/directory/v1/users?customer=my_customer", "/gmail/v1/users/me/messages"}) {
    auto answer = client.Get(path);  // no token: 401, as Google answers
    ASSERT_TRUE(answer) << path;
    EXPECT_EQ(answer->status, 401);
    const std::string date = answer->get_header_value("Date");
    absl::Time parsed;
    std::string error;
    ASSERT_TRUE(absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", date, absl::UTCTimeZone(), &parsed, &error))
        << date << ": " << error;
    EXPECT_LT(absl::AbsDuration(absl::Now() - parsed), absl::Minutes(1)) << date;
  }
}

// ---------------------------------------------------------------------------
// http: a task's fetch.

class HttpFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(bin_.Start());
    HttpProviderOptions options;
    options.allow_private = true;  // the emulator is on loopback
    options.max_response_bytes = 1 << 20;
    core_.Register(NewHttpProvider(options));
  }

  absl::StatusOr<v1::CallResponse> Fetch(const Json& args, int64_t deadline_ms = 0) {
    return CallAs(core_, "http", "fetch", args.dump(), grants_, deadline_ms);
  }
  // The answer of a fetch that must succeed.
  Json Ok(const Json& args) {
    auto response = Fetch(args);
    EXPECT_TRUE(response.ok()) << args.dump() << ": " << response.status();
    if (!response.ok()) return nullptr;
    return ResultJson(*response);
  }
  std::string Url(const std::string& path) const { return bin_.base_url() + path; }

  emulators::HttpBinEmulator bin_;
  ProxyCore core_;
  std::vector<std::string> grants_ = {"http:fetch"};
};

TEST_F(HttpFetchTest, RequestsAndResponsesAsFetchGivesThem) {
  // GET: status, lower-case headers, the final URL.
  Json got = Ok({{"url", Url("/anything/x?a=1&b=two")}});
  EXPECT_EQ(got["status"], 200);
  EXPECT_EQ(got["statusText"], "OK");
  EXPECT_EQ(got["url"], Url("/anything/x?a=1&b=two"));
  EXPECT_EQ(got["redirected"], false);
  EXPECT_EQ(got["bodyEncoding"], "utf8");
  EXPECT_EQ(got["headers"]["content-type"], "application/json");
  EXPECT_TRUE(got["headers"].contains("date"));
  const Json echoed = Json::parse(got["body"].get<std::string>());
  EXPECT_EQ(echoed["method"], "GET");
  EXPECT_EQ(echoed["query"]["b"], "two");
  EXPECT_EQ(echoed["headers"]["user-agent"], "Tasker-fetch/1");
  // POST with headers and a string body (text/plain by default, as fetch).
  Json posted = Ok({{"url", Url("/anything")},
                    {"method", "post"},
                    {"headers", {{"X-Token", "t1"}, {"Content-Type", "application/json"}}},
                    {"body", R"({"k":"v"})"}});
  const Json post_echo = Json::parse(posted["body"].get<std::string>());
  EXPECT_EQ(post_echo["method"], "POST");
  EXPECT_EQ(post_echo["headers"]["x-token"], "t1");
  EXPECT_EQ(post_echo["headers"]["content-type"], "application/json");
  EXPECT_EQ(post_echo["body"], R"({"k":"v"})");
  EXPECT_EQ(Json::parse(Ok({{"url", Url("/anything")}, {"method", "PUT"}, {"body", "x"}})["body"].get<std::string>())
                ["headers"]["content-type"],
            "text/plain;charset=UTF-8");
  // Bytes in and out as base64.
  Json bytes_in = Ok({{"url", Url("/anything")}, {"method", "POST"}, {"body", "AP8Q"}, {"bodyEncoding", "base64"}});
  EXPECT_EQ(Json::parse(bytes_in["body"].get<std::string>())["bodyBase64"], "AP8Q");
  Json bytes_out = Ok({{"url", Url("/bytes/4")}});
  EXPECT_EQ(bytes_out["bodyEncoding"], "base64");
  EXPECT_EQ(bytes_out["body"], "gIGCgw==");
  // Non-2xx is a result, not an error.
  Json missing = Ok({{"url", Url("/status/404")}});
  EXPECT_EQ(missing["status"], 404);
  EXPECT_EQ(missing["statusText"], "Not Found");
  EXPECT_EQ(missing["body"], "status 404");
  EXPECT_EQ(Ok({{"url", Url("/status/503")}})["status"], 503);
  // Repeated headers are joined, as fetch's Headers.get does.
  EXPECT_EQ(Ok({{"url", Url("/headers-multi")}})["headers"]["set-cookie"], "a=1, b=2");
  // fetch(url, init) positional, and fetch(url).
  EXPECT_EQ(Ok(Json::array({Url("/anything"), {{"method", "DELETE"}}}))["status"], 200);
  EXPECT_EQ(Ok(Json::array({Url("/status/201")}))["status"], 201);
  // Browser-only init members are accepted and ignored.
  EXPECT_EQ(Ok({{"url", Url("/anything")}, {"mode", "cors"}, {"credentials", "omit"}})["status"], 200);
}

TEST_F(HttpFetchTest, RedirectsAreFollowedUpToFive) {
  Json three = Ok({{"url", Url("/redirect/3")}});
  EXPECT_EQ(three["status"], 200);
  EXPECT_EQ(three["url"], Url("/anything"));
  EXPECT_EQ(three["redirected"], true);
  EXPECT_EQ(bin_.Count("GET /redirect/0"), 1);
  EXPECT_EQ(Ok({{"url", Url("/redirect/4")}})["status"], 200);  // five redirects
  auto six = Fetch({{"url", Url("/redirect/5")}});
  ASSERT_TRUE(six.ok());
  EXPECT_EQ(six->error().code(), "TOO_MANY_REDIRECTS");
  EXPECT_FALSE(six->error().retryable());
  // redirect: 'manual' answers the 3xx; 'error' fails.
  Json manual = Ok({{"url", Url("/redirect/1")}, {"redirect", "manual"}});
  EXPECT_EQ(manual["status"], 302);
  EXPECT_EQ(manual["headers"]["location"], "/redirect/0");
  EXPECT_EQ(Fetch({{"url", Url("/redirect/1")}, {"redirect", "error"}})->error().code(), "REDIRECT");
  // 303 turns a POST into a body-less GET; 307 repeats it.
  Json see_other = Ok({{"url", Url("/redirect-to?status=303&url=/anything/after")}, {"method", "POST"}, {"body", "b"}});
  const Json after = Json::parse(see_other["body"].get<std::string>());
  EXPECT_EQ(after["method"], "GET");
  EXPECT_EQ(after["body"], "");
  EXPECT_FALSE(after["headers"].contains("content-type"));
  Json temporary = Ok({{"url", Url("/redirect-to?status=307&url=/anything/again")}, {"method", "PUT"}, {"body", "b"}});
  const Json again = Json::parse(temporary["body"].get<std::string>());
  EXPECT_EQ(again["method"], "PUT");
  EXPECT_EQ(again["body"], "b");
  // Credentials stay with their origin: localhost is another origin than 127.0.0.1.
  const std::string other = absl::StrCat("http://localhost:", bin_.port(), "/anything");
  Json crossed = Ok({{"url", Url("/redirect-to?url=" + other)},
                     {"headers", {{"Authorization", "Bearer secret"}, {"X-Keep", "1"}}}});
  EXPECT_EQ(crossed["url"], other);
  const Json crossed_echo = Json::parse(crossed["body"].get<std::string>());
  EXPECT_FALSE(crossed_echo["headers"].contains("authorization")) << crossed_echo.dump();
  EXPECT_EQ(crossed_echo["headers"]["x-keep"], "1");
  Json same = Ok({{"url", Url("/redirect-to?url=/anything")}, {"headers", {{"Authorization", "Bearer secret"}}}});
  EXPECT_EQ(Json::parse(same["body"].get<std::string>())["headers"]["authorization"], "Bearer secret");
}

TEST_F(HttpFetchTest, FailuresAreRetryableOrFinalAsTheyShouldBe) {
  // Nothing listening: retryable.
  emulators::HttpBinEmulator closed;
  ASSERT_TRUE(closed.Start());
  const std::string closed_url = closed.base_url() + "/anything";
  closed.Stop();
  auto refused = Fetch({{"url", closed_url}});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->error().code(), "UNAVAILABLE");
  EXPECT_TRUE(refused->error().retryable());
  // Past the call's deadline: retryable.
  bin_.SetDelayMs(1500);
  auto slow = Fetch({{"url", Url("/anything")}}, 300);
  EXPECT_EQ(slow->error().code(), "TIMEOUT");
  EXPECT_TRUE(slow->error().retryable());
  bin_.SetDelayMs(0);
  // Over the size limit: final.
  auto large = Fetch({{"url", Url("/large/2000000")}});
  EXPECT_EQ(large->error().code(), "RESPONSE_TOO_LARGE");
  EXPECT_FALSE(large->error().retryable());
  EXPECT_EQ(Ok({{"url", Url("/large/1000000")}})["body"].get<std::string>().size(), 1000000u);
  // A name that does not resolve: final.
  auto unknown = Fetch({{"url", "http://no-such-host.invalid/"}});
  EXPECT_EQ(unknown->error().code(), "UNRESOLVED_HOST");
  EXPECT_FALSE(unknown->error().retryable());
}

TEST_F(HttpFetchTest, BadRequestsNameTheField) {
  const std::vector<std::pair<Json, std::string>> cases = {
      {Json::object(), "args.url: required"},
      {{{"url", 5}}, "args.url: expected a string"},
      {{{"url", "ftp://example.com/"}}, "args.url: only http and https"},
      {{{"url", "file:///etc/passwd"}}, "args.url"},
      {{{"url", "/relative"}}, "args.url"},
      {{{"url", "http://user:pw@example.com/"}}, "args.url: credentials in the URL"},
      {{{"url", "http://exa mple.com/"}}, "args.url"},
      {{{"url", Url("/anything")}, {"method", "GET"}, {"body", "x"}}, "args.body: a GET or HEAD request"},
      {{{"url", Url("/anything")}, {"method", "CONNECT"}}, "args.method"},
      {{{"url", Url("/anything")}, {"method", "GE T"}}, "args.method"},
      {{{"url", Url("/anything")}, {"headers", {{"Host", "evil"}}}}, "args.headers.Host"},
      {{{"url", Url("/anything")}, {"headers", {{"X-A", "a\r\nX-B: b"}}}}, "args.headers.X-A"},
      {{{"url", Url("/anything")}, {"headers", {{"Bad Name", "x"}}}}, "args.headers.Bad Name"},
      {{{"url", Url("/anything")}, {"headers", "x"}}, "args.headers"},
      {{{"url", Url("/anything")}, {"headers", Json::array({Json::array({"a"})})}}, "args.headers[0]"},
      {{{"url", Url("/anything")}, {"method", "POST"}, {"body", {{"a", 1}}}}, "args.body: expected a string"},
      {{{"url", Url("/anything")}, {"method", "POST"}, {"body", "!"}, {"bodyEncoding", "base64"}}, "args.body: not base64"},
      {{{"url", Url("/anything")}, {"bodyEncoding", "hex"}}, "args.bodyEncoding"},
      {{{"url", Url("/anything")}, {"redirect", "follow-all"}}, "args.redirect"},
      {{{"url", Url("/anything")}, {"timeout", 5}}, "args.timeout: unknown member"},
      {Json::array({Url("/anything"), 5}), "args[1]"},
  };
  for (const auto& [args, field] : cases) {
    auto refused = Fetch(args);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << args.dump();
    EXPECT_NE(refused.status().message().find(field), std::string::npos) << args.dump() << ": " << refused.status();
  }
  EXPECT_EQ(bin_.TotalRequests(), 0);
}

TEST_F(HttpFetchTest, UrlGrantsNarrowWhereFetchMayGo) {
  grants_ = {absl::StrCat("http:fetch as url=", Url("/anything*"))};
  EXPECT_EQ(Ok({{"url", Url("/anything/ok")}})["status"], 200);
  auto other = Fetch({{"url", Url("/status/200")}});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->error().code(), "PERMISSION_DENIED");
  EXPECT_NE(other->error().message().find("as url=" + Url("/status/200")), std::string::npos)
      << other->error().message();
  EXPECT_EQ(bin_.Count("GET /status/200"), 0);
  // Each redirect target is checked: /redirect-to is not granted; grant it, and the target is refused.
  grants_.push_back(absl::StrCat("http:fetch as url=", Url("/redirect-to*")));
  auto redirected = Fetch({{"url", Url("/redirect-to?url=/status/200")}});
  EXPECT_EQ(redirected->error().code(), "PERMISSION_DENIED");
  EXPECT_EQ(bin_.Count("GET /redirect-to"), 1);
  EXPECT_EQ(bin_.Count("GET /status/200"), 0);
  // Another grant entirely: nothing.
  grants_ = {"openai:*"};
  EXPECT_EQ(Fetch({{"url", Url("/anything")}})->error().code(), "PERMISSION_DENIED");
}

TEST(HttpFetchPrivateTest, LoopbackPrivateAndLinkLocalAreRefusedUnlessAllowed) {
  emulators::HttpBinEmulator bin;
  ASSERT_TRUE(bin.Start());
  ProxyCore core;
  core.Register(NewHttpProvider(HttpProviderOptions{}));  // allow_private off: the default
  for (const std::string& url :
       {bin.base_url() + "/anything", absl::StrCat("http://localhost:", bin.port(), "/anything"),
        std::string("http://169.254.169.254/latest/meta-data/"), std::string("http://10.0.0.1/"),
        std::string("http://[::1]:1/"), std::string("http://[::ffff:127.0.0.1]:1/"), std::string("http://0.0.0.0:1/")}) {
    auto response = CallAs(core, "http", "fetch", Json{{"url", url}}.dump(), {"*"});
    ASSERT_TRUE(response.ok()) << url << ": " << response.status();
    EXPECT_EQ(response->error().code(), "PERMISSION_DENIED") << url;
    EXPECT_NE(response->error().message().find("--http_allow_private"), std::string::npos)
        << response->error().message();
  }
  EXPECT_EQ(bin.TotalRequests(), 0);
  // A public site redirecting to a private address is refused at the hop
  // (the redirect target is checked like the first URL): covered by
  // UrlGrantsNarrowWhereFetchMayGo's per-hop check and IsNonPublicAddress.
}

TEST(HttpFetchPrivateTest, AddressClassification) {
  for (const char* address : {"127.0.0.1", "127.1.2.3", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                              "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::",
                              "fe80::1", "fd00::1", "fc00::1", "ff02::1", "::ffff:10.0.0.1", "64:ff9b::7f00:1",
                              "2002:a00:1::", "not-an-address"}) {
    EXPECT_TRUE(IsNonPublicAddress(address)) << address;
  }
  for (const char* address : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1", "100.128.0.1", "2606:4700::1111",
                              "::ffff:8.8.8.8", "2002:808:808::"}) {
    EXPECT_FALSE(IsNonPublicAddress(address)) << address;
  }
}

TEST(HttpFetchPrivateTest, UrlsAreNormalized) {
  auto url = ParseHttpUrl("HTTPS://API.Example.COM:443/a/b?x=1#frag", "args.url");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->url, "https://api.example.com/a/b?x=1");
  EXPECT_EQ(url->origin, "https://api.example.com");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(ParseHttpUrl("http://example.com", "u")->url, "http://example.com/");
  EXPECT_EQ(ParseHttpUrl("http://example.com:8080/x", "u")->origin, "http://example.com:8080");
  EXPECT_EQ(ParseHttpUrl("http://[::1]:8080/x", "u")->host, "::1");
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("ab\xe2\x82"));        // truncated
}

// ---------------------------------------------------------------------------
// Configured HTTP services (--services_config).

constexpr char kWeatherConfig[] = R"({"services": {"weather": {
    "base_url": "BASE",
    "auth": {"keystore_key": "WEATHER_KEY", "header": "Authorization", "prefix": "Bearer "},
    "timeout_ms": 2000,
    "methods": {
      "current": {"method": "GET", "path": "/v1/current/{city}", "query": ["units"]},
      "report": {"method": "POST", "path": "/v1/reports", "body": true},
      "text": {"path": "/v1/text"}}}}})";

std::string WithBase(std::string config, const std::string& base) {
  config.replace(config.find("BASE"), 4, base);
  return config;
}

TEST(ServicesConfigTest, ACallBecomesTheDeclaredRequest) {
  emulators::WeatherEmulator weather("w-key");
  ASSERT_TRUE(weather.Start());
  auto services = ParseServicesConfig(WithBase(kWeatherConfig, weather.base_url() + "/"), {"gapi", "http"});
  ASSERT_TRUE(services.ok()) << services.status();
  ASSERT_EQ(services->size(), 1u);
  StaticSecrets secrets(std::map<std::string, std::string>{{"global/WEATHER_KEY", "w-key"}});
  ProxyCore core;
  core.Register(NewConfiguredHttpProvider((*services)[0], &secrets, "global"));
  auto services_listed = core.ListServices();
  ASSERT_EQ(services_listed.services_size(), 1);
  EXPECT_EQ(services_listed.services(0).name(), "weather");
  EXPECT_EQ(services_listed.services(0).methods_size(), 3);
  const std::vector<std::string> grants = {"weather:current", "weather:text"};
  // Path parameters percent-encoded (a '/' stays in its segment), listed query parameters appended.
  auto current = CallAs(core, "weather", "current", R"({"city":"São Paulo/SP","units":"metric"})", grants);
  ASSERT_TRUE(current.ok()) << current.status();
  const Json now = ResultJson(*current);
  EXPECT_EQ(now["city"], "São Paulo/SP");
  EXPECT_EQ(now["rawPath"], "/v1/current/S%C3%A3o%20Paulo%2FSP");
  EXPECT_EQ(now["units"], "metric");
  EXPECT_EQ(ResultJson(*CallAs(core, "weather", "current", R"([{"city":"Oslo"}])", grants))["units"], "standard");
  // A text answer comes back as a string.
  EXPECT_EQ(ResultJson(*CallAs(core, "weather", "text", "{}", grants)), "sunny");
  // A body method: the remaining args are the JSON body.
  auto report = CallAs(core, "weather", "report", R"({"station":"s1","readings":[1,2]})", {"weather:*"});
  EXPECT_EQ(ResultJson(*report)["received"]["station"], "s1");
  EXPECT_EQ(ResultJson(*report)["received"]["readings"].dump(), "[1,2]");
  // The grant names the method.
  auto denied = CallAs(core, "weather", "report", R"({"station":"s1"})", grants);
  EXPECT_EQ(denied->error().code(), "PERMISSION_DENIED");
  EXPECT_EQ(weather.Count("POST /v1/reports"), 1);
  // 4xx final with the API's message; 429 and 5xx retryable.
  auto atlantis = CallAs(core, "weather", "current", R"({"city":"Atlantis"})", grants);
  EXPECT_EQ(atlantis->error().code(), "HTTP_404");
  EXPECT_FALSE(atlantis->error().retryable());
  EXPECT_NE(atlantis->error().message().find("weather.current: HTTP 404: city not found"), std::string::npos)
      << atlantis->error().message();
  weather.FailNext(1, 429);
  EXPECT_TRUE(CallAs(core, "weather", "current", R"({"city":"Oslo"})", grants)->error().retryable());
  weather.FailNext(1, 503);
  EXPECT_TRUE(CallAs(core, "weather", "current", R"({"city":"Oslo"})", grants)->error().retryable());
  // The service's timeout bounds the call.
  weather.SetDelayMs(2500);
  auto slow = CallAs(core, "weather", "current", R"({"city":"Oslo"})", grants);
  EXPECT_EQ(slow->error().code(), "TIMEOUT");
  weather.SetDelayMs(0);
  // Bad args name the field, and never reach the API.
  const int before = weather.TotalRequests();
  for (const auto& [args, field] : std::vector<std::pair<std::string, std::string>>{
           {"{}", "args.city: required"}, {R"({"city":""})", "args.city"}, {R"({"city":{"a":1}})", "args.city"},
           {R"({"city":"Oslo","units":{"x":1}})", "args.units"}, {R"({"city":"Oslo","lang":"no"})", "args.lang: not a parameter"},
           {"42", "args"}}) {
    auto refused = CallAs(core, "weather", "current", args, grants);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << args;
    EXPECT_NE(refused.status().message().find(field), std::string::npos) << args << ": " << refused.status();
  }
  EXPECT_EQ(weather.TotalRequests(), before);
  // Without the key in the keystore: a final CREDENTIALS error; a wrong key is the API's 401.
  StaticSecrets none(std::map<std::string, std::string>{});
  StaticSecrets wrong(std::map<std::string, std::string>{{"global/WEATHER_KEY", "nope"}});
  ProxyCore keyless, misconfigured;
  keyless.Register(NewConfiguredHttpProvider((*services)[0], &none, "global"));
  misconfigured.Register(NewConfiguredHttpProvider((*services)[0], &wrong, "global"));
  auto no_key = CallAs(keyless, "weather", "current", R"({"city":"Oslo"})", grants);
  EXPECT_EQ(no_key->error().code(), "CREDENTIALS");
  EXPECT_EQ(no_key->DebugString().find("w-key"), std::string::npos);
  EXPECT_EQ(CallAs(misconfigured, "weather", "current", R"({"city":"Oslo"})", grants)->error().code(), "HTTP_401");
}

TEST(ServicesConfigTest, AKeyCanGoInTheQuery) {
  emulators::WeatherEmulator weather("q-key", /*query_key=*/true);
  ASSERT_TRUE(weather.Start());
  auto services = ParseServicesConfig(
      absl::StrCat(R"({"services":{"owm":{"base_url":")", weather.base_url(),
                   R"(","auth":{"keystore_key":"OWM","query":"appid"},"headers":{"X-Client":"tasker"},)"
                   R"("methods":{"now":{"path":"/v1/current/{city}"}}}}})"),
      {});
  ASSERT_TRUE(services.ok()) << services.status();
  StaticSecrets secrets(std::map<std::string, std::string>{{"ops/OWM", "q-key"}});
  ProxyCore core;
  core.Register(NewConfiguredHttpProvider((*services)[0], &secrets, "ops"));
  auto response = CallAs(core, "owm", "now", R"({"city":"Rome"})", {"owm:now"});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(ResultJson(*response)["city"], "Rome");
}

TEST(ServicesConfigTest, ABadConfigIsRefusedNamingTheKey) {
  const std::set<std::string> builtin = {"gapi", "openai", "websearch", "database", "keystore", "admin-debug", "http"};
  const std::string ok_method = R"("methods":{"m":{"path":"/x"}})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "not valid JSON"},
      {"[]", "expected an object"},
      {R"({"service":{}})", "service: unknown field (known: services)"},
      {R"({"services":[]})", "services: required"},
      {R"({"services":{"gapi":{"base_url":"https://x",)" + ok_method + "}}}", "services.gapi: 'gapi' is a built-in provider"},
      {R"({"services":{"http":{"base_url":"https://x",)" + ok_method + "}}}", "services.http: 'http' is a built-in"},
      {R"({"services":{"we ather":{"base_url":"https://x",)" + ok_method + "}}}", "services.we ather: a service name"},
      {R"({"services":{"w":{"base_url":"https://x","extra":1,)" + ok_method + "}}}", "services.w.extra: unknown field"},
      {R"({"services":{"w":{)" + ok_method + "}}}", "services.w.base_url: required"},
      {R"({"services":{"w":{"base_url":"ftp://x",)" + ok_method + "}}}", "services.w.base_url: only http and https"},
      {R"({"services":{"w":{"base_url":"https://x?a=1",)" + ok_method + "}}}", "services.w.base_url: no query"},
      {R"({"services":{"w":{"base_url":"https://x"}}})", "services.w.methods: required"},
      {R"({"services":{"w":{"base_url":"https://x","timeout_ms":0,)" + ok_method + "}}}", "services.w.timeout_ms"},
      {R"({"services":{"w":{"base_url":"https://x","auth":{"header":"A"},)" + ok_method + "}}}",
       "services.w.auth.keystore_key: required"},
      {R"({"services":{"w":{"base_url":"https://x","auth":{"keystore_key":"K"},)" + ok_method + "}}}",
       "services.w.auth: exactly one of header and query"},
      {R"({"services":{"w":{"base_url":"https://x","auth":{"keystore_key":"K","header":"A","query":"q"},)" + ok_method +
           "}}}",
       "services.w.auth: exactly one"},
      {R"({"services":{"w":{"base_url":"https://x","auth":{"keystore_key":"K","query":"q","prefix":"B "},)" + ok_method +
           "}}}",
       "services.w.auth.prefix"},
      {R"({"services":{"w":{"base_url":"https://x","auth":{"keystore_key":"K","header":"A","token":1},)" + ok_method +
           "}}}",
       "services.w.auth.token: unknown field"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"x"}}}}})", "services.w.methods.m.path: must start with '/'"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/a/{id"}}}}})", "services.w.methods.m.path: '{' without '}'"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/a/id}"}}}}})", "services.w.methods.m.path: '}' without '{'"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/a/{1d}"}}}}})", "services.w.methods.m.path: '{1d}'"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/{a}/{a}"}}}}})", "appears twice"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/a?b=1"}}}}})", "services.w.methods.m.path"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/a","method":"TRACE"}}}}})",
       "services.w.methods.m.method"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/a","body":true}}}}})",
       "services.w.methods.m.body: a GET request has no body"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/{a}","query":["a"]}}}}})",
       "services.w.methods.m.query[0]"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/a","query":"units"}}}}})",
       "services.w.methods.m.query"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/a","verb":"GET"}}}}})",
       "services.w.methods.m.verb: unknown field"},
      {R"({"services":{"w":{"base_url":"https://x","methods":{"m n":{"path":"/a"}}}}})", "services.w.methods.m n"},
      {R"({"services":{"w":{"base_url":"https://x","headers":{"X-A":"a\nb"},)" + ok_method + "}}}",
       "services.w.headers.X-A"},
  };
  for (const auto& [config, message] : cases) {
    auto parsed = ParseServicesConfig(config, builtin);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << config;
    EXPECT_NE(parsed.status().message().find(message), std::string::npos) << config << ": " << parsed.status();
  }
}

}  // namespace
}  // namespace tasker::proxy
