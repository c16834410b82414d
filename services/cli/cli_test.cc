// The tasker CLI against a running stack.
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/stack.h"

namespace tasker::e2e {
namespace {

TEST(CliTest, PublishSubmitWaitGetListCancel) {
  auto stack = Stack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  const std::string cli = absl::StrCat(testing::Runfile("services/cli/tasker"), " --target=",
                                       (*stack)->executor_target());
  auto run = [&](const std::string& args) { return testing::RunCommand(absl::StrCat(cli, " ", args)); };

  auto [rc, out] = run("publish gmail-search " + testing::Runfile("deploy/examples/gmail-search.js") +
                       " --permissions='gapi:admin.domains.list,gapi:admin.users.list,gapi:gmail.* as subject=*'");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out)["version"], "1");  // int64 prints as a JSON string

  auto [wait_rc, waited] = run("submit gmail-search '{\"samplesPerUser\":1}' --wait --idempotency_key=cli-1");
  ASSERT_EQ(wait_rc, 0) << waited;
  auto finished = nlohmann::json::parse(waited);
  EXPECT_EQ(finished["status"], "RUN_STATUS_COMPLETED");
  EXPECT_EQ(finished["result"]["counts"]["users"], 6);

  auto [get_rc, got] = run(absl::StrCat("get ", finished["id"].get<std::string>()));
  ASSERT_EQ(get_rc, 0) << got;
  EXPECT_GT(nlohmann::json::parse(got)["stackRuns"].size(), 5u);
  // Public fields only (TaskApi's PublicView).
  for (const char* internal : {"leaseOwner", "leaseExpiresAt", "fencingToken", "replyTo"}) {
    EXPECT_EQ(got.find(internal), std::string::npos) << internal << " in " << got;
  }
  // The same submit again is the same run; with another input, refused.
  auto [again_rc, again] = run("submit gmail-search '{\"samplesPerUser\":1}' --idempotency_key=cli-1");
  ASSERT_EQ(again_rc, 0) << again;
  EXPECT_EQ(nlohmann::json::parse(again)["id"], finished["id"]);
  auto [other_rc, other] = run("submit gmail-search '{\"samplesPerUser\":2}' --idempotency_key=cli-1");
  EXPECT_EQ(other_rc, 1);
  EXPECT_NE(other.find("ALREADY_EXISTS"), std::string::npos) << other;
  EXPECT_NE(other.find("idempotency_key 'cli-1'"), std::string::npos) << other;

  auto [list_rc, listed] = run("runs --status=COMPLETED");
  ASSERT_EQ(list_rc, 0) << listed;
  EXPECT_EQ(nlohmann::json::parse(listed)["runs"].size(), 1u);

  auto [bad_rc, bad] = run("submit gmail-search '{not json'");
  EXPECT_EQ(bad_rc, 2);
  EXPECT_NE(bad.find("not valid JSON"), std::string::npos) << bad;
  auto [missing_rc, missing] = run("get run_nope");
  EXPECT_EQ(missing_rc, 1);
  EXPECT_NE(missing.find("NOT_FOUND"), std::string::npos) << missing;
  auto [cancel_rc, cancelled] = run(absl::StrCat("cancel ", finished["id"].get<std::string>()));
  EXPECT_EQ(cancel_rc, 1);
  EXPECT_NE(cancelled.find("FAILED_PRECONDITION"), std::string::npos) << cancelled;

  // A run still waiting on a slow call is cancelled.
  const std::string slow_file = testing::MakeTempDir("cli") + "/slow.js";
  std::ofstream(slow_file) << "await __callHostTool__('admin-debug', 'sleep', {ms: 3000}); return 1;";
  auto [slow_rc, slow] = run("publish slow " + slow_file + " --permissions=admin-debug:sleep");
  ASSERT_EQ(slow_rc, 0) << slow;
  // Undeclared, under this stack's development default: granted everything, with a warning.
  auto [dev_rc, dev] = run("publish undeclared " + slow_file);
  EXPECT_EQ(dev_rc, 0) << dev;
  EXPECT_NE(dev.find("tasker: warning: 'undeclared' declares no permissions"), std::string::npos) << dev;
  auto [submit_rc, submitted] = run("submit slow");
  ASSERT_EQ(submit_rc, 0) << submitted;
  const std::string slow_id = nlohmann::json::parse(submitted)["id"];
  auto [slow_cancel_rc, slow_cancelled] = run(absl::StrCat("cancel ", slow_id, " 'no longer needed'"));
  EXPECT_EQ(slow_cancel_rc, 0) << slow_cancelled;
  EXPECT_NE(slow_cancelled.find("RUN_STATUS_CANCELLED"), std::string::npos) << slow_cancelled;
  EXPECT_NE(slow_cancelled.find("no longer needed"), std::string::npos) << slow_cancelled;
  auto ended = (*stack)->Wait(slow_id, absl::Seconds(10));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->status(), v1::RUN_STATUS_CANCELLED);
}

TEST(CliTest, ATokenAndCertificatesAgainstASecureStack) {
  StackOptions options;
  options.secure = true;
  options.mtls = true;
  auto stack = Stack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  const std::string dir = testing::MakeTempDir("cli-secure");
  std::ofstream(dir + "/token") << (*stack)->token("client") << "\n";
  std::ofstream(dir + "/echo.js") << "return await __callHostTool__('admin-debug', 'echo', input);";
  const std::string pki = (*stack)->dir();
  const std::string tls = absl::StrCat(" --tls_ca=", pki, "/ca.crt --tls_cert=", pki, "/tasker.crt --tls_key=", pki,
                                       "/tasker.key");
  const std::string cli = absl::StrCat(testing::Runfile("services/cli/tasker"), " --target=",
                                       (*stack)->executor_target(), tls);
  auto run = [&](const std::string& args) { return testing::RunCommand(absl::StrCat(cli, " ", args, " 2>&1")); };

  // No token: refused; the token from a file: in.
  auto [anon_rc, anon] = run("runs");
  EXPECT_EQ(anon_rc, 1);
  EXPECT_NE(anon.find("UNAUTHENTICATED"), std::string::npos) << anon;
  const std::string authed = " --token_file=" + dir + "/token";
  auto [pub_rc, pub] = run("publish echo " + dir + "/echo.js --permissions=admin-debug:echo" + authed);
  ASSERT_EQ(pub_rc, 0) << pub;
  EXPECT_NE(pub.find("admin-debug:echo"), std::string::npos) << pub;
  auto [wait_rc, waited] = run("submit echo '{\"x\":1}' --wait" + authed);
  ASSERT_EQ(wait_rc, 0) << waited;
  EXPECT_NE(waited.find("RUN_STATUS_COMPLETED"), std::string::npos) << waited;
  // Without the client certificate the handshake fails.
  auto [nocert_rc, nocert] = testing::RunCommand(absl::StrCat(testing::Runfile("services/cli/tasker"), " --target=",
                                                              (*stack)->executor_target(), " --tls_ca=", pki,
                                                              "/ca.crt", authed, " runs 2>&1"));
  EXPECT_EQ(nocert_rc, 1);
  EXPECT_NE(nocert.find("UNAVAILABLE"), std::string::npos) << nocert;
  // A bad permission is refused at publish, naming it.
  auto [bad_rc, bad] = run("publish echo " + dir + "/echo.js --permissions=gapi" + authed);
  EXPECT_EQ(bad_rc, 1);
  EXPECT_NE(bad.find("metadata_json.permissions[0]"), std::string::npos) << bad;
}

}  // namespace
}  // namespace tasker::e2e
