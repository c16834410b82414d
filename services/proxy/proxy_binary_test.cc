// The wrapped-service-proxy binary with a real keystore (over a real storage
// service) and a SQLite application database: credentials come from the
// keystore, task-readable namespaces only; the database provider serves the
// application database, never Tasker's store.
#include <sqlite3.h>
#include <sys/wait.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tasker/v1/keystore.grpc.pb.h"
#include "tasker/v1/proxy.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "tests/emulators/emulator.h"
#include "tests/support/services.h"

namespace tasker::proxy {
namespace {

namespace v1 = ::tasker::v1;
using tasker::testing::StartService;

constexpr char kMasterKey[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// Storage, keystore and the proxy binary, each its own process, with Google
// emulated: the keystore holds the Google credentials plus `keys`, and the
// "shared" namespace is task-readable. The proxy serves dir/app.db (table
// `notes`) as its application database.
class ProxyStack {
 public:
  struct Key {
    std::string ns, key, value;
  };

  void Start(const std::string& name, const emulators::GoogleFixtures& fixtures,
             const std::vector<std::string>& proxy_flags, const std::vector<Key>& keys) {
    dir_ = tasker::testing::MakeTempDir(name);
    account_ = emulators::MakeTestServiceAccount();
    google_ = std::make_unique<emulators::GoogleEmulator>(account_.client_email, account_.public_key_pem,
                                                          "admin@example.com", fixtures);
    ASSERT_TRUE(google_->Start());
    auto storage = StartService("services/storage/storage-service", "storage", dir_,
                                {"--database_url=sqlite://" + dir_ + "/tasks.db"});
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(*storage);
    auto keystore =
        StartService("services/keystore/keystore", "keystore", dir_, {"--storage=" + storage_.target}, env_);
    ASSERT_TRUE(keystore.ok()) << keystore.status();
    keystore_ = std::move(*keystore);
    // The operator creates the application's tables; tasks only read and
    // write rows.
    sqlite3* app = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/app.db").c_str(), &app), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(app, "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body JSON)", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(app);
    std::vector<std::string> flags = {"--keystore=" + keystore_.target,
                                      "--app_database_url=sqlite://" + dir_ + "/app.db",
                                      "--google_directory_base_url=" + google_->base_url(),
                                      "--google_gmail_base_url=" + google_->base_url()};
    flags.insert(flags.end(), proxy_flags.begin(), proxy_flags.end());
    auto proxy = StartService("services/proxy/wrapped-service-proxy", "proxy", dir_, flags, env_);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);

    auto ks = v1::Keystore::NewStub(*MakeChannel({.target = keystore_.target}));
    std::vector<Key> all = {{"global", "GAPI_KEY", account_.KeyJson(google_->token_url())},
                            {"global", "GAPI_ADMIN_EMAIL", "admin@example.com"}};
    all.insert(all.end(), keys.begin(), keys.end());
    for (const Key& k : all) {
      grpc::ClientContext context;
      v1::SetKeyRequest request;
      request.set_namespace_(k.ns);
      request.set_key(k.key);
      request.set_value(k.value);
      v1::SetKeyResponse response;
      ASSERT_TRUE(ks->SetKey(&context, request, &response).ok());
    }
    grpc::ClientContext context;
    v1::SetNamespacePolicyRequest policy;
    policy.set_namespace_("shared");
    policy.set_task_readable(true);
    v1::NamespacePolicy response;
    ASSERT_TRUE(ks->SetNamespacePolicy(&context, policy, &response).ok());
    stub_ = v1::WrappedServiceProxy::NewStub(*MakeChannel({.target = proxy_.target}));
  }

