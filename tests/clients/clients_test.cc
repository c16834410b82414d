// Clients generated in other languages call the public API: Node.js
// (@grpc/grpc-js, stubs from the .proto files at load time).
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/stack.h"

namespace tasker::e2e {
namespace {

TEST(ClientsTest, NodeClientPublishesSubmitsAndWatches) {
  auto stack = Stack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  const std::string root = testing::Runfile("proto/tasker/v1/task_service.proto");
  const std::string proto_root = root.substr(0, root.size() - std::string("proto/tasker/v1/task_service.proto").size());
  auto [rc, output] = testing::RunCommand(absl::StrCat(
      "NODE_PATH=/opt/tasker-npm/node_modules /usr/bin/node ", testing::Runfile("tests/clients/task_client.js"), " ",
      (*stack)->executor_target(), " ", proto_root));
  ASSERT_EQ(rc, 0) << output;
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
}

}  // namespace
}  // namespace tasker::e2e
