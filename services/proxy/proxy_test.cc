// Each provider's real client code against local emulators that check what
// the real APIs check: auth headers, request shapes, RS256 JWT assertions.
#include "services/proxy/proxy.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/common/json.h"
#include "services/proxy/app_database.h"
#include "services/proxy/google.h"
#include "services/proxy/providers.h"
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

}  // namespace
}  // namespace tasker::proxy
