// The trust boundaries, tried as an attacker would, against real processes
// started with credentials (one identity per service, a client, an admin):
// who may call which RPC, what a task may reach, what the public sees, what
// the logs hold, and the whole stack over mutual TLS.
#include <future>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/empty.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tasker/v1/executor.grpc.pb.h"
#include "tasker/v1/keystore.grpc.pb.h"
#include "tasker/v1/proxy.grpc.pb.h"
#include "tasker/v1/stack_processor.grpc.pb.h"
#include "tasker/v1/storage.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "runtime/common/status.h"
#include "tests/e2e/stack.h"
#include "tests/support/certs.h"

namespace tasker::e2e {
namespace {

namespace v1 = ::tasker::v1;

// The status of `method` ("/tasker.v1.Storage/GetTaskRun") called by name
// with an empty request: credentials are checked before any method runs.
grpc::Status CallByName(const ClientConfig& config, const std::string& method) {
  auto channel = MakeChannel(config);
  if (!channel.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, std::string(channel.status().message()));
  grpc::TemplatedGenericStub<google::protobuf::Empty, google::protobuf::Empty> stub(*channel);
  google::protobuf::Empty request, response;
  auto context = MakeContext(absl::Seconds(5));
  std::promise<grpc::Status> done;
  stub.UnaryCall(context.get(), method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();
}

std::vector<std::string> MethodsOf(const std::string& service) {
  const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  std::vector<std::string> out;
  if (descriptor == nullptr) {
    ADD_FAILURE() << "no descriptor for " << service;
    return out;
  }
  for (int i = 0; i < descriptor->method_count(); ++i) {
    out.push_back(absl::StrCat("/", service, "/", descriptor->method(i)->name()));
  }
  return out;
}

nlohmann::json Parse(const std::string& text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << text;
  return json;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    StackOptions options;
    options.secure = true;
    options.app_database_sql = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);";
    auto stack = Stack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack).release();
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }

  ClientConfig As(const std::string& component, const std::string& identity) {
    return stack_->ClientFor(stack_->target(component), identity);
  }