  // Calls as a task granted `permissions` (by default everything).
  grpc::Status Call(const std::string& service, const std::string& method, const std::string& args,
                    v1::CallResponse* response, int64_t deadline_ms = 0,
                    const std::vector<std::string>& permissions = {"*"}) {
    v1::CallRequest request;
    request.mutable_caller()->set_task_run_id("run_test");
    request.mutable_caller()->set_task_identifier("proxy-test");
    request.mutable_caller()->set_task_version(1);
    for (const auto& p : permissions) request.mutable_caller()->add_permissions(p);
    request.set_service(service);
    request.set_method(method);
    request.set_deadline_ms(deadline_ms);
    request.set_args_json(args);
    auto context = MakeContext(absl::Seconds(20));
    return stub_->Call(context.get(), request, response);
  }

  v1::WrappedServiceProxy::Stub* stub() { return stub_.get(); }
  const std::string& dir() const { return dir_; }
  const std::map<std::string, std::string>& env() const { return env_; }
  const tasker::testing::RunningService& storage() const { return storage_; }
  const tasker::testing::RunningService& keystore() const { return keystore_; }
  const tasker::testing::RunningService& proxy() const { return proxy_; }

 private:
  std::string dir_;
  const std::map<std::string, std::string> env_ = {{"TASKER_MASTER_KEY", kMasterKey}};
  emulators::TestServiceAccount account_;
  std::unique_ptr<emulators::GoogleEmulator> google_;
  tasker::testing::RunningService storage_, keystore_, proxy_;
  std::unique_ptr<v1::WrappedServiceProxy::Stub> stub_;
};

TEST(ProxyBinaryTest, CallsWithKeystoreCredentialsAndNamespaceRules) {
  emulators::GoogleFixtures fixtures;
  fixtures.users = {{"example.com", {"alice@example.com"}}};
  ProxyStack stack;
  ASSERT_NO_FATAL_FAILURE(stack.Start("proxybin", fixtures, {}, {{"shared", "greeting", "hello from the keystore"}}));
  auto call = [&](const std::string& service, const std::string& method, const std::string& args,
                  v1::CallResponse* response) { return stack.Call(service, method, args, response); };
  auto* stub = stack.stub();
  const auto& storage = stack.storage();
  const auto& keystore = stack.keystore();
  const auto& proxy = stack.proxy();
  v1::CallResponse response;
  ASSERT_TRUE(call("gapi", "admin.domains.list", R"([{"customer":"my_customer"}])", &response).ok());
  ASSERT_TRUE(response.has_result_json()) << response.error().message();
  EXPECT_EQ(nlohmann::json::parse(response.result_json())["domains"].size(), 1u);

  ASSERT_TRUE(call("keystore", "get", R"({"namespace":"shared","key":"greeting"})", &response).ok());
  EXPECT_EQ(response.result_json(), R"("hello from the keystore")");
  ASSERT_TRUE(call("keystore", "get", R"({"namespace":"global","key":"GAPI_KEY"})", &response).ok());
  ASSERT_TRUE(response.has_error());
  EXPECT_EQ(response.error().code(), "PERMISSION_DENIED");
  EXPECT_EQ(response.DebugString().find("PRIVATE KEY"), std::string::npos);
  ASSERT_TRUE(call("keystore", "list", R"({"namespace":"shared"})", &response).ok());
  EXPECT_EQ(response.result_json(), R"(["greeting"])") << response.DebugString();

  grpc::Status bad = call("nope", "x", "{}", &response);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("admin-debug"), std::string::npos);

