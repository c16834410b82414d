#include "gtest/gtest.h"
#include "runtime/js/engine.h"

namespace tasker::js {
namespace {

TEST(EngineSmoke, SuspendsAndResumes) {
  Limits limits;
  auto out = Start(R"(
    const a = await __callHostTool__('gapi', 'admin.domains.list', {customer: 'x'});
    console.log('got', a);
    const b = await __callHostTool__('gapi', ['admin', 'users', 'list'], [{domain: a.d}]);
    return {a, b, input};
  )", R"({"n":1})", limits);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->kind, Outcome::Kind::kSuspended) << out->error_message;
  ASSERT_EQ(out->calls.size(), 1u);
  EXPECT_EQ(out->calls[0].method, "admin.domains.list");
  EXPECT_EQ(out->calls[0].args_json, R"({"customer":"x"})");
  std::printf("raw %zu stored %zu snapshot %.1fms\n", out->stats.raw_bytes, out->stats.stored_bytes, out->stats.snapshot_ms);
  auto out2 = Resume(out->continuation, {{out->calls[0].call_id, true, R"({"d":"example.com"})"}}, limits);
  ASSERT_TRUE(out2.ok()) << out2.status();
  ASSERT_EQ(out2->kind, Outcome::Kind::kSuspended) << out2->error_message;
  EXPECT_EQ(out2->calls[0].method, "admin.users.list");
  EXPECT_EQ(out2->calls[0].args_json, R"([{"domain":"example.com"}])");
  ASSERT_EQ(out2->logs.size(), 1u);
  auto out3 = Resume(out2->continuation, {{out2->calls[0].call_id, true, "[1,2]"}}, limits);
  ASSERT_TRUE(out3.ok());
  ASSERT_EQ(out3->kind, Outcome::Kind::kCompleted) << out3->error_message;
  EXPECT_EQ(out3->result_json, R"({"a":{"d":"example.com"},"b":[1,2],"input":{"n":1}})");
  std::printf("restore %.1fms run %.1fms\n", out3->stats.restore_ms, out3->stats.run_ms);
}

}  // namespace
}  // namespace tasker::js
