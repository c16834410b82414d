// Clients generated in other languages call the public API: Node.js
// (@grpc/grpc-js, stubs from the .proto files at load time).
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/stack.h"

namespace tasker::e2e {
namespace {

// The directory the .proto files' import paths start from (in runfiles):
// proto/, so that "tasker/v1/common.proto" resolves.
std::string ProtoRoot() {
  constexpr absl::string_view kProto = "tasker/v1/task_service.proto";
  const std::string path = testing::Runfile(absl::StrCat("proto/", kProto));
  return path.substr(0, path.size() - kProto.size());
}

TEST(ClientsTest, NodeClientPublishesSubmitsAndWatches) {
  auto stack = Stack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  const std::string proto_root = ProtoRoot();
  auto [rc, output] = testing::RunCommand(absl::StrCat(
      "NODE_PATH=/opt/tasker-npm/node_modules /usr/bin/node ", testing::Runfile("tests/clients/task_client.js"), " ",
      (*stack)->executor_target(), " ", proto_root));
  ASSERT_EQ(rc, 0) << proto_root << ": " << output;
  auto result = nlohmann::json::parse(output, nullptr, false);
  ASSERT_FALSE(result.is_discarded()) << output;
  EXPECT_EQ(result["version"], 1);
  EXPECT_EQ(result["result"], nlohmann::json::parse(R"({"hello":"node","z":1,"a":-5})"));
  // Byte for byte as JSON.stringify wrote it in the task: key order kept.
  EXPECT_EQ(result["resultJson"], R"({"hello":"node","z":1,"a":-5})");
  ASSERT_TRUE(result["events"].is_array()) << output;
  ASSERT_FALSE(result["events"].empty()) << output;
  EXPECT_EQ(result["events"].back(), "RUN_STATUS_COMPLETED");
  EXPECT_EQ(result["notFoundCode"], 5);  // NOT_FOUND
  // Resource names, and error details the client can read.
  EXPECT_EQ(result["runName"], absl::StrCat("runs/", result["runId"].get<std::string>()));
  ASSERT_TRUE(result["notFoundDetails"].is_string()) << output;
  std::string details;
  ASSERT_TRUE(absl::Base64Unescape(result["notFoundDetails"].get<std::string>(), &details)) << output;
  EXPECT_NE(details.find("RUN_NOT_FOUND"), std::string::npos) << output;
  EXPECT_NE(details.find("tasker.dev"), std::string::npos) << output;
}

TEST(ClientsTest, NodeClientWithATokenOverMutualTls) {
  StackOptions options;
  options.secure = true;
  options.mtls = true;
  auto stack = Stack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  const std::string proto_root = ProtoRoot();
  const std::string pki = (*stack)->dir();
  const std::string node = absl::StrCat(
      "NODE_NO_WARNINGS=1 NODE_PATH=/opt/tasker-npm/node_modules TASKER_TLS_CA=", pki, "/ca.crt TASKER_TLS_CERT=", pki,
      "/tasker.crt TASKER_TLS_KEY=", pki, "/tasker.key ");
  const std::string client =
      absl::StrCat("/usr/bin/node ", testing::Runfile("tests/clients/task_client.js"), " ",
                   (*stack)->executor_target(), " ", proto_root);
  auto [rc, output] = testing::RunCommand(absl::StrCat(node, "TASKER_TOKEN=", (*stack)->token("client"), " ", client));
  ASSERT_EQ(rc, 0) << proto_root << ": " << output;
  auto result = nlohmann::json::parse(output, nullptr, false);
  ASSERT_FALSE(result.is_discarded()) << output;
  EXPECT_EQ(result["resultJson"], R"({"hello":"node","z":1,"a":-5})");
  // Without the token: UNAUTHENTICATED (16) from the first call.
  auto [anon_rc, anon] = testing::RunCommand(absl::StrCat(node, client, " 2>&1"));
  EXPECT_NE(anon_rc, 0);
  EXPECT_NE(anon.find("UNAUTHENTICATED"), std::string::npos) << anon;
}

}  // namespace
}  // namespace tasker::e2e