  v1::ListServicesResponse services;
  auto context = MakeContext(absl::Seconds(5));
  ASSERT_TRUE(stub->ListServices(context.get(), v1::ListServicesRequest(), &services).ok());
  EXPECT_EQ(services.services_size(), 7);  // + http
  // Nothing secret in any log.
  const std::string logs = tasker::testing::ReadFileOrEmpty(proxy.log) +
                           tasker::testing::ReadFileOrEmpty(keystore.log) +
                           tasker::testing::ReadFileOrEmpty(storage.log);
  EXPECT_EQ(logs.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(logs.find(kMasterKey), std::string::npos);
}


// The database provider serves the operator's application database: tasks
// read and write its rows, never Tasker's store, which the proxy refuses to
// open as an application database.
TEST(ProxyBinaryTest, DatabaseProviderServesTheApplicationDatabaseOnly) {
  ProxyStack stack;
  ASSERT_NO_FATAL_FAILURE(stack.Start("proxydb", {}, {}, {}));
  v1::CallResponse response;
  auto call = [&](const std::string& method, const std::string& args) {
    response.Clear();
    grpc::Status status = stack.Call("database", method, args, &response);
    EXPECT_TRUE(status.ok()) << method << " " << args << ": " << status.error_message();
    EXPECT_TRUE(response.has_result_json()) << method << " " << args << ": " << response.ShortDebugString();
    return nlohmann::json::parse(response.has_result_json() ? response.result_json() : "null");
  };
  auto inserted = call("insert", R"({"table":"notes","rows":[{"title":"a","body":{"n":1}},{"title":"b"}]})");
  ASSERT_EQ(inserted["count"], 2);
  EXPECT_EQ(inserted["rows"][0]["body"]["n"], 1);
  EXPECT_EQ(call("update", R"({"table":"notes","values":{"title":"B"},
                                "filters":[{"column":"title","op":"eq","value":"b"}]})")["count"],
            1);
  auto selected =
      call("select", R"({"table":"notes","columns":["title"],"order":[{"column":"id","ascending":false}]})");
  EXPECT_EQ(selected["rows"], nlohmann::json::parse(R"([{"title":"B"},{"title":"a"}])"));
  EXPECT_EQ(call("delete", R"({"table":"notes","filters":[{"column":"title","op":"in","value":["a","B"]}]})")["count"],
            2);

  // Tasker's tables are not reachable by name.
  grpc::Status reserved = stack.Call("database", "select", R"({"table":"task_runs"})", &response);
  EXPECT_EQ(reserved.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(reserved.error_message().find("'task_runs' is reserved"), std::string::npos) << reserved.error_message();
  // A missing table is the database's error, for the task to see.
  ASSERT_TRUE(stack.Call("database", "select", R"({"table":"orders"})", &response).ok());
  EXPECT_EQ(response.error().code(), "DATABASE_ERROR");

  // Pointed at Tasker's store, the proxy does not start (exit 2: wrong configuration).
  const std::string log = stack.dir() + "/proxy-refused.log";
  auto refused = tasker::testing::Subprocess::Start(
      {tasker::testing::Runfile("services/proxy/wrapped-service-proxy"), "--listen=127.0.0.1:0",
       "--keystore=" + stack.keystore().target, "--app_database_url=sqlite://" + stack.dir() + "/tasks.db",
       "--insecure_dev"},
      stack.env(), log);
  ASSERT_TRUE(refused.ok()) << refused.status();
  auto exit = (*refused)->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 2) << *exit;
  EXPECT_NE(tasker::testing::ReadFileOrEmpty(log).find("Tasker's own tables"), std::string::npos)
      << tasker::testing::ReadFileOrEmpty(log);

  // Without --app_database_url the provider is there and says so.
  auto bare = StartService("services/proxy/wrapped-service-proxy", "proxy-bare", stack.dir(),
                           {"--keystore=" + stack.keystore().target}, stack.env());
  ASSERT_TRUE(bare.ok()) << bare.status();
  auto bare_stub = v1::WrappedServiceProxy::NewStub(*MakeChannel({.target = bare->target}));
  v1::CallRequest request;
  request.mutable_caller()->set_task_identifier("db-task");
  request.mutable_caller()->add_permissions("database:select");
  request.set_service("database");
  request.set_method("select");
  request.set_args_json(R"({"table":"notes"})");
  auto context = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(bare_stub->Call(context.get(), request, &response).ok());
  EXPECT_EQ(response.error().code(), "NOT_CONFIGURED");
  EXPECT_EQ(response.error().message(), "database: no application database configured (--app_database_url)");
}