  // Marks a namespace task-readable, as the operator.
  void AdminExpose(const std::string& ns) {
    auto stub = v1::Keystore::NewStub(*MakeChannel(As("keystore", "admin")));
    v1::SetNamespacePolicyRequest request;
    request.set_namespace_(ns);
    request.set_task_readable(true);
    v1::NamespacePolicy response;
    auto context = MakeContext(absl::Seconds(10));
    grpc::Status status = stub->SetNamespacePolicy(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Sets a key as the operator.
  void AdminSetKey(const std::string& ns, const std::string& key, const std::string& value) {
    auto stub = v1::Keystore::NewStub(*MakeChannel(As("keystore", "admin")));
    v1::SetKeyRequest request;
    request.set_namespace_(ns);
    request.set_key(key);
    request.set_value(value);
    v1::SetKeyResponse response;
    auto context = MakeContext(absl::Seconds(10));
    grpc::Status status = stub->SetKey(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  absl::StatusOr<std::string> AdminGetKey(const std::string& ns, const std::string& key) {
    auto stub = v1::Keystore::NewStub(*MakeChannel(As("keystore", "admin")));
    v1::GetKeyRequest request;
    request.set_namespace_(ns);
    request.set_key(key);
    v1::GetKeyResponse response;
    auto context = MakeContext(absl::Seconds(10));
    grpc::Status status = stub->GetKey(context.get(), request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response.value();
  }

  // Publishes `code` with `permissions` (a JSON array, or "" for none
  // declared), runs it, and returns the finished run.
  v1::TaskRun Run(const std::string& name, const std::string& code, const std::string& permissions,
                  const std::string& input = "{}") {
    const std::string metadata = permissions.empty() ? "" : absl::StrCat(R"({"permissions":)", permissions, "}");
    auto published = stack_->Publish(name, code, metadata);
    EXPECT_TRUE(published.ok()) << published.status();
    auto id = stack_->Submit(name, input);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return v1::TaskRun();
    auto run = stack_->Wait(*id, absl::Seconds(60));
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::TaskRun();
  }

  static Stack* stack_;
};

Stack* SecurityTest::stack_ = nullptr;

TEST_F(SecurityTest, InternalRpcsRefuseClientsOtherServicesAndNobody) {
  struct Served {
    std::string component, service;
    std::vector<std::string> allowed;  // identities whose role may call it
  };
  const std::vector<Served> internal = {
      {"storage", "tasker.v1.Storage", {"executor", "processor"}},
      {"executor0", "tasker.v1.Executor", {"processor"}},
      {"processor0", "tasker.v1.StackProcessor", {"executor"}},
      {"proxy", "tasker.v1.WrappedServiceProxy", {"processor"}},
      {"keystore", "tasker.v1.Keystore", {"proxy", "admin"}},
  };
  const std::vector<std::string> identities = {"client", "admin", "executor", "processor", "proxy", "keystore"};
  int checked = 0;
  for (const Served& s : internal) {
    for (const std::string& method : MethodsOf(s.service)) {
      // Nobody, and a token nobody issued.
      ClientConfig none = stack_->ClientFor(stack_->target(s.component));
      EXPECT_EQ(CallByName(none, method).error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
      none.auth_token = "not-a-token-anyone-issued-0000";
      EXPECT_EQ(CallByName(none, method).error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
      for (const std::string& identity : identities) {
        const grpc::Status status = CallByName(As(s.component, identity), method);
        const bool allowed = std::find(s.allowed.begin(), s.allowed.end(), identity) != s.allowed.end();
        // Finer method rules: keystore deletes and policies are the admin's;
        // keystore rows in storage are the keystore's; stats are also the admin's.
        const bool keystore_rows = absl::StrContains(method, "KeystoreEntr");
        const bool admin_only = absl::EndsWith(method, "/DeleteKey") || absl::EndsWith(method, "/SetNamespacePolicy");
        const bool stats = absl::StrContains(method, "Stats") || absl::EndsWith(method, "/ListServices");
        bool expect_allowed = allowed;
        if (keystore_rows) expect_allowed = identity == "keystore";
        if (admin_only) expect_allowed = identity == "admin";
        if (stats && identity == "admin") expect_allowed = true;
        if (expect_allowed) {
          EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
              << method << " as " << identity << ": " << status.error_message();
          EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method << " as " << identity;
        } else {
          EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method << " as " << identity;
          EXPECT_NE(status.error_message().find("requires the role"), std::string::npos) << status.error_message();
          EXPECT_NE(status.error_message().find(absl::StrCat("'", identity, "-1'")), std::string::npos)
              << status.error_message();
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 200);
  // The public API is not an internal service's to call either.
  EXPECT_EQ(CallByName(As("executor0", "processor"), "/tasker.v1.TaskService/ListRuns").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(SecurityTest, PublicRpcsNeedAClientOrAdminToken) {
  for (const std::string& method : MethodsOf("tasker.v1.TaskService")) {
    EXPECT_EQ(CallByName(stack_->ClientFor(stack_->executor_target()), method).error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << method;
    const grpc::Status internal = CallByName(As("executor0", "executor"), method);
    EXPECT_EQ(internal.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
    EXPECT_NE(internal.error_message().find("requires the role client or admin"), std::string::npos)
        << internal.error_message();
    for (const char* identity : {"client", "admin"}) {
      const grpc::Status status = CallByName(As("executor0", identity), method);
      EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
      EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method << ": " << status.error_message();
    }
  }
  // The HTTP API: 401 without a token, 403 for an internal identity, 200 for a client.
  httplib::Client http("127.0.0.1", stack_->http_port());
  auto anonymous = http.Get("/functions/v1/tasks");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(Parse(anonymous->body)["error"]["code"], "UNAUTHENTICATED");
  auto internal = http.Get("/functions/v1/tasks", {{"Authorization", "Bearer " + stack_->token("proxy")}});
  ASSERT_TRUE(internal);
  EXPECT_EQ(internal->status, 403);
  EXPECT_NE(internal->body.find("requires the role client or admin"), std::string::npos) << internal->body;
  auto client = http.Get("/functions/v1/tasks", {{"Authorization", "Bearer " + stack_->token("client")}});
  ASSERT_TRUE(client);
  EXPECT_EQ(client->status, 200) << client->body;
  auto health = http.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  // A direct wrapped-service call reaches every service: admin only.
  const std::string chain = R"({"chain":[{"property":"admin"},{"property":"domains"},{"property":"list","args":[{}]}]})";
  auto direct = http.Post("/functions/v1/wrappedgapi", {{"Authorization", "Bearer " + stack_->token("client")}}, chain,
                          "application/json");
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->status, 403) << direct->body;
  EXPECT_NE(direct->body.find("requires the role admin"), std::string::npos) << direct->body;
  // The keystore over HTTP: the caller's own token decides; a client's does not open it.
  auto key = http.Get("/task/keystore/GAPI_KEY", {{"Authorization", "Bearer " + stack_->token("client")}});
  ASSERT_TRUE(key);
  EXPECT_EQ(key->status, 403) << key->body;
  EXPECT_EQ(key->body.find("PRIVATE KEY"), std::string::npos);
  auto admin_key = http.Get("/task/keystore/GAPI_ADMIN_EMAIL", {{"Authorization", "Bearer " + stack_->token("admin")}});
  ASSERT_TRUE(admin_key);
  EXPECT_EQ(admin_key->status, 200) << admin_key->body;
}

TEST_F(SecurityTest, ATaskReachesOnlyWhatItsFunctionWasGranted) {
  AdminExpose("app");
  AdminSetKey("app", "greeting", "hello-app-value-7d1e");
  AdminSetKey("app", "counter", "1");
  AdminSetKey("hidden", "k", "not-for-tasks");
  // Each attempt is caught and reported, so one run shows them all.
  const std::string code = R"(
    const attempt = async (service, method, args) => {
      try { return {ok: await __callHostTool__(service, method, args)}; }
      catch (e) { return {code: e.code, message: e.message}; }
    };
    return {
      domains: await attempt('gapi', 'admin.domains.list', {customer: 'my_customer'}),
      users: await attempt('gapi', 'admin.users.list', {domain: 'example.com'}),
      otherMailbox: await attempt('gapi', 'gmail.users.messages.list', {userId: 'user0@example.org'}),
      ownMailbox: await attempt('gapi', 'gmail.users.messages.list', {userId: 'user0@example.com'}),
      impersonate: await attempt('gapi', 'request', {path: '/admin/directory/v1/users', scopes: ['x'],
                                                      subject: 'user1@example.org'}),
      readGranted: await attempt('keystore', 'get', {namespace: 'app', key: 'greeting'}),
      readSecrets: await attempt('keystore', 'get', {namespace: 'global', key: 'GAPI_KEY'}),
      write: await attempt('keystore', 'set', {namespace: 'app', key: 'counter', value: '999'}),
      notExposed: await attempt('keystore', 'get', {namespace: 'hidden', key: 'k'}),
      tasksTable: await attempt('database', 'select', {table: 'task_runs'}),
      oldRunViews: await attempt('database', 'taskRuns.list', {}),
      debug: await attempt('admin-debug', 'echo', {x: 1}),
    };
  )";
  const v1::TaskRun run =
      Run("reach", code,
          R"(["gapi:admin.users.list", "gapi:gmail.* as subject=*@example.com", "keystore:read:app",)"
          R"( "keystore:read:hidden",)"
          R"( "database:select"])");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.error().message();
  const nlohmann::json r = Parse(run.result_json());
  auto denied = [&](const char* what, const std::string& permission) {
    EXPECT_EQ(r[what]["code"], "PERMISSION_DENIED") << what << ": " << r[what].dump();
    EXPECT_NE(r[what].value("message", std::string()).find(permission), std::string::npos) << r[what].dump();
  };
  denied("domains", "missing permission 'gapi:admin.domains.list'");
  EXPECT_TRUE(r["users"].contains("ok")) << r["users"].dump();
  denied("otherMailbox", "as subject=user0@example.org");
  EXPECT_TRUE(r["ownMailbox"].contains("ok")) << r["ownMailbox"].dump();
  denied("impersonate", "missing permission 'gapi:request'");
  EXPECT_EQ(r["readGranted"]["ok"], "hello-app-value-7d1e");
  denied("readSecrets", "holds the providers' credentials");
  denied("write", "missing permission 'keystore:write:app'");
  denied("notExposed", "namespace 'hidden' is not task-readable");
  EXPECT_NE(r["tasksTable"].value("message", std::string()).find("task_runs"), std::string::npos)
      << r["tasksTable"];
  EXPECT_FALSE(r["tasksTable"].contains("ok"));
  EXPECT_FALSE(r["oldRunViews"].contains("ok"));
  denied("debug", "missing permission 'admin-debug:echo'");
  // Nothing changed and Google was never asked on the task's behalf.
  EXPECT_EQ(*AdminGetKey("app", "counter"), "1");
  EXPECT_EQ(stack_->google()->Count("GET /admin/directory/v1/customer/my_customer/domains"), 0);
  EXPECT_EQ(stack_->google()->Count("GET /gmail/v1/users/user0@example.org/messages"), 0);
  // Every denial is audited with the task's identity.
  const std::string logs = stack_->Logs();
  EXPECT_NE(logs.find(R"("event":"permission_denied","identity":"task reach v1 run )"), std::string::npos);

  // The public view of the run shows the value the task read as redacted.
  v1::GetRunRequest get;
  get.set_name(run.id());
  v1::GetRunResponse response;
  auto context = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(stack_->api()->GetRun(context.get(), get, &response).ok());
  const std::string shown = ProtoToJson(response);
  EXPECT_NE(shown.find("[redacted]"), std::string::npos);
  EXPECT_EQ(shown.find("lease"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("fencing"), std::string::npos) << shown;
}

TEST_F(SecurityTest, WritesNeedAWriteGrantAndUndeclaredFunctionsReachNothing) {
  AdminExpose("scratch");
  const v1::TaskRun writer = Run("writer", R"(
    await __callHostTool__('keystore', 'set', {namespace: 'scratch', key: 'k', value: 'written-by-task'});
    return await __callHostTool__('keystore', 'get', {namespace: 'scratch', key: 'k'});
  )", R"(["keystore:write:scratch"])");
  ASSERT_EQ(writer.status(), v1::RUN_STATUS_COMPLETED) << writer.error().message();
  EXPECT_EQ(*AdminGetKey("scratch", "k"), "written-by-task");
  EXPECT_NE(stack_->Logs().find(R"("event":"keystore_write","identity":"proxy-1 for task writer v1 run )"),
            std::string::npos);

  // The executors here grant undeclared functions nothing (--default_permissions=none).
  const v1::TaskRun undeclared =
      Run("undeclared", "return await __callHostTool__('admin-debug', 'echo', {x: 1});", "");
  EXPECT_EQ(undeclared.status(), v1::RUN_STATUS_FAILED);
  EXPECT_NE(undeclared.error().message().find("declares no permissions"), std::string::npos)
      << undeclared.error().message();

  // A permission that does not parse is refused at publish, naming it.
  auto bad = stack_->Publish("bad-grants", "return 1;", R"({"permissions":["gapi:*", "keystore:delete:x"]})");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("metadata_json.permissions[1]"), std::string::npos) << bad.status();
}

TEST_F(SecurityTest, IdempotencyKeysCannotBeReusedForAnotherInput) {
  ASSERT_TRUE(stack_->Publish("idem", "return input;", R"({"permissions":[]})").ok());
  auto first = stack_->Submit("idem", R"({"n":1})", "order-42");
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = stack_->Submit("idem", R"({"n":1})", "order-42");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *first);
  auto other = stack_->Submit("idem", R"({"n":2})", "order-42");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(other.status().message().find("order-42"), std::string::npos) << other.status();
}

TEST_F(SecurityTest, NoSecretReachesALogOrAResponse) {
  // A full run through every provider kind a secret feeds: gapi (the service
  // account's private key), the keystore, then everything printed anywhere.
  const std::string code = R"(
    const users = await __callHostTool__('gapi', 'admin.users.list', {domain: 'example.com'});
    const secret = await __callHostTool__('keystore', 'get', {namespace: 'app', key: 'api'});
    console.log('got', users.users.length, 'users');
    return {users: users.users.length, secretLength: secret.length};
  )";
  AdminExpose("app");
  AdminSetKey("app", "api", "sk-live-SEEDED-SECRET-3c9a7f");
  const v1::TaskRun run = Run("secrets", code, R"(["gapi:admin.users.list", "keystore:read:app"])");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.error().message();
  // Everything the public sees of the run, through gRPC and HTTP.
  v1::GetRunRequest get;
  get.set_name(run.id());
  v1::GetRunResponse response;
  auto context = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(stack_->api()->GetRun(context.get(), get, &response).ok());
  httplib::Client http("127.0.0.1", stack_->http_port());
  auto status = http.Get("/task/status/" + run.id(), {{"Authorization", "Bearer " + stack_->token("client")}});
  ASSERT_TRUE(status);
  const std::string seen = ProtoToJson(response) + status->body + stack_->Logs();
  auto key = AdminGetKey("global", "GAPI_KEY");
  ASSERT_TRUE(key.ok()) << key.status();
  const std::string private_key = Parse(*key)["private_key"];
  ASSERT_GT(private_key.size(), 100u);
  // The PEM body, line by line (a log could hold any part of it).
  for (absl::string_view line : absl::StrSplit(private_key, '\n')) {
    if (line.size() < 40) continue;
    EXPECT_EQ(seen.find(std::string(line)), std::string::npos) << "a line of the service account key leaked";
  }
  EXPECT_EQ(seen.find("sk-live-SEEDED-SECRET-3c9a7f"), std::string::npos);
  for (const char* identity : {"client", "admin", "executor", "processor", "proxy", "keystore"}) {
    EXPECT_EQ(seen.find(stack_->token(identity)), std::string::npos) << identity << "'s token leaked";
  }
  // And the audit trail is there, naming identities.
  EXPECT_NE(seen.find(R"("event":"publish","identity":"client-1","task":"secrets")"), std::string::npos);
  EXPECT_NE(seen.find(R"("event":"keystore_write","identity":"admin-1")"), std::string::npos);
}

TEST_F(SecurityTest, CancelIsAudited) {
  ASSERT_TRUE(stack_->Publish("sleeper", "await __callHostTool__('admin-debug', 'sleep', {ms: 20000}); return 1;",
                              R"({"permissions":["admin-debug:sleep"]})")
                  .ok());
  auto id = stack_->Submit("sleeper", "{}");
  ASSERT_TRUE(id.ok());
  v1::CancelRunRequest cancel;
  cancel.set_name(*id);
  v1::TaskRun cancelled;
  auto context = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(stack_->api()->CancelRun(context.get(), cancel, &cancelled).ok());
  EXPECT_NE(stack_->Logs().find(absl::StrCat(R"("event":"cancel","identity":"client-1","run_id":")", *id)),
            std::string::npos);
}

TEST(SecurityMtlsTest, TheWholeStackOverMutualTlsAndStrangersAreRefused) {
  StackOptions options;
  options.secure = true;
  options.mtls = true;
  auto stack = Stack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  // End to end: executor -> storage, processor -> proxy -> keystore, pushes.
  ASSERT_TRUE((*stack)
                  ->Publish("tls", "return (await __callHostTool__('gapi', 'admin.users.list', {domain: 'example.com'}))"
                                   ".users.length;",
                            R"({"permissions":["gapi:admin.users.list"]})")
                  .ok());
  auto id = (*stack)->Submit("tls", "{}");
  ASSERT_TRUE(id.ok()) << id.status();
  auto run = (*stack)->Wait(*id, absl::Seconds(60));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), v1::RUN_STATUS_COMPLETED) << run->error().message();
  EXPECT_EQ(run->result_json(), "3");
  EXPECT_NE((*stack)->Logs().find(R"("tls":"mutual")"), std::string::npos);
  // Strangers: plaintext, no client certificate, a certificate from another CA.
  auto pki_dir = (*stack)->dir();
  const ClientConfig ours = (*stack)->ClientFor((*stack)->executor_target());
  for (const std::string& component : {"executor0", "storage", "keystore", "proxy", "processor0"}) {
    const std::string target = (*stack)->target(component);
    ClientConfig plaintext{.target = target, .auth_token = (*stack)->token("admin")};
    ClientConfig no_cert{.target = target, .auth_token = (*stack)->token("admin"), .tls = {.ca = ours.tls.ca}};
    ClientConfig rogue = no_cert;
    rogue.tls.cert_chain = testing::ReadFileOrEmpty(pki_dir + "/rogue.crt");
    rogue.tls.private_key = testing::ReadFileOrEmpty(pki_dir + "/rogue.key");
    for (const ClientConfig* config : {&plaintext, &no_cert, &rogue}) {
      EXPECT_EQ(CallByName(*config, "/grpc.health.v1.Health/Check").error_code(), grpc::StatusCode::UNAVAILABLE)
          << component;
    }
    // Our certificate with the admin's token: through the handshake.
    const ClientConfig admin = (*stack)->ClientFor(target, "admin");
    EXPECT_NE(CallByName(admin, "/grpc.health.v1.Health/Check").error_code(), grpc::StatusCode::UNAVAILABLE)
        << component;
  }
}

}  // namespace
}  // namespace tasker::e2e
