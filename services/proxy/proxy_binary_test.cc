// The wrapped-service-proxy binary with a real storage service and keystore:
// credentials come from the keystore, task-readable namespaces only.
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/keystore/keystore_service.h"
#include "proto/tasker/v1/keystore.grpc.pb.h"
#include "proto/tasker/v1/proxy.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "tests/emulators/emulator.h"
#include "tests/support/services.h"

namespace tasker::proxy {
namespace {

namespace v1 = ::tasker::v1;
using tasker::testing::StartService;

constexpr char kMasterKey[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

TEST(ProxyBinaryTest, CallsWithKeystoreCredentialsAndNamespaceRules) {
  const std::string dir = tasker::testing::MakeTempDir("proxybin");
  auto account = emulators::MakeTestServiceAccount();
  emulators::GoogleFixtures fixtures;
  fixtures.users = {{"example.com", {"alice@example.com"}}};
  emulators::GoogleEmulator google(account.client_email, account.public_key_pem, "admin@example.com", fixtures);
  ASSERT_TRUE(google.Start());

  auto storage = StartService("services/storage/storage-service", "storage", dir,
                              {"--database_url=sqlite://" + dir + "/tasks.db"});
  ASSERT_TRUE(storage.ok()) << storage.status();
  const std::map<std::string, std::string> env = {{"TASKER_MASTER_KEY", kMasterKey},
                                                  {"TASKER_KEYSTORE_SERVICE_TOKEN", "ks-token"}};
  auto keystore = StartService("services/keystore/keystore", "keystore", dir, {"--storage=" + storage->target}, env);
  ASSERT_TRUE(keystore.ok()) << keystore.status();
  auto proxy = StartService("services/proxy/wrapped-service-proxy", "proxy", dir,
                            {"--storage=" + storage->target, "--keystore=" + keystore->target,
                             "--google_directory_base_url=" + google.base_url(),
                             "--google_gmail_base_url=" + google.base_url()},
                            env);
  ASSERT_TRUE(proxy.ok()) << proxy.status();

  auto ks = v1::Keystore::NewStub(*MakeChannel({.target = keystore->target}));
  auto set = [&](const std::string& ns, const std::string& key, const std::string& value) {
    grpc::ClientContext context;
    context.AddMetadata(keystore::kServiceTokenHeader, "ks-token");
    v1::SetKeyRequest request;
    request.set_namespace_(ns);
    request.set_key(key);
    request.set_value(value);
    v1::SetKeyResponse response;
    ASSERT_TRUE(ks->SetKey(&context, request, &response).ok());
  };
  set("global", "GAPI_KEY", account.KeyJson(google.token_url()));
  set("global", "GAPI_ADMIN_EMAIL", "admin@example.com");
  set("shared", "greeting", "hello from the keystore");
  {
    grpc::ClientContext context;
    context.AddMetadata(keystore::kServiceTokenHeader, "ks-token");
    v1::SetNamespacePolicyRequest policy;
    policy.set_namespace_("shared");
    policy.set_task_readable(true);
    v1::NamespacePolicy response;
    ASSERT_TRUE(ks->SetNamespacePolicy(&context, policy, &response).ok());
  }

  auto stub = v1::WrappedServiceProxy::NewStub(*MakeChannel({.target = proxy->target}));
  auto call = [&](const std::string& service, const std::string& method, const std::string& args,
                  v1::CallResponse* response) {
    v1::CallRequest request;
    request.set_service(service);
    request.set_method(method);
    request.set_args_json(args);
    auto context = MakeContext(absl::Seconds(20));
    return stub->Call(context.get(), request, response);
  };
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
  EXPECT_EQ(services.services_size(), 6);
  // Nothing secret in any log.
  const std::string logs = tasker::testing::ReadFileOrEmpty(proxy->log) +
                           tasker::testing::ReadFileOrEmpty(keystore->log) +
                           tasker::testing::ReadFileOrEmpty(storage->log);
  EXPECT_EQ(logs.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(logs.find(kMasterKey), std::string::npos);
}

}  // namespace
}  // namespace tasker::proxy