// Wrong-typed args for every method of every provider: each call gets an
// answer (a result, an error result, or INVALID_ARGUMENT naming the arg) and
// the proxy process keeps serving. Before, a nlohmann type error inside a
// provider (value()/get<> on a wrong type) terminated the process, and the
// processor retried the call against a crash-looping proxy forever.
TEST(ProxyBinaryTest, WrongTypedArgsNeverKillTheProxy) {
  emulators::GoogleFixtures fixtures;
  fixtures.users = {{"example.com", {"alice@example.com"}}};
  fixtures.messages = {{"alice@example.com", 1}};
  ProxyStack stack;
  // OpenAI and search point at a closed port: a call that passes validation
  // fails fast with a retryable error instead of reaching the internet.
  ASSERT_NO_FATAL_FAILURE(stack.Start(
      "proxyargs", fixtures, {"--openai_base_url=http://127.0.0.1:1", "--websearch_base_url=http://127.0.0.1:1"},
      {{"global", "OPENAI_API_KEY", "sk-test"}, {"global", "WEBSEARCH_API_KEY", "search-key"},
       {"shared", "greeting", "hello"}}));
  auto call = [&](const std::string& service, const std::string& method, const std::string& args,
                  v1::CallResponse* response) { return stack.Call(service, method, args, response, 2000); };
  auto* stub = stack.stub();
  const auto& proxy = stack.proxy();

  // Each documented argument given the wrong type: INVALID_ARGUMENT naming it.
  struct Case {
    const char* service;
    const char* method;
    const char* args;
    const char* names;
  };
  const std::vector<Case> cases = {
      {"admin-debug", "sleep", R"({"ms":"10"})", "args.ms"},
      {"admin-debug", "sleep", R"({"ms":1.5})", "args.ms"},
      {"openai", "models.retrieve", R"({"model":5})", "args.model"},
      {"openai", "models.retrieve", R"({"model":["gpt"]})", "args.model"},
      {"websearch", "search", R"({"query":5})", "args.query"},
      {"websearch", "search", R"({"query":"x","limit":"5"})", "args.limit"},
      {"database", "select", R"({"table":5})", "args.table"},
      {"database", "select", R"({"table":"notes","limit":"x"})", "args.limit"},
      {"database", "select", R"({"table":"notes","offset":[1]})", "args.offset"},
      {"database", "select", R"({"table":"notes","columns":{"a":1}})", "args.columns"},
      {"database", "select", R"({"table":"notes","filters":[{"column":"id","op":"eq","value":1},{"column":"id"}]})",
       "args.filters[1].op"},
      {"database", "select", R"({"table":"notes","order":[{"column":5}]})", "args.order[0].column"},
      {"database", "insert", R"({"table":"notes","rows":"x"})", "args.rows"},
      {"database", "update", R"({"table":"notes","values":5,"filters":[{"column":"id","op":"eq","value":1}]})",
       "args.values"},
      {"database", "update", R"({"table":"notes","values":{"title":"x"}})", "args.filters"},
      {"database", "delete", R"({"table":"notes","filters":{"column":"id"}})", "args.filters"},
      {"database", "upsert", R"({"table":"notes","rows":{"id":1},"onConflict":5})", "args.onConflict"},
      {"keystore", "get", R"({"namespace":5,"key":"greeting"})", "args.namespace"},
      {"keystore", "has", R"({"namespace":"shared","key":[1]})", "args.key"},
      {"keystore", "list", R"({"namespace":{"x":null}})", "args.namespace"},
      {"keystore", "set", R"({"namespace":"shared","key":"k","value":5})", "args.value"},
      {"gapi", "admin.domains.list", R"({"customer":[1]})", "args.customer"},
      {"gapi", "admin.users.list", R"({"domain":{"a":1}})", "args.domain"},
      {"gapi", "admin.users.list", R"({"domain":"example.com","maxResults":[{}]})", "args.maxResults"},
      {"gapi", "gmail.users.messages.list", R"({"q":{"x":1}})", "args.q"},
      {"gapi", "gmail.users.messages.list", R"({"userId":[]})", "args.userId"},
      {"gapi", "gmail.users.messages.get", R"({"id":{}})", "args.id"},
      {"gapi", "gmail.users.messages.get", R"({"id":"1","format":{"a":[]}})", "args.format"},
      {"gapi", "request", R"({"path":5,"scopes":["s"]})", "args.path"},
      {"gapi", "request", R"({"path":"/x","scopes":["s"],"query":"a=b"})", "args.query"},
      {"gapi", "request", R"({"path":"/x","scopes":["s"],"query":{"k":{"n":1}}})", "args.query.k"},
      {"gapi", "request", R"({"path":"/x","scopes":["s"],"baseUrl":5})", "args.baseUrl"},
      {"gapi", "request", R"({"path":"/x","scopes":["s"],"httpMethod":5})", "args.httpMethod"},
      {"gapi", "request", R"({"path":"/x","scopes":["s"],"subject":[1]})", "args.subject"},
  };
  for (const auto& c : cases) {
    v1::CallResponse response;
    grpc::Status status = call(c.service, c.method, c.args, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.service << "." << c.method << " " << c.args << ": " << status.error_message() << " "
        << response.ShortDebugString();
    EXPECT_NE(status.error_message().find(c.names), std::string::npos)
        << c.service << "." << c.method << " " << c.args << ": " << status.error_message();
    ASSERT_TRUE(proxy.process->running()) << "the proxy died on " << c.service << "." << c.method << " " << c.args;
  }

  // Every method, every argument name any provider reads, garbage of every
  // JSON type, alone and all at once: an answer every time, never a dead proxy.
  const std::vector<std::string> names = {
      "ms", "model", "messages", "input", "query", "limit", "pageToken", "taskIdentifier", "status", "id",
      "taskRunId", "identifier", "version", "namespace", "key", "value", "customer", "domain", "maxResults",
      "orderBy", "userId", "q", "labelIds", "format", "metadataHeaders", "path", "scopes", "baseUrl",
      "httpMethod", "subject", "body", "table", "columns", "filters", "order", "offset", "rows", "values",
      "onConflict"};
  const std::vector<std::string> garbage = {"42", "-1", "1.5", "true", "null", "[]", R"([1,"a",null,{}])", "{}",
                                            R"({"a":{"b":[null,{"c":[[1]]}]}})", R"("")"};
  const std::vector<std::string> whole_args = {"42", R"("text")", "true", "[]", "[42]", R"([[{}]])", "[null]", "{}",
                                               R"([{"a":1},2])"};
  v1::ListServicesResponse services;
  {
    auto context = MakeContext(absl::Seconds(5));
    ASSERT_TRUE(stub->ListServices(context.get(), v1::ListServicesRequest(), &services).ok());
  }
  ASSERT_EQ(services.services_size(), 7);
  int answered = 0;
  for (const auto& service : services.services()) {
    for (const auto& method : service.methods()) {
      std::vector<std::string> args_list = whole_args;
      for (const auto& value : garbage) {
        std::string all = "{";
        for (const auto& name : names) {
          if (all.size() > 1) all += ",";
          all += absl::StrCat("\"", name, "\":", value);
          args_list.push_back(absl::StrCat("{\"", name, "\":", value, "}"));
        }
        args_list.push_back(all + "}");
      }
      for (const auto& args : args_list) {
        v1::CallResponse response;
        grpc::Status status = call(service.name(), method, args, &response);
        ASSERT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
            << service.name() << "." << method << " " << args << ": " << status.error_code() << " "
            << status.error_message();
        if (!status.ok()) EXPECT_NE(status.error_message().find("args"), std::string::npos) << status.error_message();
        ++answered;
      }
    }
  }
  EXPECT_GT(answered, 1000);
  ASSERT_TRUE(proxy.process->running());
  v1::CallResponse response;
  ASSERT_TRUE(call("gapi", "admin.domains.list", "{}", &response).ok());
  EXPECT_TRUE(response.has_result_json()) << response.error().message();
}


// The keystore provider's old method names with positional args, beside
// today's: the same grants, the operator's switch, the secrets namespace out
// of reach.
TEST(ProxyBinaryTest, KeystoreOldMethodNamesWithPositionalArgs) {
  ProxyStack stack;
  ASSERT_NO_FATAL_FAILURE(stack.Start("proxyks", {}, {},
                                      {{"shared", "greeting", "hello"}, {"private", "note", "not for tasks"}}));
  v1::CallResponse response;
  const std::vector<std::string> rw = {"keystore:write:shared", "keystore:read:*"};
  auto result = [&](const std::string& method, const std::string& args,
                    const std::vector<std::string>& grants) -> nlohmann::json {
    response.Clear();
    grpc::Status status = stack.Call("keystore", method, args, &response, 0, grants);
    EXPECT_TRUE(status.ok()) << method << " " << args << ": " << status.error_message();
    EXPECT_TRUE(response.has_result_json()) << method << " " << args << ": " << response.ShortDebugString();
    return nlohmann::json::parse(response.has_result_json() ? response.result_json() : "null");
  };
  EXPECT_EQ(result("getKey", R"(["shared","greeting"])", rw), "hello");
  EXPECT_EQ(result("getKey", R"({"namespace":"shared","key":"greeting"})", rw), "hello");
  EXPECT_TRUE(result("getKey", R"(["shared","absent"])", rw).is_null());  // null, not an error
  EXPECT_EQ(result("setKey", R"(["shared","k2","v2"])", rw), true);
  EXPECT_EQ(result("getKey", R"(["shared","k2"])", rw), "v2");
  EXPECT_EQ(result("hasKey", R"(["shared","k2"])", rw), true);
  EXPECT_EQ(result("hasKey", R"(["shared","nope"])", rw), false);
  EXPECT_EQ(result("listKeys", R"(["shared"])", rw), nlohmann::json::parse(R"(["greeting","k2"])"));
  EXPECT_EQ(result("listKeys", R"("shared")", rw), nlohmann::json::parse(R"(["greeting","k2"])"));
  // Only the namespaces this task may read: task-readable and granted.
  EXPECT_EQ(result("listNamespaces", "[]", {"keystore:read:*"}), nlohmann::json::parse(R"(["shared"])"));
  EXPECT_EQ(result("listNamespaces", "null", {"*"}), nlohmann::json::parse(R"(["shared"])"));
  EXPECT_EQ(result("listNamespaces", "[]", {"keystore:read:other"}), nlohmann::json::array());
  const nlohmann::json time = result("getServerTime", "[]", {"keystore:read:other"});
  EXPECT_EQ(time["source"], "keystore");
  absl::Time parsed;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, time["timestamp"].get<std::string>(), &parsed, &error))
      << time.dump() << " " << error;
  EXPECT_LT(absl::AbsDuration(absl::Now() - parsed), absl::Minutes(1));

  // Grants and the switch apply as for today's methods.
  auto denied = [&](const std::string& method, const std::string& args, const std::vector<std::string>& grants,
                    const std::string& message) {
    response.Clear();
    ASSERT_TRUE(stack.Call("keystore", method, args, &response, 0, grants).ok());
    EXPECT_EQ(response.error().code(), "PERMISSION_DENIED") << method << " " << args;
    EXPECT_NE(response.error().message().find(message), std::string::npos) << response.error().message();
  };
  denied("setKey", R"(["shared","k3","v"])", {"keystore:read:shared"}, "missing permission 'keystore:write:shared'");
  denied("getKey", R"(["global","GAPI_KEY"])", {"*"}, "holds the providers' credentials");
  denied("getKey", R"(["private","note"])", {"*"}, "is not task-readable");
  denied("listKeys", R"(["shared"])", {"keystore:read:other"}, "missing permission 'keystore:read:shared'");
  EXPECT_EQ(response.DebugString().find("PRIVATE KEY"), std::string::npos);

  // Bad args name the argument.
  for (const auto& [method, args, field] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"getKey", R"([5,"k"])", "args[0]: the namespace must be a string"},
           {"getKey", R"(["shared"])", "args[1]: the key is required (getKey(namespace, key))"},
           {"getKey", R"(["shared",""])", "args[1]"},
           {"setKey", R"(["shared","k",5])", "args[2]: the value must be a string"},
           {"setKey", R"(["shared","k"])", "args[2]: the value is required"},
           {"hasKey", R"(["a","b","c"])", "args: hasKey(namespace, key) takes 2 arguments, got 3"},
           {"listKeys", "[]", "args[0]: the namespace is required"},
           {"listNamespaces", R"(["x"])", "args: listNamespaces() takes 0 arguments"},
           {"getKey", R"({"namespace":"shared"})", "args.key: required"}}) {
    grpc::Status status = stack.Call("keystore", method, args, &response, 0, rw);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method << " " << args;
    EXPECT_NE(status.error_message().find(field), std::string::npos) << method << " " << args << ": "
                                                                     << status.error_message();
  }
}

// The binary with a services config, task fetch allowed to loopback, and
// keyless search: each provider against its emulator, through the process.
TEST(ProxyBinaryTest, ConfiguredServicesFetchAndKeylessSearch) {
  emulators::WeatherEmulator weather("weather-secret");
  ASSERT_TRUE(weather.Start());
  emulators::DuckDuckGoEmulator ddg;
  ASSERT_TRUE(ddg.Start());
  const std::string config_dir = tasker::testing::MakeTempDir("proxycfg");
  const std::string config = config_dir + "/services.json";
  std::ofstream(config) << R"({"services": {"weather": {
      "base_url": ")" << weather.base_url() << R"(",
      "auth": {"keystore_key": "WEATHER_KEY", "header": "Authorization", "prefix": "Bearer "},
      "timeout_ms": 10000,
      "methods": {
        "current": {"method": "GET", "path": "/v1/current/{city}", "query": ["units"]},
        "report": {"method": "POST", "path": "/v1/reports", "body": true}}}}})";
  ProxyStack stack;
  ASSERT_NO_FATAL_FAILURE(stack.Start("proxycfg", {},
                                      {"--services_config=" + config, "--http_allow_private",
                                       "--websearch_keyless_base_url=" + ddg.base_url() + "/html/"},
                                      {{"global", "WEATHER_KEY", "weather-secret"}}));
  v1::ListServicesResponse services;
  auto context = MakeContext(absl::Seconds(5));
  ASSERT_TRUE(stack.stub()->ListServices(context.get(), v1::ListServicesRequest(), &services).ok());
  ASSERT_EQ(services.services_size(), 8);
  std::vector<std::string> names;
  for (const auto& s : services.services()) names.push_back(s.name());
  EXPECT_NE(std::find(names.begin(), names.end(), "weather"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "http"), names.end());

  v1::CallResponse response;
  ASSERT_TRUE(stack.Call("weather", "current", R"({"city":"Paris","units":"metric"})", &response, 0,
                         {"weather:current"}).ok());
  ASSERT_TRUE(response.has_result_json()) << response.ShortDebugString();
  EXPECT_EQ(nlohmann::json::parse(response.result_json())["temperature"], 21.5);
  ASSERT_TRUE(stack.Call("weather", "report", R"({"station":"x"})", &response, 0, {"weather:current"}).ok());
  EXPECT_EQ(response.error().code(), "PERMISSION_DENIED");
  ASSERT_TRUE(stack.Call("weather", "report", R"({"station":"x"})", &response, 0, {"weather:*"}).ok());
  EXPECT_EQ(nlohmann::json::parse(response.result_json())["received"]["station"], "x");

  // fetch: a 401 is a result (fetch semantics), the key stays in the keystore.
  ASSERT_TRUE(stack.Call("http", "fetch", nlohmann::json{{"url", weather.base_url() + "/v1/text"}}.dump(), &response, 0,
                         {"http:fetch as url=" + weather.base_url() + "/v1/*"}).ok());
  ASSERT_TRUE(response.has_result_json()) << response.ShortDebugString();
  EXPECT_EQ(nlohmann::json::parse(response.result_json())["status"], 401);
  ASSERT_TRUE(stack.Call("http", "fetch", nlohmann::json{{"url", weather.base_url() + "/other"}}.dump(), &response, 0,
                         {"http:fetch as url=" + weather.base_url() + "/v1/*"}).ok());
  EXPECT_EQ(response.error().code(), "PERMISSION_DENIED");

  // websearch without WEBSEARCH_API_KEY: DuckDuckGo's page.
  ASSERT_TRUE(stack.Call("websearch", "search", R"(["durable tasks"])", &response, 0, {"websearch:search"}).ok());
  ASSERT_TRUE(response.has_result_json()) << response.ShortDebugString();
  const nlohmann::json found = nlohmann::json::parse(response.result_json());
  EXPECT_EQ(found["query"], "durable tasks");
  EXPECT_EQ(found["results"].size(), 3u);
  EXPECT_EQ(ddg.last_query(), "durable tasks");

  const std::string logs = tasker::testing::ReadFileOrEmpty(stack.proxy().log);
  EXPECT_EQ(logs.find("weather-secret"), std::string::npos);
}

// Without --http_allow_private, fetch cannot reach the machine's own
// services; a bad services config stops the proxy at start, naming the key.
TEST(ProxyBinaryTest, PrivateAddressesAndBadServiceConfigs) {
  emulators::WeatherEmulator weather("k");
  ASSERT_TRUE(weather.Start());
  ProxyStack stack;
  ASSERT_NO_FATAL_FAILURE(stack.Start("proxypriv", {}, {}, {}));
  v1::CallResponse response;
  ASSERT_TRUE(stack.Call("http", "fetch", nlohmann::json{{"url", weather.base_url() + "/v1/text"}}.dump(), &response)
                  .ok());
  EXPECT_EQ(response.error().code(), "PERMISSION_DENIED");
  EXPECT_NE(response.error().message().find("--http_allow_private"), std::string::npos) << response.error().message();
  EXPECT_EQ(weather.TotalRequests(), 0);

  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"services":{"gapi":{"base_url":"https://x","methods":{"m":{"path":"/"}}}}})",
            "services.gapi: 'gapi' is a built-in provider"},
           {R"({"services":{"w":{"base_url":"https://x","methods":{"m":{"path":"/a/{id"}}}}})",
            "services.w.methods.m.path: '{' without '}'"},
           {R"({"services":{"w":{"base_url":"https://x","retries":3,"methods":{"m":{"path":"/"}}}}})",
            "services.w.retries: unknown field"},
           {"{not json", "not valid JSON"}}) {
    const std::string config = stack.dir() + "/bad-services.json";
    std::ofstream(config) << text;
    const std::string log = stack.dir() + "/proxy-bad-config.log";
    auto refused = tasker::testing::Subprocess::Start(
        {tasker::testing::Runfile("services/proxy/wrapped-service-proxy"), "--listen=127.0.0.1:0",
         "--keystore=" + stack.keystore().target, "--services_config=" + config, "--insecure_dev"},
        stack.env(), log);
    ASSERT_TRUE(refused.ok()) << refused.status();
    auto exit = (*refused)->Wait(absl::Seconds(20));
    ASSERT_TRUE(exit.has_value());
    EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 2) << *exit;
    const std::string logged = tasker::testing::ReadFileOrEmpty(log);
    EXPECT_NE(logged.find("--services_config"), std::string::npos) << logged;
    EXPECT_NE(logged.find(message), std::string::npos) << logged;
  }
}

}  // namespace
}  // namespace tasker::proxy
